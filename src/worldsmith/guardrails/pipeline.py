"""GuardPipeline: pre-guards on the prompt before any compute, post-guards on the video before any write.

Cosmos (arXiv 2501.03575, Sec. 7) wraps every generation in a pre-guard (blocklist + an LLM
guard, Aegis) and a post-guard (a video content-safety classifier + face blur). The pipeline fails
closed: a guard that raises, returns something odd or cannot load its model blocks the item, and
a video is only ever written through `write_video`, after the post-guards and the face blur.

    pipeline = default_pipeline()
    pipeline.require_prompt(prompt)                      # raises GuardBlocked
    verdict, safe_frames = pipeline.check_video(frames)  # safe_frames is None when blocked
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from worldsmith.guardrails.base import (
    GUARD_ERROR,
    GuardBlocked,
    Guardrail,
    GuardrailError,
    Verdict,
    run_guard,
)
from worldsmith.guardrails.policy import GuardPolicy, load_policy

POLICY_ENV = "WORLDSMITH_GUARD_POLICY"  # a deployer's policy (preset name or file) for every command
DEFAULT_THRESHOLD = 0.5  # the classifier's threshold when its weights cannot be read (they then block)

Frames = torch.Tensor | np.ndarray  # [T, H, W, 3] uint8


class GuardPipeline:
    """Runs `pre_guards` on prompts and `post_guards` then `face_blur` on videos; first block wins."""

    def __init__(
        self,
        pre_guards: Sequence[Guardrail] = (),
        post_guards: Sequence[Guardrail] = (),
        face_blur: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        policy: GuardPolicy | None = None,
    ):
        self.pre_guards = list(pre_guards)
        self.post_guards = list(post_guards)
        self.face_blur = face_blur
        self.policy = policy or GuardPolicy()

    def policy_record(self) -> dict:
        """The policy in force and the guards that run, for run.json (relaxations name who set them)."""
        from worldsmith.guardrails.classifier import Head, packaged_weights

        try:
            calibrated = Head.load(packaged_weights()).threshold
        except GuardrailError:
            calibrated = DEFAULT_THRESHOLD
        record = self.policy.record(calibrated)
        record["pre_guards"] = [g.name for g in self.pre_guards]
        record["post_guards"] = [g.name for g in self.post_guards] + (["face_blur"] if self.face_blur else [])
        return record

    def __repr__(self) -> str:
        pre = [g.name for g in self.pre_guards]
        post = [g.name for g in self.post_guards]
        return f"GuardPipeline(pre={pre}, post={post}, face_blur={self.face_blur is not None})"

    # -- prompts ---------------------------------------------------------------------------------
    def check_prompt(self, text: str) -> Verdict:
        """Run every pre-guard in order; the first blocking verdict is returned."""
        if not isinstance(text, str):
            return Verdict.block(
                f"prompt must be a string, got {type(text).__name__}", GUARD_ERROR, "pipeline"
            )
        for guard in self.pre_guards:
            verdict = run_guard(guard, text)
            if not verdict.ok:
                return verdict
        return Verdict.allow("pipeline", f"{len(self.pre_guards)} pre-guard(s) passed")

    def require_prompt(self, text: str) -> None:
        """Raise `GuardBlocked` (a WorldsmithError: the CLI exits non-zero) when the prompt is blocked."""
        verdict = self.check_prompt(text)
        if not verdict.ok:
            raise GuardBlocked("prompt", verdict)

    # -- videos ----------------------------------------------------------------------------------
    def check_video(self, frames: Frames) -> tuple[Verdict, torch.Tensor | None]:
        """Post-guards, then face blur: (verdict, blurred uint8 [T, H, W, 3]) or (blocking verdict, None)."""
        try:
            array = _as_frames(frames)
        except (TypeError, ValueError) as err:
            return Verdict.block(str(err), GUARD_ERROR, "pipeline"), None
        for guard in self.post_guards:
            verdict = run_guard(guard, array)
            if not verdict.ok:
                return verdict, None
        if self.face_blur is not None:
            try:
                blurred = _as_frames(np.ascontiguousarray(self.face_blur(array)))
                if blurred.shape != array.shape:
                    raise ValueError(f"face blur changed the video's shape {array.shape} -> {blurred.shape}")
                array = blurred
            except Exception as err:  # noqa: BLE001 - an unblurred video must never pass
                return Verdict.block(
                    f"face blur failed ({type(err).__name__}: {err})", GUARD_ERROR, "face_blur"
                ), None
        return Verdict.allow("pipeline", f"{len(self.post_guards)} post-guard(s) passed"), torch.from_numpy(
            array
        )

    def require_video(self, frames: Frames) -> torch.Tensor:
        """The guarded (face-blurred) frames, or `GuardBlocked`."""
        verdict, out = self.check_video(frames)
        if not verdict.ok or out is None:
            raise GuardBlocked("video", verdict)
        return out

    def write_video(self, path: str | os.PathLike, frames: Frames, fps: float, **write_kwargs) -> Path:
        """Guard, blur and write atomically; a blocked video raises `GuardBlocked` and writes nothing."""
        from worldsmith.video import io

        safe = self.require_video(frames)
        return io.write(path, safe, fps=fps, **write_kwargs)


def _as_frames(frames: Frames) -> np.ndarray:
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"video must be a uint8 array [T, H, W, 3], got {type(frames).__name__}")
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(
            f"video must be uint8 [T, H, W, 3] with T, H, W > 0, got {frames.dtype} {list(frames.shape)}"
        )
    return frames


def default_pipeline(
    *,
    classifier: bool = True,
    llm_guard_dir: str | os.PathLike | None = None,
    video_safety: bool = True,
    face_blur: bool = True,
    blocklist_files: Sequence[str | os.PathLike] = (),
    policy: GuardPolicy | None = None,
) -> GuardPipeline:
    """The pipeline generation commands use: blocklist -> MiniLM classifier (-> LLM guard when a
    local model directory is given) on prompts; nudenet video classifier -> face blur on videos,
    with the thresholds and allowlisted phrases of `policy` (when None: the preset or file named by
    $WORLDSMITH_GUARD_POLICY, else the `default` preset).

    Models load lazily on first use, so building the pipeline is cheap; a missing model then
    blocks (fails closed) with the missing file in the reason. A policy looser than `default` is
    announced on the console with who set it (`GuardPipeline.policy_record()` goes to run.json).
    """
    from worldsmith.guardrails.blocklist import Blocklist

    policy = policy if policy is not None else load_policy(os.environ.get(POLICY_ENV) or None)
    pre: list[Guardrail] = [Blocklist.default([*blocklist_files, *policy.blocklist], allow=policy.allow)]
    if classifier:
        from worldsmith.guardrails.classifier import PromptClassifier

        pre.append(PromptClassifier(threshold=policy.value("classifier_threshold")))
    if llm_guard_dir is not None:
        from worldsmith.guardrails.llm_guard import LlmGuard

        pre.append(LlmGuard(llm_guard_dir))
    post: list[Guardrail] = []
    if video_safety:
        from worldsmith.guardrails.video_safety import VideoSafety

        post.append(
            VideoSafety(
                threshold=policy.value("video_threshold"), min_unsafe_frames=policy.value("video_min_frames")
            )
        )
    blur = None
    if face_blur:
        from worldsmith.guardrails.face_blur import FaceBlur

        blur = FaceBlur()
    pipeline = GuardPipeline(pre, post, blur, policy=policy)
    record = pipeline.policy_record()
    if record["relaxations"]:
        from worldsmith.console import console

        console.print(
            f"[bold yellow]warning:[/] the guard policy ({record['source']}) relaxes the default, set by "
            f"{record['set_by']}: {'; '.join(record['relaxations'])}"
        )
    return pipeline


def guard_record(guard_set: str, pipeline: GuardPipeline | None) -> dict:
    """What a generating run's run.json keeps about its guards: the guard set, the policy in force,
    and every relaxation with who set it (`--guard none` and `--guard blocklist` are relaxations)."""
    if pipeline is None:
        who = GuardPolicy().who()
        return {"guard_set": guard_set, "pre_guards": [], "post_guards": [], "set_by": who,
                "relaxations": [f"every guard is off (--guard {guard_set})"]}  # fmt: skip
    record = {"guard_set": guard_set, **pipeline.policy_record()}
    if guard_set != "default":
        record["relaxations"] = [f"guard set '{guard_set}' instead of 'default'", *record["relaxations"]]
        record["set_by"] = pipeline.policy.who()
    return record
