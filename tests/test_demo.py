"""The main job, end to end at its --quick size (a few minutes on 2 cores)."""

from __future__ import annotations

import json
import re
import time

import pytest

from worldsmith.cli import main
from worldsmith.demo.report import SECTIONS


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(out), "--quick", "--seed", "3"])
    assert exc.value.code == 0
    return out


def test_run_json(demo_run):
    run = json.loads((demo_run / "run.json").read_text())
    assert run["status"] == "ok" and run["seed"] == 3 and run["wall_time_s"] > 0
    assert set(run["results"]["stages"]) == {
        "sim",
        "curate",
        "tokenizer",
        "world_model",
        "refiner",
        "autoregressive",
        "predict",
        "evaluate",
    }


def test_report_has_every_section(demo_run):
    html = (demo_run / "report.html").read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
    assert len(re.findall(r'src="data:image/gif;base64,', html)) >= 4
    assert "copy last frame" in html and "world model" in html
    headline = html.index("<h2>Physics alignment</h2>")
    assert headline < html.index("<h2>Digital twins</h2>") and headline < html.index("<h2>Guardrails</h2>")
    assert "<summary>settings (" in html and "<summary>decisions per held-out episode (" in html  # folded


def test_evaluation_numbers_are_sane(demo_run):
    ev = json.loads((demo_run / "evaluate" / "done.json").read_text())["result"]["methods"]
    assert set(ev) == {
        "world model",
        "world model without refiner",
        "refiner on copied last latent (no DiT)",
        "autoregressive world model",
        "copy last frame",
        "linear extrapolation",
        "kinematic extrapolation of the true objects (oracle)",
        "copy last latent (decoded)",
        "tokenizer reconstruction (upper bound)",
    }
    for scores in ev.values():
        assert 5 < scores["psnr"] < 60 and 0 <= scores["iou"] <= 1
    # the orderings the report states, not only ranges: the tokenizer's reconstruction of the true
    # future is "the best a model in this latent space can do", and the refiner finishes the
    # decoded prediction (quick demo, seed 3: 22.72 > 22.56 and 20.69 dB; 26.83 > 20.69 dB)
    recon = ev["tokenizer reconstruction (upper bound)"]["psnr"]
    assert (
        recon > ev["copy last latent (decoded)"]["psnr"] and recon > ev["world model without refiner"]["psnr"]
    )
    assert ev["world model"]["psnr"] > ev["world model without refiner"]["psnr"]
    geo = json.loads((demo_run / "evaluate" / "done.json").read_text())["result"]["geometry"]
    assert set(geo) == {"ground truth", "world model", "tokenizer reconstruction"}
    assert geo["ground truth"]["scored_videos"] >= 1 and 0 < geo["ground truth"]["sampson_px"] < 1.0
    guard = json.loads((demo_run / "predict" / "done.json").read_text())["result"]
    assert guard["unsafe_prompt_example_blocked"] is True and guard["prompts_blocked"] == 0


def test_dynamics_table_has_every_method_and_scenario_and_its_orderings(demo_run):
    """The metrics of benchmarks/world_model.py (`eval.dynamics.score`) for every method, overall and
    per scenario, and orderings that must hold whatever the models learnt (quick demo, seed 3):
    copy-last has zero skill over itself and no motion; the kinematic oracle (true masks of the given
    frames) moves things where they go (spatial IoU 0.36 vs 0, skill +0.23); the refiner lifts the
    decoded prediction on pooled PSNR (26.6 vs 21.4 dB)."""
    ev = json.loads((demo_run / "evaluate" / "done.json").read_text())["result"]
    scores = json.loads((demo_run / "evaluate" / "dynamics.json").read_text())
    assert set(ev["dynamics"]) == set(ev["methods"]) and scores["overall"] == ev["dynamics"]
    scenarios = {m["scenario"] for m in json.loads((demo_run / "sim" / "test.json").read_text())}
    assert set(scores["scenarios"]) == scenarios
    assert all(set(by_method) == set(ev["methods"]) for by_method in scores["scenarios"].values())
    o = ev["dynamics"]
    copy, oracle = o["copy last frame"], o["kinematic extrapolation of the true objects (oracle)"]
    assert set(copy["skill_copy"]) == {"1-4", "5-8", "9-12", "1-12"}
    assert all(v == 0 for v in copy["skill_copy"].values()) and copy["spatial_iou"] < 0.05
    assert oracle["spatial_iou"] > copy["spatial_iou"] + 0.1 and oracle["skill_copy"]["1-12"] > 0
    assert o["world model"]["pooled_psnr"] > o["world model without refiner"]["pooled_psnr"]
    # the targets restate these numbers
    targets = {t["target"]: t for t in ev["targets"]}
    assert len(targets) == 7 and all(t["met"] == (t["value"] > t["reference"]) for t in ev["targets"])
    skill = targets["world model skill over copy-last (pooled MSE, frames 1-12) > 0"]
    assert skill["value"] == o["world model"]["skill_copy"]["1-12"]


def test_stages_compose_the_platform_entry_points(demo_run):
    """The data reaches training through curate's shards and manifest, the world model is what
    `train diffusion` writes (latent cache keyed by the tokenizer, which it carries), and the refiner
    and the AR model are what `train refiner` and `train ar` write."""
    import numpy as np

    from worldsmith.data import open_data

    curated = open_data(demo_run / "curate")
    res = {
        k: json.loads((demo_run / k / "done.json").read_text())["result"] for k in ("curate", "world_model")
    }
    assert len(curated) == res["curate"]["clips_kept"] == res["world_model"]["clips"] > 0
    assert res["curate"]["clips_without_caption"] == 0 and res["curate"]["f1"] > 0.8
    index = json.loads((demo_run / "world_model" / "latent_cache" / "index.json").read_text())
    assert index["clips"] == len(curated) and all(index["captions"])
    assert (demo_run / "world_model" / "model" / "tokenizer" / "model.safetensors").read_bytes() == (
        demo_run / "tokenizer" / "tokenizer" / "model.safetensors"
    ).read_bytes()
    assert (demo_run / "refiner" / "refiner_metrics.json").is_file()
    assert (demo_run / "autoregressive" / "ar_metrics.json").is_file()
    # Text2World: one sample per scenario, each a moving, non-blank video, the scenarios' samples distinct
    predict = json.loads((demo_run / "predict" / "done.json").read_text())["result"]
    scenarios = {m["scenario"] for m in json.loads((demo_run / "sim" / "test.json").read_text())}
    assert {r["scenario"] for r in predict["text2world"]} == scenarios
    with np.load(demo_run / "predict" / "text2world.npz") as data:
        videos = data["videos"].astype(np.float32)  # [S, T, H, W, 3]
    assert videos.shape[0] == len(scenarios) and videos.std() > 5
    assert all(np.abs(videos[0] - v).mean() > 1 for v in videos[1:])
    # the AR model's predictions (made in the second process) are real videos, not blanks left by a
    # skipped or blocked step
    with (
        np.load(demo_run / "predict" / "predictions.npz") as data,
        np.load(demo_run / "autoregressive" / "predictions.npz") as ar,
    ):
        assert ar["autoregressive"].shape == data["preds"].shape and ar["autoregressive"].std() > 5


def test_one_seed_scheme_gives_every_use_its_own_seed():
    from worldsmith.demo.context import Context, derive_seed

    ctx = Context(out=None, cfg=None, seed=3)  # type: ignore[arg-type]
    uses = ["tokenizer", "world_model", "refiner", "autoregressive", "sim/footage", "predict/a", "predict/b"]
    seeds = [ctx.seed_for(u) for u in uses]
    assert len(set(seeds)) == len(uses) and all(0 <= s < 2**31 for s in seeds)
    assert seeds == [derive_seed(3, u) for u in uses] and ctx.seed_for("tokenizer") != derive_seed(
        4, "tokenizer"
    )
    # held-out episodes lie above every seed the footage draws (below 2**31)
    assert all(2**31 <= ctx.episode_seed("test", i) < 2**32 for i in range(50))


def test_readme_generate_with_the_demos_world_model_and_refiner(demo_run, tmp_path, capsys):
    """The demo's world model carries its tokenizer: `generate video2world ... --refiner` just works."""
    clip = demo_run / "sim" / "footage.mp4"
    args = ["generate", "video2world", "--video", str(clip), "--cond-frames", "5", "--prompt", "a box falls"]
    args += ["--ckpt", str(demo_run / "world_model" / "model")]
    args += ["--refiner", str(demo_run / "refiner" / "model")]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--steps", "2", "--guard", "none", "--out", str(tmp_path / "v2w")])
    assert exc.value.code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "v2w" / "run.json").read_text())["results"]["refined"] is True


def test_rerun_skips_finished_stages(demo_run, capsys):
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(demo_run), "--quick", "--seed", "3"])
    assert exc.value.code == 0
    assert time.perf_counter() - t0 < 60  # the report is rewritten (31 s under a load of 17 on 2 cores)
    err = capsys.readouterr().err
    assert err.count("done earlier, skipped") == 8


def test_stage_fingerprints_follow_what_each_stage_reads_and_everything_upstream():
    from dataclasses import replace

    from worldsmith.demo import STAGES, DemoConfig, fingerprints
    from worldsmith.demo.config import (
        AutoregressiveSettings,
        RefinerSettings,
        SamplingSettings,
        SimSettings,
        TokenizerSettings,
        WorldModelSettings,
    )

    names = [s.name for s in STAGES]
    base = DemoConfig()
    sections = {f for s in STAGES for f in s.reads}
    assert sections == set(base.__dataclass_fields__)  # every section is read by some stage

    def changed(**kw) -> list[str]:
        new, old = fingerprints(replace(base, **kw), 0), fingerprints(base, 0)
        return [n for n in names if new[n] != old[n]]

    # the AR branch predicts from `sampling.cond_frames`, so it reads the section too
    assert changed(sampling=SamplingSettings(sampler="heun")) == [
        "autoregressive",
        "refiner",
        "predict",
        "evaluate",
    ]
    assert changed(world_model=WorldModelSettings(steps=10)) == [
        "world_model",
        "refiner",
        "predict",
        "evaluate",
    ]
    assert changed(refiner=RefinerSettings(steps=10)) == ["refiner", "predict", "evaluate"]
    assert changed(autoregressive=AutoregressiveSettings(steps=10)) == ["autoregressive", "evaluate"]
    assert changed(tokenizer=TokenizerSettings(steps=10)) == names[2:]  # both tokenizers use its widths
    assert changed(sim=SimSettings(size=32)) == names
    assert changed() == []
    assert [n for n in names if fingerprints(base, 1)[n] != fingerprints(base, 0)[n]] == names  # the seed


def test_demo_config_checks_across_sections():
    from worldsmith.demo import DemoConfig
    from worldsmith.demo.config import RefinerSettings, SamplingSettings
    from worldsmith.errors import ConfigError

    with pytest.raises(ConfigError, match="sampling.cond_frames"):
        DemoConfig(sampling=SamplingSettings(cond_frames=17))
    with pytest.raises(ConfigError, match="refiner.given_frames"):
        DemoConfig(refiner=RefinerSettings(given_frames=9))


def test_a_second_run_reproduces_the_first_to_the_byte(demo_run, tmp_path):
    """Same seed, same settings, a fresh folder, in a process that has already rendered and trained
    (so its global RNG and MuJoCo's state differ): the trained weights and the evaluation come out
    identical. Before `seeded_init` and the lossless footage the DiT and the refiner did not."""
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path / "again"), "--quick", "--seed", "3"])
    assert exc.value.code == 0
    for path in (
        "tokenizer/tokenizer/model.safetensors",
        "world_model/model/dit/model.safetensors",
        "autoregressive/model/model.safetensors",
        "refiner/model/model.safetensors",
        "evaluate/physics_rows.json",
    ):
        assert (tmp_path / "again" / path).read_bytes() == (demo_run / path).read_bytes(), path
