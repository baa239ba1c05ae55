"""The curation pipeline: raw videos in, webdataset shards + manifest out, resumable.

    from worldsmith.curate.pipeline import CurateConfig, curate
    summary = curate("raw/", "runs/curated", CurateConfig())

Streaming stages (ingest, split, transcode, filter, caption, embed) run per video through a
runner; each finished video leaves a completion record ``state/<video_id>.json`` (written
atomically, clips already in ``clips/``). A rerun skips videos with a record, so a run killed at
any point finishes with no duplicated and no missing clips. The global steps then run over the
records: semantic de-duplication, shards (the ``shards/`` folder is replaced whole), manifest and
``failures.jsonl``.

Output folder::

    clips/<clip_id>.mp4        transcoded clips (kept and dropped; the shards hold the kept ones)
    state/<video_id>.json      completion record per input video
    shards/<bucket>/shard-NNNNN.tar
    manifest.parquet, manifest.jsonl, failures.jsonl, duplicates.json, summary.json
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldsmith import config as cfg
from worldsmith import fs
from worldsmith.config import check
from worldsmith.console import console, progress
from worldsmith.curate.runners import RayRunner, SequentialRunner
from worldsmith.curate.stages.caption import CaptionConfig, CaptionStage
from worldsmith.curate.stages.dedup import DedupConfig, semdedup
from worldsmith.curate.stages.embed import EmbedConfig, EmbedStage
from worldsmith.curate.stages.filters import FilterConfig, FilterStage
from worldsmith.curate.stages.ingest import IngestConfig, IngestStage, find_videos
from worldsmith.curate.stages.shard import ShardConfig, write_manifest, write_shards
from worldsmith.curate.stages.split import SplitConfig, SplitStage
from worldsmith.curate.stages.transcode import TranscodeConfig, TranscodeStage
from worldsmith.curate.tasks import ClipTask, VideoTask
from worldsmith.errors import WorldsmithError
from worldsmith.runs import RunDir


@dataclass(frozen=True, kw_only=True)
class CurateConfig:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    transcode: TranscodeConfig = field(default_factory=TranscodeConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    shard: ShardConfig = field(default_factory=ShardConfig)
    stages: tuple[str, ...] = ("ingest", "split", "transcode", "filter", "caption", "embed")

    def __post_init__(self) -> None:
        order = ("ingest", "split", "transcode", "filter", "caption", "embed")
        check(
            list(self.stages) == [s for s in order if s in self.stages] and self.stages[:3] == order[:3],
            "stages",
            list(self.stages),
            f"must start with ingest, split, transcode and keep the order {list(order)}",
        )


def build_stages(config: CurateConfig, out: Path) -> list:
    """The streaming stages named in `config.stages`, in order."""
    makers = {
        "ingest": lambda: IngestStage(config.ingest),
        "split": lambda: SplitStage(config.split),
        "transcode": lambda: TranscodeStage(out / "clips", config.transcode),
        "filter": lambda: FilterStage(config.filters),
        "caption": lambda: CaptionStage(config.caption),
        "embed": lambda: EmbedStage(config.embed),
    }
    return [makers[name]() for name in config.stages]


def _record_path(out: Path, video: VideoTask) -> Path:
    return out / "state" / f"{video.video_id}.json"


def _load_record(path: Path) -> VideoTask | None:
    try:
        return VideoTask.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, TypeError):
        return None  # missing or unreadable: the video runs again


def curate(
    input: str | Path,
    out: str | Path,
    config: CurateConfig | None = None,
    runner: Any = None,
    on_progress: Any = None,
    on_stage: Any = None,
) -> dict[str, Any]:
    """Curate every video under `input` into `out`; returns the summary (also ``summary.json``).

    `runner` defaults to `SequentialRunner()`; `on_progress(video)` is called as each video
    finishes and `on_stage(stage, n)` as videos leave a stage (the CLI's progress bars).
    """

    config = config or CurateConfig()
    runner = runner or SequentialRunner()
    out = Path(out)
    t_start = time.perf_counter()
    videos = find_videos(input, config.ingest.extensions)
    done = {v.video_id: r for v in videos if (r := _load_record(_record_path(out, v))) is not None}
    pending = [v for v in videos if v.video_id not in done]
    for stale in (out / "clips").glob(".*.tmp*") if (out / "clips").is_dir() else []:
        stale.unlink()  # half-written clips of a killed run

    def on_done(video: VideoTask) -> None:
        if not video.retryable:  # an infrastructure failure is reported but retried by a rerun
            fs.write_json(_record_path(out, video), video.to_dict())
        done[video.video_id] = video
        if on_progress:
            on_progress(video)

    timings = runner.run(build_stages(config, out), pending, on_done, on_stage) if pending else {}
    records = [done[v.video_id] for v in videos]
    clips = [c for v in records if not v.error for c in v.clips]

    t0 = time.perf_counter()
    groups = semdedup(clips, config.dedup)
    timings["dedup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with fs.atomic_dir(out / "shards") as tmp:
        shards = write_shards(clips, tmp, config.shard)
        for clip in clips:  # the shard paths name the final folder, not the temporary one
            clip.shard = clip.shard.replace(tmp.name, "shards", 1) if clip.shard else ""
    timings["shard"] = time.perf_counter() - t0
    write_manifest(clips, out)
    failures = [
        {"path": v.path, "stage": v.error.split(":", 1)[0], "reason": v.error}
        | ({"retryable": True} if v.retryable else {})
        for v in records
        if v.error
    ]
    fs.write_text(out / "failures.jsonl", "".join(json.dumps(f) + "\n" for f in failures))
    fs.write_json(out / "duplicates.json", groups)
    summary = summarize(records, clips, groups, len(shards), timings, time.perf_counter() - t_start)
    summary["resumed_videos"] = len(videos) - len(pending)
    fs.write_json(out / "summary.json", summary)
    return summary


def summarize(
    records, clips: list[ClipTask], groups, num_shards: int, timings, wall: float
) -> dict[str, Any]:
    seconds = sum(v.duration for v in records if not v.error)
    dropped = Counter(c.dropped_by for c in clips if not c.kept)
    return {
        "videos_in": len(records),
        "videos_failed": sum(1 for v in records if v.error),
        "video_seconds": round(seconds, 3),
        "clips": len(clips),
        "clips_kept": sum(1 for c in clips if c.kept),
        "clips_without_caption": sum(1 for c in clips if c.kept and not c.caption_source),
        "dropped": dict(sorted(dropped.items())),
        "duplicate_groups": len(groups),
        "duplicates": dropped.get("dedup", 0),
        "shards": num_shards,
        "wall_s": round(wall, 3),
        "video_seconds_per_s": round(seconds / wall, 3) if wall > 0 else 0.0,
        "stage_s": {k: round(v, 3) for k, v in timings.items()},
    }


def summary_table(summary: dict[str, Any]):
    """A rich Table of the summary: videos in, clips out, dropped per reason, throughput."""
    from rich.table import Table

    table = Table(title="curation summary", show_header=False)
    rows = [
        ("videos in", summary["videos_in"]),
        ("videos failed", summary["videos_failed"]),
        ("clips", summary["clips"]),
        ("clips kept", summary["clips_kept"]),
        *((f"dropped by {k}", v) for k, v in summary["dropped"].items()),
        ("duplicate groups", summary["duplicate_groups"]),
        ("kept clips without caption", summary["clips_without_caption"]),
        ("shards", summary["shards"]),
        ("video seconds", summary["video_seconds"]),
        ("wall seconds", summary["wall_s"]),
        ("video-s per wall-s", summary["video_seconds_per_s"]),
        *((f"stage {k} s", v) for k, v in summary["stage_s"].items()),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def run_cli(input, out, *, runner="sequential", config=None, overrides=(), ray_address=None, workers=2,
            strict=False, seed=None) -> int:  # fmt: skip
    """`worldsmith curate`: load the config, run with a progress bar, print the summary; the exit code."""

    if runner not in ("sequential", "ray"):
        raise WorldsmithError(f"unknown runner '{runner}'; choose sequential or ray")
    conf = cfg.load(CurateConfig, config, overrides)
    chosen = SequentialRunner() if runner == "sequential" else RayRunner(address=ray_address, workers=workers)
    args = {"input": str(input), "runner": runner, "config": cfg.to_dict(conf), "strict": strict}
    total = len(find_videos(input, conf.ingest.extensions))
    if not total:
        raise WorldsmithError(
            f"'{input}' holds no video files ({', '.join(conf.ingest.extensions)}); pass a folder of videos "
            "or a video file"
        )
    with RunDir(out, command="curate", args=args, seed=seed) as run, progress() as bar:
        tasks = {name: bar.add_task(f"{name:>9}", total=total) for name in conf.stages}
        done = sum(
            1
            for v in find_videos(input, conf.ingest.extensions)
            if _load_record(_record_path(Path(out), v)) is not None
        )
        for task in tasks.values():
            bar.update(task, completed=done)  # resumed videos

        def on_stage(name: str, n: int) -> None:
            bar.advance(tasks[name], n)

        summary = curate(input, out, conf, chosen, on_stage=on_stage)
        for task in tasks.values():
            bar.update(task, completed=total)
        run.record(**summary)
    console.print(summary_table(summary))
    console.print(f"shards in {Path(out) / 'shards'}; manifest {Path(out) / 'manifest.parquet'}; "
                  f"failures {Path(out) / 'failures.jsonl'}")  # fmt: skip
    return 1 if strict and summary["videos_failed"] else 0
