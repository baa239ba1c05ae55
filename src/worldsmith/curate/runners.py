"""Runners: the same stages in-process (`SequentialRunner`) or on Ray (`RayRunner`).

A runner streams videos through the stages and hands each finished `VideoTask` to `on_done`
(the pipeline writes its completion record there), so memory holds a few videos' records at a
time whatever the input size. Each returns seconds spent per stage.

Retries: a stage that raises a transient error (`stage.TRANSIENT`: infrastructure, not input) is run
again on a fresh copy of the batch, up to `retries` times; after that its videos fail with
``retryable=True`` (reported, but no completion record: a rerun tries them again). Any other error
was already recorded on its video or clip by the stage's guard, and is never retried.
"""

from __future__ import annotations

import copy
import logging
import os
import resource
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from worldsmith.curate import frames as shared
from worldsmith.curate.stage import TRANSIENT, Stage
from worldsmith.curate.tasks import VideoTask
from worldsmith.errors import WorldsmithError

log = logging.getLogger(__name__)

OnDone = Callable[[VideoTask], None]
OnStage = Callable[[str, int], None]  # (stage name, videos that just passed it): per-stage progress


def _chunks(items: Iterable[VideoTask], n: int) -> Iterator[list[VideoTask]]:
    batch: list[VideoTask] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def cpu_seconds() -> float:
    """CPU seconds of this process so far, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fail_retryable(batch: list[VideoTask], stage: str, err: BaseException, attempts: int) -> None:
    first_line = (str(err).strip().splitlines() or [""])[0][:300]
    for video in batch:
        if not video.error:
            video.fail(stage, f"transient {type(err).__name__} after {attempts} attempt(s): {first_line}")
            video.retryable = True


def run_with_retries(stage: Stage, batch: list[VideoTask], retries: int, backoff: float) -> list[VideoTask]:
    """`stage.process(batch)`, run again on a fresh copy of `batch` after a transient error."""
    for attempt in range(retries + 1):
        try:
            return stage.process(copy.deepcopy(batch) if retries else batch)
        except TRANSIENT as err:
            if attempt == retries:
                fail_retryable(batch, stage.name, err, attempt + 1)
                return batch
            log.warning("stage %s: transient %r, retry %d of %d", stage.name, err, attempt + 1, retries)
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


class SequentialRunner:
    """Every stage in this process, one batch of `batch_size` videos at a time (for tests, laptops).

    Frames decoded by split are shared with the later stages of the same batch (`curate.frames`).
    """

    name = "sequential"

    def __init__(self, batch_size: int = 1, retries: int = 2, backoff: float = 0.5):
        self.batch_size, self.retries, self.backoff = batch_size, retries, backoff

    def run(
        self,
        stages: Sequence[Stage],
        videos: Iterable[VideoTask],
        on_done: OnDone,
        on_stage: OnStage | None = None,
    ) -> dict[str, float]:
        timings = {s.name: 0.0 for s in stages}
        for stage in stages:
            stage.setup()
        for batch in _chunks(videos, self.batch_size):
            for stage in stages:
                t0 = time.perf_counter()
                batch = run_with_retries(stage, batch, self.retries, self.backoff)
                timings[stage.name] += time.perf_counter() - t0
                if on_stage:
                    on_stage(stage.name, len(batch))
            shared.CACHE.clear()
            for video in batch:
                on_done(video)
        return timings


def fuse(stages: Sequence[Stage]) -> list[list[Stage]]:
    """Consecutive stages with the same GPU need, as groups that run in one actor (as Ray Data fuses
    map operators): a video's frames then stay in one process, decoded once."""
    groups: list[list[Stage]] = []
    for stage in stages:
        if groups and groups[-1][-1].resources.gpus == stage.resources.gpus:
            groups[-1].append(stage)
        else:
            groups.append([stage])
    return groups


class _StageActor:
    """Holds a group of stages in a Ray actor; `setup()` runs once in the actor's process."""

    def __init__(self, stages: list[Stage]):
        self.stages = stages
        for stage in stages:
            stage.setup()
        self.seconds = {s.name: 0.0 for s in stages}

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        """The group's stages in order. A transient error propagates: Ray runs the task again
        (`retry_exceptions`) from its input, which the object store keeps unchanged."""
        try:
            for stage in self.stages:
                t0 = time.perf_counter()
                batch = stage.process(batch)
                self.seconds[stage.name] += time.perf_counter() - t0
            return batch
        finally:
            shared.CACHE.clear()

    def timing(self) -> tuple[dict[str, float], float, int]:
        return self.seconds, cpu_seconds(), os.getpid()


class RayRunner:
    """Stage-level parallelism on Ray: `workers` actors per stage group, each asking for its
    stages' declared resources (CPUs scaled down to fit the cluster). With `fuse` (default),
    consecutive stages with the same GPU need share an actor (`fuse`); otherwise each stage has its
    own actors and a batch flows actor to actor as object references. All groups run at once on
    different videos; each worker has at most two videos queued (bounded memory), and the largest
    files go first so that the workers finish together.

    Failures: an actor that dies is restarted (`max_restarts`) and its task re-run; a transient
    error makes Ray run the task again (`retry_exceptions`, `retries` times); a video that still
    fails is recorded as retryable. `on_stage` is fed as each group's task completes (per-stage progress).
    `cpu_s` holds the CPU seconds of the driver and every actor after a run.

    On a small machine, fractional CPUs per actor are what let every stage's actors exist at once
    (whole CPUs per actor make later stages wait forever for a free CPU: a hang, not an error)
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, workers: int = 2, num_cpus: int | None = None,
                 fuse: bool = True, retries: int = 2):  # fmt: skip
        self.address, self.workers, self.num_cpus = address, workers, num_cpus
        self.fuse, self.retries = fuse, retries
        self.cpu_s = 0.0

    def run(
        self,
        stages: Sequence[Stage],
        videos: Iterable[VideoTask],
        on_done: OnDone,
        on_stage: OnStage | None = None,
    ) -> dict[str, float]:
        """Like `SequentialRunner.run`."""
        try:
            import ray
        except ImportError:
            raise WorldsmithError("the ray runner needs Ray: pip install 'worldsmith[ray]'") from None
        started = not ray.is_initialized()
        if started:
            kwargs = {"address": self.address} if self.address else {"num_cpus": self.num_cpus}
            ray.init(**kwargs, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        try:
            return self._run(ray, stages, list(videos), on_done, on_stage)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, stages, videos, on_done, on_stage) -> dict[str, float]:
        cpu0 = cpu_seconds()
        groups = fuse(stages) if self.fuse else [[s] for s in stages]
        actor_cls = ray.remote(_StageActor)
        # Every group's actors must exist at once (a batch passes through all of them): scale the
        # declared CPUs down so that the whole pipeline fits in the cluster.
        need = [max(s.resources.cpus for s in g) for g in groups]
        demand = self.workers * sum(need)
        scale = min(1.0, 0.95 * float(ray.cluster_resources().get("CPU", 1.0)) / max(demand, 1e-9))
        pools = [
            [
                actor_cls.options(
                    num_cpus=cpus * scale,
                    num_gpus=max(s.resources.gpus for s in group),
                    max_restarts=self.retries,
                    max_task_retries=self.retries,
                ).remote(group)
                for _ in range(self.workers)
            ]
            for group, cpus in zip(groups, need, strict=True)
        ]
        try:  # a stage whose setup fails (a missing model, a bad config) ends the run, as in-process
            ray.get([a.timing.remote() for pool in pools for a in pool])
        except ray.exceptions.RayError as err:
            cause = (str(err).strip().splitlines() or [""])[-1]  # the exception, not Ray's traceback
            raise WorldsmithError(f"a curation stage could not start on Ray: {cause}") from None
        # largest first (longest-processing-time scheduling): no worker is left alone with a long video
        order = sorted(videos, key=lambda v: _size(v.path), reverse=True)
        queued = [0] * self.workers  # videos in flight per worker
        watch: dict = {}  # ref -> (group index, worker, the batch as sent)
        for video in order:
            while min(queued) >= 2:
                self._wait(ray, watch, queued, groups, on_done, on_stage)
            worker = queued.index(min(queued))
            batch = [video]
            ref = ray.put(batch)
            for g, pool in enumerate(pools):
                method = pool[worker].process.options(
                    max_task_retries=self.retries, retry_exceptions=list(TRANSIENT)
                )
                ref = method.remote(ref)
                watch[ref] = (g, worker, batch)
            queued[worker] += 1
        while watch:
            self._wait(ray, watch, queued, groups, on_done, on_stage)
        timings: dict[str, float] = {}
        self.cpu_s = cpu_seconds() - cpu0
        for pool in pools:
            for actor in pool:
                try:
                    seconds, cpu, _ = ray.get(actor.timing.remote())
                except ray.exceptions.RayError:
                    continue  # an actor lost for good: its videos were reported as retryable
                self.cpu_s += cpu  # the actor's process (its whole life: setup included)
                for name, sec in seconds.items():
                    timings[name] = timings.get(name, 0.0) + sec
        for pool in pools:
            for actor in pool:
                ray.kill(actor)
        return timings

    def _wait(self, ray, watch: dict, queued: list[int], groups, on_done, on_stage) -> None:
        ready, _ = ray.wait(list(watch), num_returns=1)
        for ref in ready:
            g, worker, batch = watch.pop(ref)
            if on_stage:
                for stage in groups[g]:
                    on_stage(stage.name, len(batch))
            if g < len(groups) - 1:
                continue  # progress only: the last group's result is the video's
            queued[worker] -= 1
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as err:  # retries exhausted, or an actor lost for good
                cause = getattr(err, "cause", None) or err
                result = batch
                fail_retryable(result, "ray", cause, self.retries + 1)
            for video in result:
                on_done(video)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
