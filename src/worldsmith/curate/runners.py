"""Runners: the same stages in-process (`SequentialRunner`) or on Ray (`RayRunner`).

A runner streams videos through the stages and hands each finished `VideoTask` to `on_done`
(the pipeline writes its completion record there), so memory holds a few videos' records at a
time whatever the input size. Each returns seconds spent per stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from worldsmith.curate.stage import Stage
from worldsmith.curate.tasks import VideoTask
from worldsmith.errors import WorldsmithError

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


class SequentialRunner:
    """Every stage in this process, one batch of `batch_size` videos at a time (for tests, laptops)."""

    name = "sequential"

    def __init__(self, batch_size: int = 1):
        self.batch_size = batch_size

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
                batch = stage.process(batch)
                timings[stage.name] += time.perf_counter() - t0
                if on_stage:
                    on_stage(stage.name, len(batch))
            for video in batch:
                on_done(video)
        return timings


class _StageActor:
    """Holds one stage in a Ray actor; `setup()` runs once in the actor's process."""

    def __init__(self, stage: Stage):
        self.stage = stage
        self.stage.setup()
        self.seconds = 0.0

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        t0 = time.perf_counter()
        out = self.stage.process(batch)
        self.seconds += time.perf_counter() - t0
        return out

    def timing(self) -> tuple[str, float]:
        return self.stage.name, self.seconds


class RayRunner:
    """Stage-level parallelism on Ray: `workers` actors per stage, each asking for the stage's
    declared resources (CPUs scaled down to fit the cluster). A video's batch flows actor to actor as object
    references, so all stages run at once on different videos; at most `max_in_flight` batches are
    in the pipeline (bounded memory).

    On a small machine, fractional CPUs per actor are what let every stage's actors exist at once
    (whole CPUs per actor make later stages wait forever for a free CPU: a hang, not an error)
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, workers: int = 2, num_cpus: int | None = None,
                 max_in_flight: int = 8):  # fmt: skip
        self.address, self.workers, self.num_cpus = address, workers, num_cpus
        self.max_in_flight = max_in_flight

    def run(
        self,
        stages: Sequence[Stage],
        videos: Iterable[VideoTask],
        on_done: OnDone,
        on_stage: OnStage | None = None,
    ) -> dict[str, float]:
        """Like `SequentialRunner.run`; `on_stage` is told when a video has left the last stage."""
        try:
            import ray
        except ImportError:
            raise WorldsmithError("the ray runner needs Ray: pip install 'worldsmith[ray]'") from None
        started = not ray.is_initialized()
        if started:
            kwargs = {"address": self.address} if self.address else {"num_cpus": self.num_cpus}
            ray.init(**kwargs, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        try:
            return self._run(ray, stages, videos, on_done, on_stage)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, stages, videos, on_done, on_stage) -> dict[str, float]:
        if on_stage:
            done = on_done

            def on_done(video: VideoTask) -> None:
                done(video)
                for s in stages:
                    on_stage(s.name, 1)

        actor_cls = ray.remote(_StageActor)
        # Every stage's actors must exist at once (a batch passes through all of them): scale the
        # declared CPUs down so that the whole pipeline fits in the cluster.
        demand = self.workers * sum(s.resources.cpus for s in stages)
        scale = min(1.0, 0.95 * float(ray.cluster_resources().get("CPU", 1.0)) / max(demand, 1e-9))
        pools = [
            [
                actor_cls.options(num_cpus=s.resources.cpus * scale, num_gpus=s.resources.gpus).remote(s)
                for _ in range(self.workers)
            ]
            for s in stages
        ]
        in_flight: list = []
        for k, batch in enumerate(_chunks(videos, 1)):
            ref = ray.put(batch)
            for pool in pools:
                ref = pool[k % len(pool)].process.remote(ref)
            in_flight.append(ref)
            while len(in_flight) >= self.max_in_flight:
                in_flight = self._drain(ray, in_flight, on_done, 1)
        while in_flight:
            in_flight = self._drain(ray, in_flight, on_done, 1)
        timings: dict[str, float] = {}
        for pool in pools:
            for name, seconds in ray.get([a.timing.remote() for a in pool]):
                timings[name] = timings.get(name, 0.0) + seconds
        return timings

    @staticmethod
    def _drain(ray, refs: list, on_done: OnDone, n: int) -> list:
        done, rest = ray.wait(refs, num_returns=n)
        for ref in done:
            for video in ray.get(ref):
                on_done(video)
        return rest
