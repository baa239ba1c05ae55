"""The demo's HTML report: one section per stage, built from what the stages wrote to disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from worldsmith import config as config_lib
from worldsmith.demo.context import Context, load_split
from worldsmith.demo.report_physics import label, physics_section
from worldsmith.eval.report import Report, side_by_side

# The headline first (what was built, then physics against the baselines), then the stages in order.
SECTIONS = (
    "Overview",
    "Physics alignment",
    "3D consistency",
    "Digital twins",
    "Curation",
    "Tokenizer",
    "World model",
    "Text2World",
    "Autoregressive world model",
    "Guardrails",
)


def _losses(path: Path) -> tuple[list[int], list[float]]:
    """(steps, losses) logged by the Trainer in metrics.jsonl."""
    if not path.exists():
        return [], []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "loss" in r and "step" in r]
    return [r["step"] for r in rows], [r["loss"] for r in rows]


def write_report(ctx: Context) -> Path:
    cfg, res, out = ctx.cfg, ctx.results, ctx.out
    sim_cfg, n_given = cfg.sim, cfg.sampling.cond_frames
    rep = Report("worldsmith demo: a world model built end to end on a CPU")

    w = res["world_model"]
    minutes = sum(v.get("seconds", 0.0) for v in res.values()) / 60
    sec = rep.section(
        "Overview",
        f"What was built: a diffusion world model (a DiT with {w.get('params', 0):,} parameters, "
        f"{w.get('steps')} steps) in the latent space of a {cfg.tokenizer.preset} tokenizer, trained on "
        f"{res['curate']['clips_kept']} clips curated from simulated footage"
        + (", its predictions finished by a context refiner" if "refiner" in res else "")
        + f", in {minutes:.1f} minutes of stage time on this machine (the stages' times added up: the "
        "autoregressive branch runs beside the others, so the wall time is less). The headline comes "
        "first: how well it predicts "
        "held-out physics against the baselines; then each stage in the order it ran. Every number is "
        "measured in this run.",
    )
    sec.table(
        [{"stage": k, "seconds": v.get("seconds", 0.0)} for k, v in res.items()],
        caption="stage timings",
        fold=True,
    )
    settings = [{"setting": "seed", "value": str(ctx.seed)}] + [
        {"setting": f"{section}.{k}", "value": str(v)}
        for section, values in config_lib.to_dict(cfg).items()
        for k, v in values.items()
    ]
    sec.table(settings, caption="settings", fold=True)

    test, meta = load_split(out, "test")
    ev = res["evaluate"]
    physics_section(rep, ctx, test, meta)
    geo = ev.get("geometry") or {}
    sec = rep.section(
        "3D consistency",
        "Held-out episodes filmed by a moving camera (orbit, dolly): from the last given frame on, SIFT "
        f"matches between frames t and t+{cfg.eval.geometry_gap} "
        f"(contrast threshold {cfg.eval.geometry_contrast:g}), "
        "a RANSAC fundamental matrix, and the mean Sampson error of its "
        f"inliers in pixels of the {sim_cfg.size} px frames (matched on {cfg.eval.geometry_upscale}x bicubic "
        "upscales; a pair with < 15 inliers is not scored). A world model that keeps the scene rigid "
        "scores close to the true videos.",
    )
    if geo:
        truth_err = geo.get("ground truth", {}).get("sampson_px", float("nan"))
        sec.table(
            [{"method": k, **v, "vs ground truth": v["sampson_px"] / truth_err} for k, v in geo.items()],
            caption="mean over moving-camera episodes",
        )
        g_arrays, g_meta = load_split(out, "geometry")
        with np.load(out / "predict" / "predictions_geometry.npz") as data:
            g_preds = data["preds"]
        for i in range(min(2, len(g_meta))):
            truth = g_arrays["frames"][i]
            given = label(truth[:n_given], colour=(40, 200, 40))
            pred_full = np.concatenate([given, label(g_preds[i], colour=(220, 60, 60))])
            m = g_meta[i]
            sec.video(
                side_by_side(truth, pred_full),
                sim_cfg.fps,
                caption=f"{m['scenario']}, {m['camera']} camera: truth | world model",
            )
    else:
        sec.text("No moving-camera episodes in this run (geometry_cameras is empty).")
    sim = res["sim"]
    kinds = ", ".join(f"{n} {k}s" for k, n in sim["transitions"].items())
    sec = rep.section(
        "Digital twins",
        f"Raw training footage: {sim['footage_shots']} shots ({sim['footage_frames']} frames at "
        f"{sim_cfg.size} px, {sim_cfg.fps:g} fps) rendered with MuJoCo, joined by {kinds}, with free camera "
        "moves. Held-out: "
        f"{sim['test_episodes']} episodes with seeds the footage never used, static camera, exact instance "
        "masks for evaluation. Below: one held-out episode per scenario.",
    )
    shown = set()
    for frames, m in zip(test["frames"], meta, strict=True):
        if m["scenario"] in shown:
            continue
        shown.add(m["scenario"])
        sec.video(frames, sim_cfg.fps, caption=f"{m['scenario']}: {m['caption']}")

    c = res["curate"]
    sec = rep.section(
        "Curation",
        "`worldsmith curate` on the raw footage: the "
        f"'{cfg.curate.detector}' shot detector finds the boundaries (scored here against the truth: a cut "
        "counts within 2 frames, a dissolve or fade within half its length), the clip rules cut clips "
        "that hold no transition, then transcode, filters, sidecar captions and semantic de-duplication; "
        "the kept clips go to webdataset shards, which the tokenizer and the world model read.",
    )
    sec.table(
        [
            {
                "true transitions": c["true_transitions"],
                "detected": c["detected_cuts"],
                "precision": c["precision"],
                "recall": c["recall"],
                "F1": c["f1"],
                "detector frames/s": c["detector_fps"],
                "clips": c["clips"],
                "kept (training clips)": c["clips_kept"],
                "duplicates": c["duplicates"],
            }
        ]
    )

    t = res["tokenizer"]
    sec = rep.section(
        "Tokenizer", f"Preset {cfg.tokenizer.preset}, {cfg.tokenizer.steps} steps on the curated clips."
    )
    rows = [{k: v for k, v in t.items() if isinstance(v, (int, float)) and k != "seconds"}]
    sec.table(rows, caption="reconstruction on held-out clips")
    steps, losses = _losses(out / "tokenizer" / "metrics.jsonl")
    if losses:
        sec.plot(
            {"L1": (steps, losses)},
            xlabel="step",
            ylabel="loss",
            logy=True,
            caption="tokenizer training loss",
        )

    sec = rep.section(
        "World model",
        f"A DiT with {w.get('params', 0):,} parameters trained for {w.get('steps')} steps on latents "
        f"{w.get('latent_shape')} (Text2World and Video2World in one model, MiniLM captions).",
    )
    steps, losses = _losses(out / "world_model" / "train" / "metrics.jsonl")
    if losses:
        sec.plot(
            {"EDM": (steps, losses)}, xlabel="step", ylabel="loss", logy=True, caption="DiT training loss"
        )

    _text2world_and_ar(rep, ctx)
    p = res["predict"]
    decisions = json.loads((out / "predict" / "guard.json").read_text())
    sec = rep.section(
        "Guardrails",
        "Every caption passed the prompt pre-guard before any compute; every predicted video passed "
        "the post-guard (video safety classifier, face blur) before it was written.",
    )
    sec.table(
        [
            {
                "held-out episodes": p["episodes"],
                "prompts blocked": p["prompts_blocked"],
                "videos blocked": p["videos_blocked"],
            }
        ],  # fmt: skip
        caption="pre-guard and post-guard",
    )
    sec.table(decisions, caption="decisions per held-out episode", fold=True)
    sec.table(
        [
            {
                "prompt": "a video of a man stabbing a child with a knife",
                "blocked": p["unsafe_prompt_example_blocked"],
                "reason": p["unsafe_prompt_example_reason"],
            }
        ],  # fmt: skip
        caption="an unsafe prompt, for contrast",
    )
    policy = p.get("guard_policy")
    if policy:  # demos run before guard policies existed have none
        relaxed = "; ".join(policy["relaxations"]) or "none"
        sec.table(
            [
                {
                    "preset": policy["preset"],
                    "source": policy["source"],
                    "relaxations": relaxed,
                    "set_by": policy["set_by"] or "-",
                }
            ],
            caption="the guard policy in force",
        )

    return rep.write(out / "report.html")


def _text2world_and_ar(rep: Report, ctx: Context) -> None:
    """The world model's Text2World samples, and the autoregressive world model."""
    res, out, fps = ctx.results, ctx.out, ctx.cfg.sim.fps
    rows = res["predict"].get("text2world") or []
    sec = rep.section(
        "Text2World",
        "The same DiT given no frame, only a held-out episode's caption (`generate text2world`), one "
        f"sample per scenario ({ctx.cfg.sampling.steps} {ctx.cfg.sampling.sampler} steps).",
    )
    if rows:
        with np.load(out / "predict" / "text2world.npz") as data:
            videos = data["videos"]  # [S, T, H, W, 3]
        sec.video(side_by_side(*videos), fps, caption=" | ".join(r["scenario"] for r in rows))
        sec.table([{"scenario": r["scenario"], "prompt": r["prompt"]} for r in rows], caption="prompts")
    a = res.get("autoregressive") or {}
    sec = rep.section(
        "Autoregressive world model",
        "A GPT on the tokens of a discrete (DV) tokenizer, both trained on the curated clips (`tokenizer "
        "train --preset " + ctx.cfg.autoregressive.preset + "`, `train ar`); its Video2World predictions "
        "(`generate ar-video2world`, top-p sampling) are the 'autoregressive world model' row of the physics "
        "table.",
    )
    if a.get("trained"):
        keys = ("params", "steps", "clips", "token_grid", "loss_first", "loss_last", "train_seconds")
        sec.table([{k: a.get(k) for k in keys}], caption="the GPT")
        steps, losses = _losses(out / "autoregressive" / "train" / "metrics.jsonl")
        if losses:
            sec.plot(
                {"cross-entropy": (steps, losses)}, xlabel="step", ylabel="loss", caption="GPT training loss"
            )
    else:
        sec.text("Not trained in this run (autoregressive.tokenizer_steps = 0).")
