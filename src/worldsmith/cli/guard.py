"""`worldsmith guard`: check prompts, guard and face-blur videos, train the prompt classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldsmith.cli.common import AsJson, GuardPolicyOpt, Out, Seed, run_command
from worldsmith.console import console
from worldsmith.guardrails.classifier import train_classifier
from worldsmith.guardrails.face_blur import FaceBlur, FaceBlurConfig
from worldsmith.guardrails.pipeline import GuardPipeline, default_pipeline
from worldsmith.guardrails.policy import load_policy
from worldsmith.guardrails.video_safety import VideoSafety
from worldsmith.video import io

app = typer.Typer(help="Guardrails: check prompts, guard and face-blur videos.", no_args_is_help=True)
BlocklistFiles = Annotated[
    list[Path] | None, typer.Option("--blocklist", help="Extra blocklist YAML (category: [terms]).")
]


@app.command("prompt")
def prompt(
    text: Annotated[str, typer.Argument(help="The prompt to check.")],
    blocklist: BlocklistFiles = None,
    classifier: Annotated[bool, typer.Option(help="Run the MiniLM prompt classifier.")] = True,
    llm_guard: Annotated[
        Path | None, typer.Option("--llm-guard", help="Local Llama-Guard-style model dir.")
    ] = None,
    policy: GuardPolicyOpt = None,
    as_json: AsJson = False,
) -> None:
    """Check a prompt with the pre-guards; print the verdict (for a block: which guard, which term
    or score, how to rephrase), exit 1 when it is blocked."""
    pipeline = default_pipeline(
        classifier=classifier, llm_guard_dir=llm_guard, video_safety=False, face_blur=False,
        blocklist_files=blocklist or [], policy=load_policy(policy) if policy is not None else None,
    )  # fmt: skip
    verdict = pipeline.check_prompt(text)
    typer.echo(json.dumps(verdict.to_dict()) if as_json else verdict.explain())
    raise typer.Exit(0 if verdict.ok else 1)


@app.command("video")
def video(
    video: Annotated[Path, typer.Argument(help="Video to guard.")],
    out: Out,
    seed: Seed = 0,
    safety: Annotated[bool, typer.Option(help="Run the NudeNet video classifier.")] = True,
    blur: Annotated[str, typer.Option("--blur", help="Face blur: gaussian | pixelate.")] = "gaussian",
) -> None:
    """Post-guard a video and blur its faces into OUT/guarded.mp4; exit 1 (writing no video) when blocked."""
    face_blur = FaceBlur(FaceBlurConfig(method=blur))  # type: ignore[arg-type]
    pipeline = GuardPipeline(post_guards=[VideoSafety()] if safety else [], face_blur=face_blur)
    outcome = {}

    def run() -> dict:
        clip = io.read(video)
        verdict, safe = pipeline.check_video(clip.frames)
        faces = sum(len(f) for f in face_blur.last_faces)
        outcome.update(verdict=verdict, safe=safe)
        if safe is not None:
            path = io.write(out / "guarded.mp4", safe, fps=clip.fps)
            console.print(f"{verdict}; {faces} face detections blurred; wrote {path}")
        return dict(ok=verdict.ok, reason=verdict.reason, category=verdict.category, frames=len(clip),
                    faces=faces)  # fmt: skip

    run_command(out, "guard video", {"video": video, "safety": safety, "blur": blur}, seed, run)
    if outcome["safe"] is None:
        typer.echo(str(outcome["verdict"]))
        raise typer.Exit(1)


@app.command("train-classifier")
def train_classifier_cmd(
    out: Out,
    seed: Seed = 0,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="JSONL of {text, label, split} (default: packaged).")
    ] = None,
) -> None:
    """Train the MiniLM prompt classifier head; write OUT/prompt_classifier.safetensors + metrics."""
    path = out / "prompt_classifier.safetensors"
    metrics = run_command(out, "guard train-classifier", {"prompts": prompts}, seed,
                          lambda: train_classifier(path, prompts=prompts, seed=seed))  # fmt: skip
    console.print_json(data=metrics)
    console.print(f"wrote {path}")
