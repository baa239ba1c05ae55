"""The latent / token cache (keyed by the tokenizer's and the data's fingerprints) and caption encoding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from worldsmith.data import ClipDataset, DataError, Selection, encode_captions, encode_clips


class PoolTokenizer:
    """A stand-in tokenizer: 4x spatial average pooling of each frame; counts the clips it encodes."""

    def __init__(self, discrete: bool = False):
        self.discrete, self.encoded = discrete, 0

    def check_input(self, x: torch.Tensor) -> None:
        assert x.shape[1] == 3

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, T, H, W] -> [B, 3, T, H/4, W/4]
        self.encoded += x.shape[0]
        y = F.avg_pool3d(x, (1, 4, 4))
        return (y * 4).round().long() if self.discrete else y


@pytest.fixture
def tok_dir(tmp_path):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "config.json").write_text('{"model": {}}')
    (folder / "model.safetensors").write_bytes(b"weights v1")
    return folder


def test_cache_values_captions_and_reuse(videos, tok_dir, tmp_path):
    tok = PoolTokenizer()
    enc = encode_clips(tok, tok_dir, videos, tmp_path / "cache", frames=8, size=(16, 24))
    clips = ClipDataset(videos, frames=8, size=(16, 24))  # no overlap: the cache's windows
    assert enc.values.shape == (len(clips), 3, 8, 4, 6) and tok.encoded == len(clips)
    torch.testing.assert_close(enc.values[3], tok.encode(clips[3][None])[0])  # batched = one at a time
    assert enc.captions == clips.captions and "from meta.json" in enc.captions and enc.fps == 10.0
    again = encode_clips(PoolTokenizer(), tok_dir, videos, tmp_path / "cache", frames=8, size=(16, 24))
    assert torch.equal(again.values, enc.values) and again.captions == enc.captions


@pytest.mark.parametrize("change", ["weights", "nested weights", "caption", "video", "geometry"])
def test_cache_rebuilds_when_tokenizer_data_or_geometry_change(videos, tok_dir, tmp_path, change):
    encode_clips(PoolTokenizer(), tok_dir, videos, tmp_path / "cache", frames=8, size=(16, 24))
    frames = 8
    if change == "weights":
        (tok_dir / "model.safetensors").write_bytes(b"weights v2")
    elif change == "nested weights":  # a diffusers folder keeps them in a sub-folder
        (tok_dir / "vae").mkdir()
        (tok_dir / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"vae")
    elif change == "caption":
        (videos / "txt.txt").write_text("a new caption")
    elif change == "video":
        (videos / "js.mp4").rename(videos / "js2.mp4")
    else:
        frames = 4
    tok = PoolTokenizer()
    enc = encode_clips(tok, tok_dir, videos, tmp_path / "cache", frames=frames, size=(16, 24))
    assert tok.encoded == len(enc.values) > 0
    assert change != "caption" or "a new caption" in enc.captions


def test_cache_of_curated_clips_follows_the_selection(curated, tok_dir, tmp_path):
    root, _ = curated
    tok = PoolTokenizer(discrete=True)
    enc = encode_clips(tok, tok_dir, root, tmp_path / "c", frames=16, size=(16, 16), name="tokens")
    assert enc.values.dtype == torch.int64 and len(enc.values) == 3
    pick = Selection.parse(["motion=0.4:"])
    enc = encode_clips(
        tok, tok_dir, root, tmp_path / "c", frames=16, size=(16, 16), name="tokens", selection=pick
    )
    assert enc.captions == ["a ball falls", ""] and tok.encoded == 5  # c, b: shard order


def test_other_local_ranks_read_the_cache_local_rank_0_writes(videos, tok_dir, tmp_path, monkeypatch):
    geometry = dict(frames=8, size=(16, 24))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(DataError, match="waited 0.2 s for local rank 0 to write the latents cache"):
        encode_clips(PoolTokenizer(), tok_dir, videos, tmp_path / "cache", **geometry, wait_s=0.2)
    monkeypatch.setenv("LOCAL_RANK", "0")
    built = encode_clips(PoolTokenizer(), tok_dir, videos, tmp_path / "cache", **geometry)
    monkeypatch.setenv("LOCAL_RANK", "1")
    tok = PoolTokenizer()
    read = encode_clips(tok, tok_dir, videos, tmp_path / "cache", **geometry, wait_s=0.2)
    assert tok.encoded == 0 and torch.equal(read.values, built.values)


class CountingEncoder:
    """A text encoder whose embedding of a caption is its length and a bag of its letters."""

    def __init__(self):
        self.batches: list[list[str]] = []

    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.batches.append(list(prompts))
        L = max(len(p) for p in prompts) + 1
        text = torch.zeros(len(prompts), L, 2)
        for i, p in enumerate(prompts):
            text[i, : len(p) + 1, 0] = len(p) + 1.0
            text[i, : len(p) + 1, 1] = float(sum(map(ord, p)))
        mask = text[..., 0] > 0
        return text, mask


def test_encode_captions_once_per_distinct_caption(monkeypatch):
    fake = CountingEncoder()
    monkeypatch.setattr("worldsmith.data.captions.load_text_encoder", lambda name: fake)
    captions = ["a ball", "", "a ball", "a cube", ""]
    text, mask, name = encode_captions(captions, "fake")
    assert name == "fake" and fake.batches == [["", "a ball", "a cube"]]  # each distinct caption once
    ref, ref_mask = CountingEncoder().encode(captions)  # all of them, duplicates included
    ref[torch.tensor([c == "" for c in captions])] = 0.0  # empty captions are the null text
    assert torch.equal(text, ref) and torch.equal(mask, ref_mask)
    kept, _, _ = encode_captions(captions, "fake", empty_is_null=False)
    assert kept[1].abs().sum() > 0
    assert encode_captions(["", " "], "fake") == (None, None, "none")
    assert encode_captions(captions, "none") == (None, None, "none")
