"""Camera control (issue 26): does a post-trained world model follow a requested camera path?

    OMP_NUM_THREADS=1 nohup .venv/bin/python benchmarks/posttrain_camera.py > /tmp/pc.log &

1. Twins filmed by moving cameras: static-looking (tower) and dynamic (collision, dominoes, ramp)
   scenes, camera moves orbit / pan / dolly / truck / crane at speeds 0.6-1.4x, 17 frames at 64x64
   and 10 fps, exact K and per-frame world-to-camera. Training episodes from seeds 0..N-1; held-out
   ones from seeds 1000+ (new scenes, new paths, new speeds).
2. The base: a tiny CV4x8x8 tokenizer and a tiny Video2World DiT trained on the training clips
   *without* cameras (it sees the moving footage, but nothing tells it where the camera goes).
3. `worldsmith posttrain camera` (full fine-tuning, the Plücker input layer zero-initialised) from
   2 seeds.
4. The paper's protocol on the held-out clips (`eval.camera`): pose estimation success, rotation
   error, normalised translation error, Sampson error and motion magnitude for the true videos
   (upper bound), the base without camera input, and the camera-conditioned models (CFG 1 and 2).

Sizes are scaled to a shared 2-core CPU (the issue allows 60 CPU-minutes). Targets: `targets` in
``benchmarks/results/posttrain_camera.json``; the report (table, requested vs recovered paths) is
``benchmarks/results/posttrain_camera.html``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from worldsmith.eval.camera import SCORES, camera_following, recovered_path, summarize
from worldsmith.eval.metrics import psnr
from worldsmith.eval.report import Report
from worldsmith.machine import write_result
from worldsmith.posttrain.camera_recipes import load_camera_world, predict_with_camera, read_camera_clips
from worldsmith.posttrain.recipes import decode_latents
from worldsmith.runs import torch_threads, versions
from worldsmith.sim.camera import CAMERA_MODES
from worldsmith.sim.dataset import write_episode
from worldsmith.sim.episode import make_episode
from worldsmith.video.transforms import to_model

sys.path.insert(0, str(Path(__file__).parent))
from posttrain_action import cli, fit_base  # noqa: E402  (the same base recipe and CLI runner)

RESULTS = Path(__file__).parent / "results" / "posttrain_camera.json"
console = Console()
FRAMES, SIZE = 17, 64
SCENES = ("collision", "tower", "dominoes", "ramp")
MOVES = tuple(m for m in CAMERA_MODES if m != "static")


def render(folder: Path, seeds: range) -> None:
    for i, seed in enumerate(seeds):
        out = folder / f"episode_{seed:06d}"
        if (out / "meta.json").is_file():
            continue
        rng = np.random.default_rng([seed, 26])
        # every move on every scene: episode i = 5a + b films scene (a + b) mod 4 with move b
        scene = SCENES[(i % len(MOVES) + i // len(MOVES)) % len(SCENES)]
        ep = make_episode(scene, seed, frames=FRAMES, size=SIZE, depth=False, masks=False,
                          camera_mode=MOVES[i % len(MOVES)],
                          camera_speed=float(rng.uniform(0.6, 1.4)))  # fmt: skip
        write_episode(ep, out, crf=10)


def train_base(cache: Path, args) -> Path:
    if not (cache / "base" / "model" / "world.json").is_file():
        clips = read_camera_clips(cache / "train", frames=FRAMES, size=(SIZE, SIZE))
        x = torch.stack([to_model(c) for c in clips.frames])  # [N, 3, F, H, W]
        fit_base(cache, x, args.tok_steps, args.base_steps, tokenizer=args.tokenizer)
    return cache / "base" / "model"


def posttrain(cache: Path, base: Path, seed: int, steps: int, batch: int = 8) -> dict:
    out = cache / f"pt_s{seed}_{steps}"
    if (out / "posttrain_metrics.json").is_file():
        return json.loads((out / "posttrain_metrics.json").read_text())
    sets = [f"train.steps={steps}", f"train.batch_size={batch}", "train.lr=1e-3", "train.log_every=50"]
    args = ["posttrain", "camera", "--init", base, "--data", cache / "train", "--out", out,
            "--lora-rank", 0, "--seed", seed] + sum((["--set", s] for s in sets), [])  # fmt: skip
    return cli(args, cache / f"{out.name}.log")


def score(videos, clips) -> list[dict]:
    """Camera following per clip, and PSNR of the generated frames 1.. against the true ones."""
    rows = []
    for v, t, K, E in zip(videos, clips.frames, clips.K, clips.w2c, strict=True):
        p = min(float(psnr(v[1:], t[1:]).mean()), 100.0)  # 100: identical (the true videos)
        rows.append({**camera_following(v.numpy(), K[0].numpy(), E.numpy()), "psnr": p})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path("/tmp/worldsmith-camera-bench"))
    p.add_argument("--train-episodes", type=int, default=60)
    p.add_argument("--test-episodes", type=int, default=20)
    p.add_argument("--tokenizer", type=Path, default=None, help="start from this tokenizer (tiny-cv4x8x8)")
    p.add_argument("--tok-steps", type=int, default=1200)
    p.add_argument("--base-steps", type=int, default=800)
    p.add_argument("--steps", type=int, default=800, help="post-training steps per run")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args()
    cache, t0 = args.cache, time.perf_counter()
    torch.set_num_threads(1)
    render(cache / "train", range(args.train_episodes))
    render(cache / "test", range(1000, 1000 + args.test_episodes))
    console.print(f"rendered in {time.perf_counter() - t0:.0f} s")
    base_dir = train_base(cache, args)
    console.print(f"base ready at {time.perf_counter() - t0:.0f} s")
    batch = min(8, args.train_episodes)
    runs = {s: posttrain(cache, base_dir, s, args.steps, batch) for s in range(args.seeds)}
    console.print(f"post-trained at {time.perf_counter() - t0:.0f} s")

    from worldsmith.diffusion.world import WorldModel

    test = read_camera_clips(cache / "test", frames=FRAMES, size=(SIZE, SIZE))
    given = test.frames[:, :1]
    base = WorldModel.from_pretrained(base_dir)
    rows = {"true videos": score(test.frames, test)}
    with torch_threads(1):
        # The tokenizer's reconstruction of the true video: the most any generated video can show.
        rows["tokenizer reconstruction"] = score(
            decode_latents(base, base.encode_frames(test.frames), given), test
        )
        rows["base, no camera"] = score(predict_with_camera(base, None, given, None, None), test)
        for seed, info in runs.items():
            world, net = load_camera_world(Path(info["model_dir"]))
            for w in (1.0, 2.0):
                pred = predict_with_camera(world, net, given, test.K, test.w2c, guidance=w)
                rows[f"camera, seed {seed}, CFG {w:g}"] = score(pred, test)
    report(args, test, rows, runs, time.perf_counter() - t0)


def _target(target: str, value, reference: str, met) -> dict:
    return {"target": target, "value": value, "reference": reference, "met": bool(met)}


def targets(summ: dict, camera: list[str]) -> list[dict]:
    """The issue's targets on the worst camera-conditioned seed (CFG 1). A ratio to a zero or NaN
    reference is not met: nothing was measured."""
    base, true = summ["base, no camera"], summ["true videos"]
    cam = {k: [summ[n][k] for n in camera] for k in true}
    rot, pose, samp = max(cam["rotation_err_deg"]), min(cam["pose_success"]), max(cam["sampson_px"])
    ratio = [m / true["flow_motion_px"] for m in cam["flow_motion_px"]]
    b = base["flow_motion_px"] / true["flow_motion_px"]
    return [
        _target("rotation error <= 0.5x the base model's (worst seed)", rot,
                f"base {base['rotation_err_deg']:.2f} deg", rot <= 0.5 * base["rotation_err_deg"]),
        _target("pose estimation success >= 2x the base model's (worst seed)", pose,
                f"base {base['pose_success']:.3f}", pose > 0 and pose >= 2 * base["pose_success"]),
        _target("pose estimation success >= 0.8x the true videos'", pose,
                f"true {true['pose_success']:.3f}", pose > 0 and pose >= 0.8 * true["pose_success"]),
        _target("Sampson error <= 1.5x the true videos'", samp,
                f"true {true['sampson_px']:.3f} px", samp <= 1.5 * true["sampson_px"]),
        _target("recovered motion magnitude within 25% of the requested path's (dense flow; every seed)",
                ratio, f"true video {true['flow_motion_px']:.2f} px; base {b:.2f}x",
                all(abs(r - 1) <= 0.25 for r in ratio)),
    ]  # fmt: skip


def report(args, test, rows: dict, runs: dict, seconds: float) -> None:
    summ = {name: summarize(r) for name, r in rows.items()}
    keys = (*SCORES, "psnr")
    table = Table(
        title=f"camera following on {len(test)} held-out clips (1 given frame, 16 generated, 64x64)"
    )
    for c in ("method", *keys):
        table.add_column(c)
    for name, s in summ.items():
        table.add_row(name, *(f"{s[k]:.3f}" for k in keys))
    console.print(table)
    camera = [n for n in summ if n.startswith("camera") and n.endswith("CFG 1")]
    tg = targets(summ, camera)
    for t in tg:
        console.print(f"[{'green' if t['met'] else 'red'}]{'met ' if t['met'] else 'MISS'}[/] {t['target']}: "
                      f"{t['value']} ({t['reference']})")  # fmt: skip
    modes = [fs_meta["camera_mode"] for fs_meta in (_meta(f) for f, _ in test.sources)]
    per_mode = {name: {m: summarize([r for r, mm in zip(rs, modes, strict=True) if mm == m]) for m in MOVES}
                for name, rs in rows.items()}  # fmt: skip
    html = Report("Camera control (issue 26)")
    sec = html.section(
        "Camera following", "Held-out paths and scenes; the Cosmos protocol via eval/geometry.py."
    )
    sec.table([{"method": n, **{k: s[k] for k in keys}} for n, s in summ.items()])
    sec = html.section("Requested vs recovered paths", "Camera centres in the first camera's frame "
                       "(x right, z forward; recovered ones scale-aligned per frame).")  # fmt: skip
    for i in range(min(4, len(test))):
        series = {}
        for name in ("true videos", "base, no camera", camera[0] if camera else "true videos"):
            path = recovered_path(rows[name][i]["pairs"])
            series.setdefault("requested", (path["req_x"], path["req_z"]))
            series[name] = (path["x"], path["z"])
        sec.plot(series, xlabel="x (m)", ylabel="z (m)", title=f"clip {i}: {modes[i]}", caption=modes[i])
    out = {
        "versions": versions(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "seconds": round(seconds, 1),
        "rows": summ,
        "per_mode": per_mode,
        "posttrain": runs,
        "targets": tg,
    }
    if not args.no_save:
        write_result(RESULTS, out)
        html.write(RESULTS.with_suffix(".html"))
    console.print(f"{seconds / 60:.1f} min")


def _meta(folder: str) -> dict:
    from worldsmith.data.episodes import episode_meta

    return episode_meta(folder)


if __name__ == "__main__":
    main()
