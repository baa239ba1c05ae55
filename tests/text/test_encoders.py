"""Text encoders: MiniLM token states vs sentence-transformers, a tiny random T5 from a config, errors."""

from __future__ import annotations

import shutil

import pytest
import torch

from worldsmith.text import encoders
from worldsmith.text.encoders import TextEncoder, TextEncoderError, load_text_encoder

PROMPTS = ["a robot arm stacks two red cubes", "cars drive along a wet road at night under street lights"]


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm")


def test_minilm_token_states_pool_to_the_sentence_transformers_embedding(minilm):
    from sentence_transformers import SentenceTransformer

    emb, mask = minilm.encode(PROMPTS)
    assert isinstance(minilm, TextEncoder) and minilm.dim == 384
    assert emb.shape[0] == 2 and emb.shape[2] == 384 and mask.shape == emb.shape[:2]
    assert mask[0].sum() < mask[1].sum()  # the first prompt is shorter: padded
    assert emb[0][~mask[0]].abs().max() == 0  # padded positions are zero
    pooled = emb.sum(1) / mask.sum(1, keepdim=True)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    ref = SentenceTransformer(str(encoders.minilm_dir()), device="cpu").encode(
        PROMPTS, convert_to_tensor=True
    )
    torch.testing.assert_close(pooled, ref.float(), atol=1e-5, rtol=1e-4)


def test_minilm_is_deterministic_and_prompt_sensitive(minilm):
    a, _ = minilm.encode(PROMPTS[:1])
    b, _ = minilm.encode(PROMPTS[:1])
    c, _ = minilm.encode(["a dog"])
    torch.testing.assert_close(a, b)
    assert a.shape != c.shape or not torch.allclose(a, c)
    with pytest.raises(TextEncoderError, match="list"):
        minilm.encode("not a list")


def test_tiny_random_t5_from_a_local_directory(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.T5Config(
        vocab_size=30522, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2, pad_token_id=0
    )
    torch.manual_seed(0)
    model = transformers.T5EncoderModel(cfg).eval()
    model.save_pretrained(tmp_path)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(encoders.minilm_dir() / f, tmp_path / f)  # any tokenizer exercises the loading path
    for spec in (f"t5:{tmp_path}", str(tmp_path)):
        enc = load_text_encoder(spec)
        assert enc.dim == 16
        emb, mask = enc.encode(PROMPTS)
        tok = enc.tokenizer(PROMPTS, padding=True, return_tensors="pt")
        with torch.no_grad():
            ref = model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]).last_hidden_state
        torch.testing.assert_close(emb, ref * tok["attention_mask"][..., None], atol=1e-6, rtol=1e-5)


def test_missing_encoder_names_the_fix(tmp_path):
    with pytest.raises(TextEncoderError, match="not available locally"):
        load_text_encoder(f"t5:{tmp_path / 'nope'}")
    with pytest.raises(TextEncoderError, match="not available locally"):
        load_text_encoder("t5:google-t5/t5-11b")
    with pytest.raises(TextEncoderError, match="unknown text encoder"):
        load_text_encoder("clip")
