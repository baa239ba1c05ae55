"""The `Stage` seam: `process(batch) -> batch`, with declared resources (the cosmos-curate shape).

A stage takes a list of `VideoTask`s and returns it, filled in. A failing item never crashes the
run: `guard_*` turns its exception into `VideoTask.error` (a whole video fails) or a dropped clip
(one clip fails), with the reason. The exceptions are infrastructure failures (`TRANSIENT`: a lost
connection, a timeout, a stage's own `TransientError`): those propagate, and the runner retries the
stage on a fresh copy of the batch. A bad file is not transient: it fails once and is recorded.
Runners call `setup()` once per worker before the first batch, so heavy models load where they run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from worldsmith.curate.tasks import ClipTask, VideoTask
from worldsmith.errors import WorldsmithError

log = logging.getLogger(__name__)


class TransientError(Exception):
    """An infrastructure failure worth retrying (storage or network hiccup, a lost worker); a bad
    input is not one."""


TRANSIENT: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs; the Ray runner asks for this much per actor."""

    cpus: float = 1.0
    gpus: float = 0.0


@runtime_checkable
class Stage(Protocol):
    name: str
    resources: Resources

    def setup(self) -> None: ...

    def process(self, batch: list[VideoTask]) -> list[VideoTask]: ...


class ClipStage:
    """Base for stages that work clip by clip on kept clips of healthy videos."""

    name = "clip-stage"
    resources = Resources()

    def setup(self) -> None:
        pass

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        for video in batch:
            if video.error:
                continue
            for clip in video.clips:
                if clip.kept:
                    guard_clip(self.name, clip, self.process_clip, clip)
        return batch

    def process_clip(self, clip: ClipTask) -> None:
        raise NotImplementedError


def guard_clip(stage: str, clip: ClipTask, fn, *args) -> None:
    """Run `fn(*args)`; an exception drops the clip with its reason instead of ending the run."""
    try:
        fn(*args)
    except TRANSIENT:
        raise  # the runner retries the stage
    except Exception as err:  # noqa: BLE001 - any failure of one item is recorded, not raised
        log.debug("clip %s failed in %s", clip.clip_id, stage, exc_info=True)
        clip.drop(stage, f"error: {type(err).__name__}: {err}")


def guard_video(stage: str, video: VideoTask, fn, *args) -> None:
    """Run `fn(*args)`; an exception marks the video failed with its reason."""
    try:
        fn(*args)
    except TRANSIENT:
        raise  # the runner retries the stage
    except Exception as err:  # noqa: BLE001
        log.debug("video %s failed in %s", video.path, stage, exc_info=True)
        video.fail(stage, f"{type(err).__name__}: {err}" if not _is_user_error(err) else str(err))


def _is_user_error(err: Exception) -> bool:

    return isinstance(err, WorldsmithError)
