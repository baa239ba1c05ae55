"""The ceiling of `posttrain_multiview.py` (``--ceiling``): before any world model, can the representation
it works on carry the targets? Every row scores frames that a perfect generator on that representation
would produce: the true held-out rigs passed through it.

- Tokenizers trained by the base's recipe (tiny widths, L1, batch 4, lr 1e-3) on the training rigs'
  clips: CV4x8x8 (the benchmark's) and CV4x4x4, with and without the low-pass shortcut.
- The linear bound of a latent size: PCA of the true pixels in blocks of t frames x s x s pixels x 3,
  k components kept (fitted on the training clips; frame 0 is given, as in Video2World).
- Pixel references: the true frames blurred (Gaussian sigma), a frozen video (frame 0 repeated: what
  the generated rigs' ego motion scored in the last runs).
- The trajectory target for a perfect model: the ego path recovered from each true front video vs its
  own trajectory and vs the other held-out rigs' (a model that makes realistic motion but ignores
  the requested trajectory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from posttrain_action import _l1
from worldsmith.eval.geometry import ego_motion_direct, trajectory_error
from worldsmith.runs import seeded_init, torch_threads
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset
from worldsmith.train import TrainConfig, Trainer
from worldsmith.video.transforms import to_model, to_uint8

VARIANTS = (  # name, spatial compression, low-pass shortcut, training steps
    ("CV4x8x8 + low-pass shortcut", 8, True, 300),
    ("CV4x4x4 + low-pass shortcut", 4, True, 300),
    ("CV4x4x4", 4, False, 300),
    ("CV4x4x4", 4, False, 1000),
)
PCA = ((4, 8, 16), (4, 4, 16), (4, 4, 64), (1, 4, 16), (1, 4, 32))  # frames t, pixels s, components k
BLUR = (0.5, 1.0)


def train_variant(folder: Path, x: torch.Tensor, spatial: int, shortcut: bool, steps: int) -> CausalTokenizer:
    """The base's tokenizer recipe (`posttrain_action.fit_base`) at `spatial` compression, from scratch."""
    if not (folder / "tokenizer" / "config.json").is_file():
        cfg = replace(get_preset("tiny-cv4x8x8"), encoder_channels=(16, 32, 32, 32),
                      decoder_channels=(16, 32, 32, 32), num_res_blocks=1, lowpass_shortcut=shortcut,
                      spatial_compression=spatial)  # fmt: skip
        with seeded_init(0):
            tok = CausalTokenizer(cfg)
        tcfg = TrainConfig(steps=steps, batch_size=4, lr=1e-3, betas=(0.5, 0.999), warmup_steps=20,
                           log_every=50, tensorboard=False)  # fmt: skip
        with torch_threads(1):
            Trainer(tcfg, tok, _l1, list(x), out=folder).fit()
        tok.save_pretrained(folder / "tokenizer")
    return CausalTokenizer.from_pretrained(folder / "tokenizer").eval()


@torch.no_grad()
def reconstruct(tok: CausalTokenizer, rigs: torch.Tensor) -> torch.Tensor:
    """Rigs uint8 ``[N, V, F, H, W, 3]`` encoded and decoded clip by clip -> the same shape."""
    x = torch.stack([to_model(c) for c in rigs.flatten(0, 1)])  # [N V, 3, F, H, W]
    y = torch.cat([tok.decode(tok.encode(x[i : i + 6])) for i in range(0, len(x), 6)])
    return torch.stack([to_uint8(c) for c in y]).view(rigs.shape)


def blurred(rigs: torch.Tensor, sigma: float) -> torch.Tensor:
    flat = rigs.numpy().reshape(-1, *rigs.shape[-3:])
    return torch.from_numpy(np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in flat]).reshape(rigs.shape))


def _blocks(v: np.ndarray, t: int, s: int) -> np.ndarray:
    """Clips ``[N, F, H, W, 3]`` (F % t == 0) -> rows ``[N F/t H/s W/s, t s s 3]``."""
    N, F, H, W, C = v.shape
    b = v.reshape(N, F // t, t, H // s, s, W // s, s, C).transpose(0, 1, 3, 5, 2, 4, 6, 7)
    return b.reshape(-1, t * s * s * C)


def _unblocks(rows: np.ndarray, shape: tuple, t: int, s: int) -> np.ndarray:
    N, F, H, W, C = shape
    b = rows.reshape(N, F // t, H // s, W // s, t, s, s, C).transpose(0, 1, 4, 2, 5, 3, 6, 7)
    return b.reshape(shape)


def pca_codec(train: torch.Tensor, rigs: torch.Tensor, t: int, s: int, k: int) -> torch.Tensor:
    """Rigs ``[N, V, F, H, W, 3]`` with frames 1.. coded by the k leading principal components of
    t x s x s x 3 blocks of the training clips ``[M, F, H, W, 3]``; frame 0 as given."""
    rows = _blocks(train[:, 1:].numpy().astype(np.float64), t, s)
    mean = rows.mean(0)
    basis = np.linalg.svd(rows[::7] - mean, full_matrices=False)[2][:k]  # [k, t s s 3]
    rest = rigs.flatten(0, 1)[:, 1:].numpy().astype(np.float64)
    coded = (_blocks(rest, t, s) - mean) @ basis.T @ basis + mean
    out = rigs.clone().flatten(0, 1)
    out[:, 1:] = torch.from_numpy(
        np.clip(_unblocks(coded, rest.shape, t, s), 0, 255).round().astype(np.uint8)
    )
    return out.view(rigs.shape)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return float(10 * np.log10(255**2 / mse)) if mse > 0 else float("inf")


def trajectory_ratio(rigs: torch.Tensor, trajs: torch.Tensor, truths: list[dict], front: int) -> dict:
    """The ego path of each true front video vs its own trajectory and vs the other rigs' (metres)."""
    est = [ego_motion_direct(r[front], **truth) for r, truth in zip(rigs.numpy(), truths, strict=True)]
    ate = np.array([[trajectory_error(e, t) for t in trajs.numpy()] for e in est])  # [video, trajectory]
    own, other = float(np.diag(ate).mean()), float(ate[~np.eye(len(ate), dtype=bool)].mean())
    return {"own_m": own, "other_m": other, "ratio": own / other}


def ceiling(cache: Path, train: torch.Tensor, test, truths: list[dict], score: Callable, front: int) -> dict:
    """Rows (score + PSNR) of every representation, the perfect-model trajectory ratio, and targets.
    `train`: training clips uint8 ``[M, F, H, W, 3]``; `test`: `read_rig_clips` of the held-out rigs."""
    rigs, trajs = test.frames, test.trajectory
    x = torch.stack([to_model(c) for c in train])  # [M, 3, F, H, W]
    frozen = rigs[:, :, :1].expand_as(rigs).contiguous()
    cases = {"true rigs": rigs, "frozen video (frame 0 repeated)": frozen}
    cases |= {f"true, Gaussian blur sigma {s:g}": blurred(rigs, s) for s in BLUR}
    cases |= {
        f"PCA t{t} s{s} k{k} ({t * s * s * 3} -> {k})": pca_codec(train, rigs, t, s, k) for t, s, k in PCA
    }
    for name, spatial, shortcut, steps in VARIANTS:
        folder = cache / "ceiling" / f"tok_s{spatial}_{'lp' if shortcut else 'plain'}_{steps}"
        cases[f"{name}, {steps} steps"] = reconstruct(
            train_variant(folder, x, spatial, shortcut, steps), rigs
        )
    if (cache / "base" / "model" / "tokenizer").is_dir():
        base = CausalTokenizer.from_pretrained(cache / "base" / "model" / "tokenizer").eval()
        cases["the last run's base tokenizer (CV4x8x8 + low-pass)"] = reconstruct(base, rigs)
    rows = {
        name: {**score(r, trajs, truths), "psnr_db": psnr(r[:, :, 1:], rigs[:, :, 1:])}
        for name, r in cases.items()
    }
    perfect = trajectory_ratio(rigs, trajs, truths, front)
    tokenizers = {n: r for n, r in rows.items() if "steps" in n or "base tokenizer" in n}
    scorable = [r["cse_px"] for r in tokenizers.values() if r["cse_finite"] == len(rigs)]
    best_cse = min(scorable) if scorable else None
    best_ate = min(r["ate_m"] for r in tokenizers.values())
    true, still = rows["true rigs"]["cse_px"], rows["frozen video (frame 0 repeated)"]["ate_m"]
    targets = [
        {"target": "a tokenizer's reconstruction: CSE on every held-out rig, <= 1.5x the true rigs'",
         "value": best_cse, "reference": 1.5 * true, "met": best_cse is not None and best_cse <= 1.5 * true},
        {"target": "a tokenizer's reconstruction: front ATE <= 0.5x a frozen video's (no-trajectory runs)",
         "value": best_ate, "reference": 0.5 * still, "met": best_ate <= 0.5 * still},
        {"target": "a perfect model (true video): ATE vs its own trajectory <= 0.5x vs another rig's",
         "value": perfect["ratio"], "reference": 0.5, "met": perfect["ratio"] <= 0.5},
    ]  # fmt: skip
    return {"rows": rows, "perfect_model_trajectory": perfect, "targets": targets}
