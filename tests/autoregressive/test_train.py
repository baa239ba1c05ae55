"""Training through the shared Trainer: overfit one batch; Medusa heads learn the future."""

from __future__ import annotations

import torch
from ar_tiny import tiny_config

from worldsmith.autoregressive.generate import generate
from worldsmith.autoregressive.gpt import GPT
from worldsmith.autoregressive.medusa import MedusaConfig, MedusaHeads, MedusaModel, medusa_generate
from worldsmith.autoregressive.objective import ARObjective, MedusaObjective
from worldsmith.autoregressive.recipes import TokenDataset
from worldsmith.autoregressive.sampling import GREEDY
from worldsmith.train import TrainConfig, Trainer


def _cfg(steps: int, lr: float) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=2, lr=lr, warmup_steps=5, log_every=50, tensorboard=False,
                       device="cpu", min_lr_ratio=1.0)  # fmt: skip


def test_overfit_one_batch_then_medusa_heads_learn_and_stay_exact(tmp_path):
    torch.manual_seed(0)
    tokens = torch.randint(0, 64, (2, 4, 3, 3))  # one batch of DV indices [B, T, H, W]
    text = torch.randn(2, 3, 16)
    mask = torch.ones(2, 3, dtype=torch.bool)
    batch = {"tokens": tokens, "text": text, "text_mask": mask}
    model = GPT(tiny_config())
    objective = ARObjective()
    with torch.no_grad():
        start = objective(model, batch)[0].item()
    data = TokenDataset(tokens, text, mask)  # batch_size 2: every batch is this one batch
    result = Trainer(_cfg(100, 1e-2), model, objective, data, out=tmp_path / "ar").fit()
    with torch.no_grad():
        end = objective(model.eval(), batch)[0].item()
    assert end < 0.1 * start, (start, end, result)

    # The trained model continues each clip from its first latent frame (memorised).
    prefix = tokens.flatten(1)[:, :9]
    out = generate(model, prefix, 27, text=text, sampling=GREEDY)
    assert (out == tokens.flatten(1)).float().mean() > 0.9

    # Medusa-1: frozen base, heads only.
    heads = MedusaHeads(MedusaConfig(dim=48, heads=3))
    medusa = MedusaModel(model, heads, freeze_base=True)
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(_cfg(80, 1e-2), medusa, MedusaObjective(max_positions=20), data, out=tmp_path / "medusa").fit()
    assert all(torch.equal(frozen[k], v) for k, v in model.state_dict().items())
    for i in range(2):
        stats: dict = {}
        got = medusa_generate(model, heads.eval(), prefix[i : i + 1], 27, text=text[i : i + 1],
                              sampling=GREEDY, stats=stats)  # fmt: skip
        assert torch.equal(got, out[i : i + 1])
        assert stats["mean_accepted"] > 2.0, stats  # 3 heads: up to 4 tokens per pass


def test_medusa_loss_on_all_positions_equals_a_full_subset():
    torch.manual_seed(0)
    base = GPT(tiny_config(text_dim=None))
    heads = MedusaHeads(MedusaConfig(dim=48, heads=3))
    for p in heads.parameters():
        torch.nn.init.normal_(p, std=0.3)
    model = MedusaModel(base, heads)
    tokens = torch.randint(0, 64, (2, 4, 3, 3))
    full, metrics = MedusaObjective()(model, tokens)
    same, _ = MedusaObjective(max_positions=35)(model, tokens)
    torch.testing.assert_close(full, same)
    sub = torch.stack([MedusaObjective(max_positions=12)(model, tokens)[0] for _ in range(200)]).mean()
    assert abs(sub - full) < 0.05 * full  # a random subset estimates the same loss
    assert set(metrics) == {"head1_acc", "head2_acc", "head3_acc"}


def test_ar_loss_is_next_token_cross_entropy_and_a_subset_estimates_it():
    torch.manual_seed(0)
    model = GPT(tiny_config(text_dim=None))
    tokens = torch.randint(0, 64, (2, 4, 3, 3))
    full, _ = ARObjective()(model, tokens)
    flat = tokens.flatten(1)
    logits = model(flat[:, :-1])  # [2, 35, V]; the first latent frame (9 tokens) is never a target
    want = torch.nn.functional.cross_entropy(logits[:, 8:].flatten(0, 1), flat[:, 9:].flatten())
    torch.testing.assert_close(full, want)
    torch.testing.assert_close(ARObjective(max_positions=35)(model, tokens)[0], full)
    sub = torch.stack([ARObjective(max_positions=12)(model, tokens)[0] for _ in range(200)]).mean()
    assert abs(sub - full) < 0.05 * full
