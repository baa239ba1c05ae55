"""GuardPipeline: first block wins, every failure blocks (fail closed), blocked videos are never written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsmith.guardrails import GuardBlocked, GuardPipeline, Verdict, run_guard
from worldsmith.guardrails.base import GUARD_ERROR
from worldsmith.guardrails.blocklist import Blocklist


class Raises:
    name = "raises"

    def check(self, item):
        raise FileNotFoundError("model file 'x.onnx' is missing")


class ReturnsNone:
    name = "returns_none"

    def check(self, item):
        return None


class BlocksAll:
    name = "blocks_all"

    def check(self, item):
        return Verdict.block("everything is unsafe here", "test")


class AllowsAll:
    name = "allows_all"

    def check(self, item):
        return Verdict.allow()


def _frames(t: int = 4) -> torch.Tensor:
    return torch.randint(
        0, 255, (t, 32, 48, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def test_run_guard_fails_closed():
    v = run_guard(Raises(), "hello")
    assert not v.ok and v.category == GUARD_ERROR and "x.onnx" in v.reason and v.guard == "raises"
    v = run_guard(ReturnsNone(), "hello")
    assert not v.ok and v.category == GUARD_ERROR


def test_prompt_first_block_wins_and_names_guard():
    p = GuardPipeline([AllowsAll(), Blocklist.default(), BlocksAll()])
    assert p.check_prompt("a robot stacks boxes").guard == "blocks_all"
    v = p.check_prompt("a robot k1lls a man")
    assert not v.ok and v.guard == "blocklist" and v.category == "violence"
    assert GuardPipeline([AllowsAll()]).check_prompt("a robot stacks boxes").ok
    assert not GuardPipeline([Raises()]).check_prompt("a robot stacks boxes").ok
    assert not GuardPipeline([AllowsAll()]).check_prompt(None).ok  # type: ignore[arg-type]
    with pytest.raises(GuardBlocked, match="blocked by blocklist"):
        GuardPipeline([Blocklist.default()]).require_prompt("m.u.r.d.e.r")


def test_video_blocked_by_error_or_guard_returns_no_frames():
    for guard in (Raises(), BlocksAll(), ReturnsNone()):
        verdict, out = GuardPipeline(post_guards=[guard]).check_video(_frames())
        assert not verdict.ok and out is None


def test_video_bad_input_and_failing_blur_block():
    p = GuardPipeline(post_guards=[AllowsAll()])
    assert not p.check_video(np.zeros((4, 8, 8), np.uint8))[0].ok
    assert not p.check_video(np.zeros((4, 8, 8, 3), np.float32))[0].ok

    def broken_blur(frames):
        raise RuntimeError("cascade not found")

    verdict, out = GuardPipeline(face_blur=broken_blur).check_video(_frames())
    assert not verdict.ok and "cascade not found" in verdict.reason and out is None
    verdict, out = GuardPipeline(face_blur=lambda f: f[..., :2]).check_video(_frames())
    assert not verdict.ok and out is None


def test_video_passes_through_blur():
    frames = _frames()
    verdict, out = GuardPipeline([AllowsAll()], [AllowsAll()], face_blur=lambda f: 255 - f).check_video(
        frames
    )
    assert verdict.ok and torch.equal(out, 255 - frames)


def test_blocked_video_is_never_written(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(GuardBlocked, match="blocks_all"):
        GuardPipeline(post_guards=[BlocksAll()]).write_video(path, _frames(), fps=8)
    with pytest.raises(GuardBlocked, match="x.onnx"):
        GuardPipeline(post_guards=[Raises()]).write_video(path, _frames(), fps=8)
    assert list(tmp_path.iterdir()) == []
    GuardPipeline(post_guards=[AllowsAll()]).write_video(path, _frames(), fps=8)
    assert path.is_file() and path.stat().st_size > 0
