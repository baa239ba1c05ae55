"""Runners: decode-once sharing changes no result; transient failures are retried, bad input is not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from curate_helpers import make_video  # noqa: E402

from worldsmith.curate import frames as shared  # noqa: E402
from worldsmith.curate.pipeline import CurateConfig, curate  # noqa: E402
from worldsmith.curate.runners import SequentialRunner  # noqa: E402
from worldsmith.curate.shots import ClipRules, split_video  # noqa: E402
from worldsmith.curate.stage import Resources, TransientError, guard_video  # noqa: E402
from worldsmith.curate.stages.ingest import IngestStage  # noqa: E402
from worldsmith.curate.stages.split import SplitConfig, SplitStage  # noqa: E402
from worldsmith.curate.stages.transcode import TranscodeConfig  # noqa: E402
from worldsmith.curate.tasks import ClipTask, VideoTask  # noqa: E402
from worldsmith.errors import WorldsmithError  # noqa: E402
from worldsmith.video.io import VideoError  # noqa: E402


def _rows(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("shard", None)
        r.pop("path", None)
    return rows


def test_split_decoding_once_finds_the_same_clips_as_split_video(bikes):
    video = IngestStage().process([VideoTask(path=str(bikes), video_id="bikes")])[0]
    stage = SplitStage(SplitConfig(min_seconds=1.0))
    shared.CACHE.clear()
    stage.process([video])
    expected = split_video(bikes, "content", ClipRules(min_seconds=1.0))["clips"]
    assert len(expected) >= 3  # bikes has real shot changes
    assert [[c.start, c.end] for c in video.clips] == expected
    kept = shared.CACHE.get(shared.source_key(str(bikes)))
    assert kept is not None and [i for i, _ in kept] == list(range(250))  # every frame, in order
    shared.CACHE.clear()


def test_shared_frames_give_the_same_clips_scores_and_embeddings_as_decoding_again(bikes, tmp_path):
    """share_mb=0 decodes the source again in transcode, and again in filter and embed (no cache):
    every score, embedding and encoded byte must be the same as with split's frames shared."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "bikes.mp4").symlink_to(bikes)
    base = dict(transcode=TranscodeConfig(max_height=136, max_fps=12.5))  # scaled and strided
    shared_run = curate(raw, tmp_path / "a", CurateConfig(**base, split=SplitConfig(min_seconds=1.0)))
    split = SplitConfig(min_seconds=1.0, share_mb=0)  # share_mb=0: nothing is cached at all
    again = curate(raw, tmp_path / "b", CurateConfig(**base, split=split))
    assert shared_run["clips"] == again["clips"] >= 3
    rows = _rows(tmp_path / "a")
    assert rows == _rows(tmp_path / "b")
    assert all(r["score_sharpness"] > 0 and r["num_frames"] > 10 and r["clip_fps"] == 12.5 for r in rows)
    for row in rows:
        a, b = (tmp_path / d / "clips" / f"{row['clip_id']}.mp4" for d in ("a", "b"))
        assert a.read_bytes() == b.read_bytes()


def test_frame_cache_is_bounded_and_evicts_oldest():
    cache = shared.FrameCache(max_bytes=100)
    assert cache.put("a", [1], 60) and cache.put("b", [2], 30)
    assert cache.put("c", [3], 50)  # evicts a (least recently used), keeps b
    assert "a" not in cache and cache.get("b") == [2] and cache.nbytes == 80
    assert not cache.put("big", [4], 101) and "big" not in cache
    assert cache.pop("b") == [2] and cache.nbytes == 50


class Flaky:
    """A stage that raises `error` on its first `fails` calls (after a partial change to the batch),
    then adds one clip to each video; `calls` counts every call."""

    name = "flaky"
    resources = Resources(cpus=0.1)

    def __init__(self, fails: int, error: Exception):
        self.fails, self.error, self.calls = fails, error, 0

    def setup(self) -> None:
        pass

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        self.calls += 1
        for video in batch:
            video.clips.append(ClipTask(clip_id=f"{video.video_id}_{len(video.clips)}", source="", start=0,
                                        end=1, fps=1.0))  # fmt: skip
            if self.calls <= self.fails:
                raise self.error
        return batch


def _videos(n: int = 2) -> list[VideoTask]:
    return [VideoTask(path=f"v{k}.mp4", video_id=f"v{k}") for k in range(n)]


def test_sequential_retries_a_transient_failure_on_a_fresh_copy():
    stage, done = Flaky(fails=1, error=TransientError("storage hiccup")), []
    SequentialRunner(batch_size=2, retries=2, backoff=0).run([stage], _videos(), done.append)
    assert stage.calls == 2
    assert [v.error for v in done] == ["", ""]
    assert [len(v.clips) for v in done] == [1, 1]  # the failed attempt's change is not kept


def test_transient_failure_past_the_retries_is_retryable_not_fatal():
    stage, done = Flaky(fails=10, error=ConnectionResetError("nfs went away")), []
    SequentialRunner(retries=2, backoff=0).run([stage], _videos(1), done.append)
    assert stage.calls == 3
    assert done[0].retryable and done[0].error.startswith("flaky: transient ConnectionResetError after 3")


def test_bad_input_is_recorded_once_not_retried():
    class BadFile(Flaky):
        def process(self, batch):
            self.calls += 1
            for video in batch:
                guard_video(self.name, video, self._decode)
            return batch

        def _decode(self):
            raise VideoError("video 'v0.mp4' is corrupt or truncated")

    stage, done = BadFile(fails=0, error=None), []
    SequentialRunner(retries=2, backoff=0).run([stage], _videos(1), done.append)
    assert stage.calls == 1 and not done[0].retryable and "corrupt" in done[0].error


class FlakyRunner(SequentialRunner):
    """The sequential runner with a `Flaky` stage after transcode."""

    def __init__(self, flaky: Flaky):
        super().__init__(retries=1, backoff=0)
        self.flaky = flaky

    def run(self, stages, videos, on_done, on_stage=None):
        return super().run([*stages[:3], self.flaky, *stages[3:]], videos, on_done, on_stage)


def test_a_video_failed_by_infrastructure_is_reported_and_retried_by_the_next_run(tmp_path):
    raw = tmp_path / "raw"
    make_video(raw / "a.mp4", [(1, 2.5, 2.0)])
    out = tmp_path / "out"
    first = curate(raw, out, runner=FlakyRunner(Flaky(fails=99, error=TimeoutError("slow disk"))))
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert (
        first["videos_failed"] == 1 and failures[0]["retryable"] and "TimeoutError" in failures[0]["reason"]
    )
    assert not list((out / "state").glob("*.json"))  # no completion record: not done
    second = curate(raw, out, runner=FlakyRunner(Flaky(fails=0, error=None)))
    assert second["resumed_videos"] == 0 and second["videos_failed"] == 0 and second["clips_kept"] == 1
    assert not (out / "failures.jsonl").read_text()


@pytest.mark.slow
def test_ray_retries_a_transient_failure_and_feeds_per_stage_progress(tmp_path):
    """On a local Ray cluster: a stage fails once per video with a transient error (a marker file
    tells a retry from a first attempt, as attempts may run in a new process), then succeeds."""
    pytest.importorskip("ray")
    import cloudpickle

    from worldsmith.curate.runners import RayRunner

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    stages = [OnceTransient(tmp_path), Counted(tmp_path)]
    done, progress = [], {}

    def on_stage(name, n):
        progress[name] = progress.get(name, 0) + n

    for fuse in (True, False):
        done.clear()
        progress.clear()
        for marker in tmp_path.glob("*.marker"):
            marker.unlink()
        RayRunner(workers=2, num_cpus=2, retries=2, fuse=fuse).run(stages, _videos(3), done.append, on_stage)
        assert sorted(v.video_id for v in done) == ["v0", "v1", "v2"]
        assert all(not v.error and len(v.clips) == 1 for v in done)
        assert progress == {"once": 3, "counted": 3}
        assert len(list(tmp_path.glob("*.once.marker"))) == 3  # each video failed once
    with pytest.raises(WorldsmithError, match="could not start on Ray.*no model here"):
        RayRunner(workers=1, num_cpus=2).run([BrokenSetup(tmp_path)], _videos(1), done.append)


class OnceTransient:
    name = "once"
    resources = Resources(cpus=0.5)

    def __init__(self, folder: Path):
        self.folder = folder

    def setup(self) -> None:
        pass

    def process(self, batch):
        for video in batch:
            marker = self.folder / f"{video.video_id}.once.marker"
            if not marker.exists():
                marker.touch()
                raise TransientError("first attempt fails")
        return batch


class Counted(OnceTransient):
    name = "counted"

    def process(self, batch):
        for video in batch:
            video.clips.append(ClipTask(clip_id=f"{video.video_id}_0", source="", start=0, end=1, fps=1.0))
        return batch


class BrokenSetup(OnceTransient):
    name = "broken"

    def setup(self) -> None:
        raise WorldsmithError("no model here")
