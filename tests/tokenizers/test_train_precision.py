"""`train_tokenizer` in bfloat16 autocast and through `torch.compile` (the fast CPU recipe)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from worldsmith.data import ClipDataset
from worldsmith.errors import ConfigError
from worldsmith.tokenizers.model import CausalTokenizer, causal_block_mean, causal_block_upsample
from worldsmith.tokenizers.train import train_tokenizer
from worldsmith.video.transforms import to_uint8

SMALL = {"encoder_channels": (16, 32, 32, 32), "decoder_channels": (16, 32, 32, 32), "num_res_blocks": 1,
         "lowpass_shortcut": True}  # fmt: skip


def _one_clip() -> tuple[ClipDataset, torch.Tensor]:
    torch.manual_seed(0)
    x = F.interpolate(torch.rand(1, 3, 3, 4, 4) * 2 - 1, size=(9, 16, 16), mode="trilinear")
    video = to_uint8(x[0])  # uint8 [T, H, W, 3]
    data = ClipDataset([video], frames=9)
    return data, data[0][None]


def test_bf16_training_overfits_one_clip_below_the_block_mean_codec(tmp_path):
    """Under bfloat16 autocast the weights and AdamW state stay float32 and the tokenizer still learns
    the residual over the block-mean codec it starts as (the float32 test of this is in test_overfit)."""
    data, x = _one_clip()
    codec = (causal_block_upsample(causal_block_mean(x, 4, 8), 4, 8) - x).abs().mean().item()
    model, result = train_tokenizer(
        "tiny-cv4x8x8", data, tmp_path, steps=200, batch_size=1, overrides=SMALL, precision="bf16"
    )
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        l1 = (model(x)[0] - x).abs().mean().item()  # evaluated in float32
    assert l1 < 0.4 * codec, (codec, l1)
    assert result["last_step_time_s"] > 0


@pytest.mark.slow  # inductor compiles the encoder's and decoder's forward and backward: ~85 s cold
def test_compiled_training_returns_the_saved_plain_model(tmp_path):
    data, x = _one_clip()
    model, _ = train_tokenizer(
        "tiny-cv4x8x8", data, tmp_path, steps=2, batch_size=1, overrides=SMALL, precision="bf16", compile=True
    )
    # (nn.Module.compile() keeps its compiled call here: inference would recompile and trace the cache)
    assert model.encoder._compiled_call_impl is None and model.decoder._compiled_call_impl is None
    saved = CausalTokenizer.from_pretrained(tmp_path / "tokenizer").eval()
    with torch.no_grad():
        assert torch.equal(model.decode(model.encode(x)), saved.decode(saved.encode(x)))


def test_bad_precision_names_the_choices(tmp_path):
    data, _ = _one_clip()
    with pytest.raises(ConfigError, match="precision"):
        train_tokenizer("tiny-cv4x8x8", data, tmp_path, steps=1, overrides=SMALL, precision="fp8")
