"""Video content-safety classifier (post-guard): NudeNet's ONNX detector on sampled frames.

Cosmos's video guard (arXiv 2501.03575, Sec. 7.2) classifies frames sampled from the generated
video and blocks the video when any frame is unsafe. Offline, the `nudenet` wheel ships a
YOLOv8-n detector (`nudenet/320n.onnx`, 18 body-part classes, 320 x 320 input); we run it with
onnxruntime on up to `max_frames` evenly spaced frames (about 2 per second at 24 fps), take each
frame's score as the highest confidence of an *exposed* class, and block the video when at least
`min_unsafe_frames` frames score >= `threshold` (default 2 frames, not Cosmos's 1: a single
spurious detection should not block a video). Known false positive: cartoon characters' bellies
(Big Buck Bunny scores up to 0.79 as FEMALE_BREAST_EXPOSED).

The detector covers sexual content only; the other Cosmos classes (violence, gore, hate symbols)
have no offline image model in a wheel, so prompts for them are stopped by the pre-guards.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from worldsmith.guardrails.base import GuardrailError, Verdict

# Output classes of 320n.onnx, in order (from the nudenet package).
LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)  # fmt: skip
UNSAFE_LABELS = (
    "FEMALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
)  # fmt: skip
INPUT_SIZE = 320


def nudenet_model_path() -> Path:
    """`320n.onnx` inside the installed nudenet wheel (found without importing nudenet)."""
    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        raise GuardrailError("the video safety classifier needs the nudenet wheel: pip install nudenet")
    return Path(next(iter(spec.submodule_search_locations))) / "320n.onnx"


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels


def preprocess(frames: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """RGB uint8 [N, H, W, 3] -> padded (bottom/right) square, resized: float32 [N, 3, size, size] in [0, 1].

    Channels go in B, G, R order: that is what nudenet's own `detect(image_path)` feeds the model
    (cv2.imread gives BGR, its RGBA2BGR conversion swaps to RGB, `blobFromImage(swapRB=True)` swaps
    back), so we match its reference use. Returns the batch and the model-to-frame pixel factor.
    """
    n, h, w, _ = frames.shape
    side = max(h, w)
    batch = np.empty((n, 3, size, size), np.float32)
    for k, frame in enumerate(frames):
        padded = cv2.copyMakeBorder(frame, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT, value=0)
        resized = cv2.resize(padded, (size, size), interpolation=cv2.INTER_LINEAR)  # [size, size, 3]
        batch[k] = resized[..., ::-1].transpose(2, 0, 1) / 255.0  # [3, size, size], BGR
    return batch, side / size


def frame_scores(output: np.ndarray, unsafe: tuple[int, ...]) -> np.ndarray:
    """YOLOv8 output [N, 4 + C, A] -> each frame's highest unsafe-class confidence: [N]."""
    return output[:, 4:, :][:, list(unsafe), :].max(axis=(1, 2))


def decode(
    output: np.ndarray, scale: float, width: int, height: int, min_score: float = 0.2
) -> list[Detection]:
    """One frame's YOLOv8 output [4 + C, A] -> detections after NMS (IoU 0.45), as nudenet does."""
    rows = output.T  # [A, 4 + C]
    cls_scores = rows[:, 4:]
    best = cls_scores.argmax(1)
    conf = cls_scores[np.arange(len(rows)), best]
    keep = conf >= min_score
    boxes, scores, classes = [], [], []
    for (cx, cy, bw, bh), s, c in zip(rows[keep, :4], conf[keep], best[keep], strict=True):
        x, y = max(0.0, (cx - bw / 2) * scale), max(0.0, (cy - bh / 2) * scale)
        x, y = min(x, width), min(y, height)
        boxes.append([x, y, min(bw * scale, width - x), min(bh * scale, height - y)])
        scores.append(float(s))
        classes.append(int(c))
    idx = cv2.dnn.NMSBoxes(boxes, scores, 0.25, 0.45) if boxes else []
    return [
        Detection(LABELS[classes[i]], scores[i], tuple(int(v) for v in boxes[i]))  # type: ignore[arg-type]
        for i in np.asarray(idx).reshape(-1)
    ]


def sample_indices(num_frames: int, every: int, max_frames: int) -> np.ndarray:
    """Evenly spaced indices, about one per `every` frames, first and last included, <= max_frames."""
    count = min(num_frames, max_frames, max(1, -(-num_frames // every) + 1))
    return np.unique(np.linspace(0, num_frames - 1, count).round().astype(int))


def aggregate(scores: np.ndarray, threshold: float, min_unsafe_frames: int) -> tuple[bool, int]:
    """(unsafe, number of unsafe frames): unsafe when >= min_unsafe_frames frames score >= threshold."""
    n_unsafe = int((np.asarray(scores) >= threshold).sum())
    return n_unsafe >= min_unsafe_frames, n_unsafe


class VideoSafety:
    """Post-guard: block a uint8 [T, H, W, 3] video when NudeNet finds exposed body parts."""

    name = "video_safety"

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        threshold: float = 0.6,
        min_unsafe_frames: int = 2,
        every: int = 12,
        max_frames: int = 64,
        batch_size: int = 8,
        threads: int = 2,
        unsafe_labels: tuple[str, ...] = UNSAFE_LABELS,
    ):
        self.model_path = Path(model_path) if model_path is not None else None
        self.threshold, self.min_unsafe_frames = threshold, min_unsafe_frames
        self.every, self.max_frames, self.batch_size, self.threads = every, max_frames, batch_size, threads
        unknown = set(unsafe_labels) - set(LABELS)
        if unknown or not unsafe_labels:
            raise GuardrailError(f"video safety labels must be a non-empty subset of {list(LABELS)}")
        self.unsafe_labels = tuple(unsafe_labels)
        self.unsafe = tuple(LABELS.index(label) for label in unsafe_labels)
        self._session = None

    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort

            path = self.model_path or nudenet_model_path()
            if not path.is_file():
                raise GuardrailError(
                    f"video safety model '{path}' is missing; reinstall nudenet (pip install nudenet)"
                )
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.log_severity_level = 3
            try:
                self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            except Exception as err:  # onnxruntime raises its own untyped errors for bad files
                raise GuardrailError(f"video safety model '{path}' cannot be loaded ({err})") from None
        return self._session

    def _run(self, frames: np.ndarray) -> np.ndarray:
        batch, _ = preprocess(frames)
        name = self.session.get_inputs()[0].name
        return self.session.run(None, {name: batch})[0]  # [N, 4 + C, A]

    def scores(self, frames: np.ndarray) -> np.ndarray:
        """Highest exposed-class confidence of each frame: [N]."""
        out = [self._run(frames[i : i + self.batch_size]) for i in range(0, len(frames), self.batch_size)]
        return np.concatenate([frame_scores(o, self.unsafe) for o in out]) if out else np.zeros(0)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """All detections in one RGB frame (for inspection and parity with nudenet)."""
        _, scale = preprocess(frame[None])
        return decode(self._run(frame[None])[0], scale, frame.shape[1], frame.shape[0])

    def check(self, frames: np.ndarray) -> Verdict:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"video safety needs uint8 [T, H, W, 3] frames, got {frames.dtype} {list(frames.shape)}"
            )
        idx = sample_indices(len(frames), self.every, self.max_frames)
        scores = self.scores(frames[idx])
        unsafe, n = aggregate(scores, self.threshold, self.min_unsafe_frames)
        if not unsafe:
            return Verdict.allow(self.name, f"{len(idx)} frames checked, max score {scores.max():.2f}")
        what = (
            "exposed nudity"
            if set(self.unsafe_labels) == set(UNSAFE_LABELS)
            else "/".join(self.unsafe_labels)
        )
        return Verdict.block(
            f"{n} of {len(idx)} sampled frames show {what} (max score {scores.max():.2f})",
            "sexual",
            self.name,
        )
