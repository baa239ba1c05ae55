"""Raw footage for curation: long videos that join rendered episodes with hard cuts, dissolves and
fades, with free-camera motion inside shots, plus the true shot boundaries.

A shot is one episode (one scenario, one seed, one camera move). Transitions between shots:
- `cut`: the next shot starts on the next frame;
- `dissolve`: the last N frames of one shot cross-fade into the first N of the next;
- `fade`: the shot fades to black over N/2 frames, the next fades in from black over N/2.
Camera motion (`orbit`, `pan`, `dolly`) inside a shot is not a boundary: shot detectors should not
fire on it. Shot lengths span < 2 s to > 60 s so that clip-length rules (drop < 2 s, split > 60 s)
are exercised.

Ground truth per video: `shots` ([start, end) frames, scenario, camera mode), `transitions`
(kind, [start, end) span of mixed frames) and `boundaries`: the frame index where each new shot
starts, i.e. the first frame of the next shot for a cut and the middle of the span for gradual
transitions (the usual convention of shot-boundary benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith import fs
from worldsmith.console import progress
from worldsmith.sim.catalogue import SCENARIOS
from worldsmith.sim.episode import make_episode
from worldsmith.sim.errors import SimError
from worldsmith.video import io

TRANSITIONS = ("cut", "dissolve", "fade")
MOVES = ("static", "orbit", "pan", "dolly")


@dataclass
class Footage:
    frames: np.ndarray  # [T, H, W, 3] uint8
    fps: float
    shots: list[dict[str, Any]]
    transitions: list[dict[str, Any]]
    boundaries: list[int]

    def truth(self) -> dict[str, Any]:
        """The JSON-able ground truth."""
        return {
            "fps": self.fps,
            "num_frames": int(len(self.frames)),
            "boundaries": self.boundaries,
            "shots": self.shots,
            "transitions": self.transitions,
        }


def shot_durations(rng: np.random.Generator, total_seconds: float) -> list[float]:
    """Shot lengths in seconds summing to about `total_seconds`: one shorter than 2 s, one longer
    than 60 s when the total allows it, the rest 3-15 s, in random order."""
    durations = [float(rng.uniform(1.0, 1.8))]
    if total_seconds >= 90:
        durations.append(float(rng.uniform(61, 66)))
    while sum(durations) < total_seconds - 3:
        durations.append(float(min(rng.uniform(3, 15), max(3.0, total_seconds - sum(durations)))))
    return [durations[i] for i in rng.permutation(len(durations))]


def _blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    return np.round(a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha).astype(np.uint8)


def make_footage(
    seed: int,
    *,
    durations: list[float] | None = None,
    total_seconds: float = 120.0,
    size: int | tuple[int, int] = (72, 128),
    fps: float = 10.0,
    transition_seconds: float = 0.8,
    scenarios: list[str] | None = None,
) -> Footage:
    """Render shots of random scenarios and join them with random transitions, in memory.

    Args:
        durations: shot lengths in seconds (default: `shot_durations(rng, total_seconds)`).
        transition_seconds: length of dissolves and fades (cuts take none).
        scenarios: pool to draw from (default: every scenario; `drive` only for shots <= 25 s,
            its road is finite).
    """
    rng = np.random.default_rng([seed, 31])
    durations = shot_durations(rng, total_seconds) if durations is None else list(durations)
    if not durations or min(durations) <= 0:
        raise SimError(f"shot durations must be positive seconds, got {durations}")
    pool = list(scenarios or SCENARIOS)
    unknown = [s for s in pool if s not in SCENARIOS]
    if unknown:
        raise SimError(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    n_trans = max(2, int(round(transition_seconds * fps)))
    frames: list[np.ndarray] = []
    shots, transitions, boundaries = [], [], []
    for i, seconds in enumerate(durations):
        length = max(1, int(round(seconds * fps)))
        choices = [s for s in pool if s != "drive" or seconds <= 25] or pool
        scenario = str(rng.choice(choices))
        move = "static" if SCENARIOS[scenario].build.__name__ == "drive" else str(rng.choice(MOVES))
        shot_seed = int(rng.integers(2**31))
        ep = make_episode(
            scenario, shot_seed, frames=length, size=size, fps=fps, camera_mode=move, masks=False, depth=False
        )
        clip = ep.frames[0]  # [T, H, W, 3]
        kind = "cut" if i == 0 else str(rng.choice(TRANSITIONS))
        # a gradual transition needs frames from both shots: fall back to a cut for very short ones
        if kind != "cut" and (len(clip) < 2 * n_trans or shots[-1]["end"] - shots[-1]["start"] < 2 * n_trans):
            kind = "cut"
        if i > 0 and kind == "cut":
            boundaries.append(len(frames))
            transitions.append({"kind": "cut", "start": len(frames), "end": len(frames)})
            start, offset = len(frames), 0
            frames.extend(clip)
        elif i > 0:
            span_start = len(frames) - (n_trans if kind == "dissolve" else n_trans // 2)
            if kind == "dissolve":
                for k in range(n_trans):
                    frames[span_start + k] = _blend(frames[span_start + k], clip[k], (k + 1) / (n_trans + 1))
                rest, offset = clip[n_trans:], n_trans
            else:
                h = n_trans // 2
                for k in range(h):
                    frames[span_start + k] = _blend(
                        frames[span_start + k], np.zeros_like(clip[0]), (k + 1) / h
                    )
                for k in range(h):
                    clip[k] = _blend(np.zeros_like(clip[k]), clip[k], k / h)
                frames.extend(clip[:h])
                rest, offset = clip[h:], h
            span_end = len(frames) if kind == "fade" else span_start + n_trans
            shots[-1]["end"] = span_start
            boundaries.append((span_start + span_end) // 2)
            transitions.append({"kind": kind, "start": span_start, "end": span_end})
            start = span_end
            frames.extend(rest)
        else:
            start, offset = 0, 0
            frames.extend(clip)
        shots.append(
            {
                "start": start,
                "end": len(frames),
                "scenario": scenario,
                "seed": shot_seed,
                "camera_mode": ep.meta["camera_mode"],
                "clip_frames": length,  # make_episode(scenario, seed, frames=clip_frames, camera_mode=...)
                "clip_offset": offset,  # episode frame shown at `start`
                "caption": ep.caption,
            }
        )
    return Footage(
        frames=np.stack(frames), fps=float(fps), shots=shots, transitions=transitions, boundaries=boundaries
    )


def write_footage(
    out: str | Path,
    *,
    videos: int = 1,
    seed: int = 0,
    total_seconds: float = 120.0,
    size: int | tuple[int, int] = (72, 128),
    fps: float = 10.0,
) -> list[dict[str, Any]]:
    """Write `footage_<k>.mp4` + `footage_<k>.json` (ground truth) for k < videos; skip existing."""

    out = Path(out)
    written = []
    with progress() as bar:
        task = bar.add_task(f"rendering {videos} footage videos", total=videos)
        for k in range(videos):
            video, truth = out / f"footage_{k:03d}.mp4", out / f"footage_{k:03d}.json"
            if not (video.is_file() and truth.is_file()):
                footage = make_footage(seed * 1000 + k, total_seconds=total_seconds, size=size, fps=fps)
                io.write(video, footage.frames, fps, crf=20, preset="veryfast")
                fs.write_json(truth, {"video": video.name, **footage.truth()})
            written.append({"video": str(video), "truth": str(truth)})
            bar.advance(task)
    return written
