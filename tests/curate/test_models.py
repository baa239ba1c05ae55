"""Model-backed captioner and embedder loading code, offline, with tiny random models built from
configs (no VLM or CLIP weights ship offline)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from curate_helpers import make_video  # noqa: E402

from worldsmith.curate.stages.caption import CaptionConfig, CaptionStage  # noqa: E402
from worldsmith.curate.tasks import ClipTask  # noqa: E402

transformers = pytest.importorskip("transformers")


def _tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<unk>", "<pad>", "<s>", "</s>", "<image>"] + [f"w{i}" for i in range(59)]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )  # fmt: skip


def _image_processor():
    return transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


def _vision_config():
    return transformers.CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
        patch_size=8, projection_dim=16,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    """A randomly initialised LLaVA (CLIP vision tower + 1-layer Llama) with its processor."""
    tok = _tiny_tokenizer()
    proc = transformers.LlavaProcessor(
        image_processor=_image_processor(), tokenizer=tok, patch_size=8,
        vision_feature_select_strategy="default", image_token="<image>", num_additional_image_tokens=1,
    )  # fmt: skip
    text = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=256,
    )  # fmt: skip
    config = transformers.LlavaConfig(vision_config=_vision_config(), text_config=text, image_token_index=4)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vlm") / "tiny-llava"
    transformers.LlavaForConditionalGeneration(config).save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder


def test_vlm_captioner_captions_a_clip_and_sidecars_win(tiny_vlm, tmp_path):
    video = make_video(tmp_path / "v.mp4", [(1, 2.0, 2.0)])
    stage = CaptionStage(
        CaptionConfig(backend="vlm", model=str(tiny_vlm), frames=2, max_new_tokens=4, prompt="w1 w2")
    )
    clip = ClipTask(
        clip_id="v_0", source=str(video), start=0, end=20, fps=10.0, path=str(video), num_frames=20
    )
    stage.process_clip(clip)
    assert clip.caption_source == f"vlm:{tiny_vlm}"
    assert clip.caption and all(w.startswith("w") for w in clip.caption.split())  # words of the tiny vocab
    again = ClipTask(
        clip_id="v_0", source=str(video), start=0, end=20, fps=10.0, path=str(video), num_frames=20
    )
    stage.process_clip(again)
    assert again.caption == clip.caption  # greedy decoding: deterministic
    (tmp_path / "v.txt").write_text("ground truth caption")
    stage.process_clip(again)
    assert (again.caption, again.caption_source) == ("ground truth caption", "sidecar:v.txt")


def test_vlm_missing_model_is_a_clear_error(tmp_path):
    from worldsmith.curate.stages.vlm import VLMCaptioner
    from worldsmith.errors import WorldsmithError

    with pytest.raises(WorldsmithError, match="caption.model"):
        VLMCaptioner(str(tmp_path / "no-such-model"))


def test_hf_image_embedder_from_a_local_folder(tmp_path):
    from worldsmith.curate.stages.embed import HFImageEmbedder

    torch.manual_seed(0)
    folder = tmp_path / "tiny-clip-vision"
    transformers.CLIPVisionModel(_vision_config()).save_pretrained(folder)
    _image_processor().save_pretrained(folder)
    embedder = HFImageEmbedder(str(folder))
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)
    v = embedder.embed(frames)
    assert v.shape == (16,) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert float(v @ embedder.embed(frames)) == pytest.approx(1.0, abs=1e-5)


def test_tokenizer_embedder_pools_our_tokenizer_latents(tmp_path):
    from worldsmith.curate.stages.embed import TokenizerEmbedder
    from worldsmith.tokenizers import CausalTokenizer, get_preset

    torch.manual_seed(0)
    CausalTokenizer(get_preset("tiny-cv4x8x8")).save_pretrained(tmp_path / "tok")
    embedder = TokenizerEmbedder(str(tmp_path / "tok"), size=(32, 32))
    frames = np.random.default_rng(0).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    v = embedder.embed(frames)
    assert v.ndim == 1 and v.shape[0] % 2 == 0 and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert float(v @ embedder.embed(frames[::-1])) < 0.9999  # frame order matters
