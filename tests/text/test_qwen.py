"""A Qwen2.5-VL-family model as Cosmos Predict 2.5's text encoder, checked against diffusers' own
prompt embedding code on a tiny random model and tokenizer saved by transformers."""

from __future__ import annotations

import types

import pytest
import torch

from worldsmith.text.encoders import QwenVLTextEncoder, TextEncoderError, load_text_encoder

transformers = pytest.importorskip("transformers")

WORDS = "a red ball rolls down the ramp box falls"
WORDS += " you are helpful assistant who will provide prompts to an image generator ."
CHAT = (
    "{% for m in messages %}<|im_start|> {{ m['role'] }} "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}{{ c['text'] }}"
    "{% endfor %}{% endif %} <|im_end|> {% endfor %}"
)


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers

    path = tmp_path_factory.mktemp("qwen")
    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<|im_start|>", "<|im_end|>", "system", "user"])}
    for w in WORDS.split():
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )  # fmt: skip
    fast.chat_template = CHAT
    fast.save_pretrained(path)
    text = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
                num_key_value_heads=1, vocab_size=64, max_position_embeddings=128,
                rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]})  # fmt: skip
    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=16,
                  patch_size=2, spatial_merge_size=1, temporal_patch_size=1, window_size=4,
                  fullatt_block_indexes=[0])  # fmt: skip
    config = transformers.Qwen2_5_VLConfig(text_config=text, vision_config=vision, vocab_size=64)
    torch.manual_seed(0)
    transformers.Qwen2_5_VLForConditionalGeneration(config).save_pretrained(path)
    return path


def test_matches_diffusers_cosmos25_prompt_embeddings(qwen_dir):
    predict25 = pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos2_5_predict")
    enc = QwenVLTextEncoder(qwen_dir, max_length=24)
    assert enc.dim == 3 * 16  # every layer, side by side
    prompts = ["a red ball rolls down the ramp", "a box falls"]
    emb, mask = enc.encode(prompts)
    assert emb.shape == (2, 24, 48) and mask.all()
    host = types.SimpleNamespace(tokenizer=enc.tokenizer, text_encoder=enc.model)
    ref = predict25.Cosmos2_5_PredictBasePipeline._get_prompt_embeds(
        host, prompt=prompts, max_sequence_length=24, device="cpu", dtype=torch.float32
    )
    torch.testing.assert_close(emb, ref)
    # each layer's slice is normalised per token: mean 0, unbiased std 1
    first = emb[..., :16]
    torch.testing.assert_close(first.mean(-1), torch.zeros(2, 24), atol=1e-5, rtol=0)
    torch.testing.assert_close(first.std(-1), torch.ones(2, 24), atol=1e-4, rtol=0)


def test_directory_spec_and_errors(qwen_dir, tmp_path):
    assert isinstance(load_text_encoder(f"qwen:{qwen_dir}"), QwenVLTextEncoder)
    assert isinstance(load_text_encoder(str(qwen_dir)), QwenVLTextEncoder)  # by its config's model_type
    with pytest.raises(TextEncoderError, match="qwen"):
        QwenVLTextEncoder(tmp_path / "missing")
    with pytest.raises(TextEncoderError, match="list of prompt strings"):
        load_text_encoder(f"qwen:{qwen_dir}").encode("one string")
