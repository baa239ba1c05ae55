"""Action conditioning of the AR world model: step 0 = the base, KV-cached decoding stays exact with
actions, logits never see later actions, bad actions, and a LoRA run that learns to follow actions."""

from __future__ import annotations

import pytest
import torch

from worldsmith.autoregressive.generate import generate, video2world
from worldsmith.autoregressive.gpt import GPT, GPTConfig
from worldsmith.autoregressive.sampling import GREEDY
from worldsmith.posttrain.action import ActionConfig, ActionError
from worldsmith.posttrain.ar_action import AR_LORA_TARGETS, ActionGPT, ARActionObjective
from worldsmith.posttrain.lora import LoRAConfig, add_lora, trainable_parameters
from worldsmith.train import TrainConfig, Trainer

# 4 latent frames of 3x3 tokens; 2 video frames per latent frame -> a clip of 7 frames, 6 actions.
CFG = GPTConfig(codebook_size=64, dim=48, layers=2, heads=4, kv_heads=2, head_dim=12, ffn_hidden=96,
                latent_shape=(4, 3, 3), text_dim=None)  # fmt: skip
ACT = ActionConfig(
    action_dim=3, frames_per_latent=2, action_mean=(0.1, 0.0, -0.1), action_std=(1.0, 2.0, 0.5)
)


def _net(seed: int = 0, *, live: bool = True) -> ActionGPT:
    """An ActionGPT on a random base; `live` draws the zero-initialised output projections too."""
    torch.manual_seed(seed)
    net = ActionGPT(GPT(CFG), ACT).eval()
    if live:
        with torch.no_grad():
            for layer in net.action.layers:
                layer.cross.out.weight.normal_(0, 0.3)
    return net


def _actions(B: int = 2, F: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.randn(B, F, 3, generator=torch.Generator().manual_seed(seed))


def test_step_zero_logits_equal_the_base_exactly_and_live_layers_change_them():
    net = _net(live=False)
    seq = torch.randint(0, 64, (2, 36))
    with torch.no_grad():
        base = net.base(seq[:, :-1])
        assert torch.equal(net(seq[:, :-1], actions=_actions()), base)
        assert torch.equal(net(seq[:, :-1]), base)  # no actions: the base model
        add_lora(net.base, LoRAConfig(rank=4, targets=AR_LORA_TARGETS))
        assert torch.equal(net(seq[:, :-1], actions=_actions()), base)  # LoRA's B = 0 too
        live = _net()
        assert (live(seq[:, :-1], actions=_actions()) - base).abs().max() > 1e-2


def test_kv_cached_logits_equal_full_recomputation_with_actions():
    net, acts = _net(), _actions()
    seq = torch.randint(0, 64, (2, 35))
    with torch.no_grad():
        full = net(seq, actions=acts)  # [B, L, V]
        cache = net.new_cache(2)
        steps = [net(seq[:, :9], actions=acts, cache=cache)]  # prefill the given latent frame
        for i in range(9, 35):
            steps.append(net(seq[:, i : i + 1], actions=acts, cache=cache))
        cache.truncate(20)  # several tokens on a warm cache (Medusa's verification path)
        chunk = net(seq[:, 20:26], actions=acts, cache=cache)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chunk, full[:, 20:26], rtol=1e-5, atol=1e-5)
    # the whole decoder: cached and uncached greedy continuations are identical, and actions matter
    prefix = seq[:, :9]
    a = generate(net, prefix, 27, sampling=GREEDY, cond={"actions": acts})
    b = generate(net, prefix, 27, sampling=GREEDY, cond={"actions": acts}, use_cache=False)
    assert torch.equal(a, b)
    c = generate(net, prefix, 27, sampling=GREEDY, cond={"actions": _actions(seed=7)})
    assert not torch.equal(a, c)


def test_logits_never_depend_on_later_actions():
    """Position p predicts a token of latent frame (p+1)//9; it may see the actions up to that frame:
    changing the actions into latent frame 2 (steps 2..3) leaves every earlier prediction unchanged."""
    net, acts = _net(), _actions()
    other = acts.clone()
    other[:, 2:4] += 5.0
    seq = torch.randint(0, 64, (2, 35))
    with torch.no_grad():
        a, b = net(seq, actions=acts), net(seq, actions=other)
    torch.testing.assert_close(a[:, :17], b[:, :17])  # positions 0..16 predict frames 0 and 1
    assert (a[:, 17:] - b[:, 17:]).abs().amax(dim=(0, 2)).min() > 1e-4  # every later one moves


def test_bad_actions_name_the_problem_and_the_fix():
    net = _net()
    seq = torch.randint(0, 64, (1, 35))
    with pytest.raises(ActionError, match=r"dimension 5, the model was post-trained with 3.*same robot"):
        net(seq, actions=torch.zeros(1, 6, 5))
    with pytest.raises(
        ActionError, match=r"cover 1 latent frames .* latent frame 3, which needs 6.*more actions"
    ):
        net(seq, actions=torch.zeros(1, 3, 3))
    nan = torch.zeros(1, 6, 3)
    nan[0, 1, 0] = float("nan")
    with pytest.raises(ActionError, match="NaN"):
        net(seq, actions=nan)
    with pytest.raises(ActionError, match="fewer frames"):  # the decoder fails the same way
        video2world(
            net, seq[:, :9].reshape(1, 1, 3, 3), 3, sampling=GREEDY, cond={"actions": torch.zeros(1, 2, 3)}
        )
    with pytest.raises(ActionError, match="no 'actions'"):
        ARActionObjective()(net, {"tokens": seq.reshape(1, 35)[:, :27].reshape(1, 3, 3, 3)})


def _fit_four_clips(tmp_path, lora: bool) -> tuple[float, float, int]:
    """Four clips share their first latent frame and differ only by their actions; train on them as one
    batch -> (loss before, loss after, clips that greedy decoding from the shared frame reproduces)."""
    torch.manual_seed(0)
    net = ActionGPT(GPT(CFG), ACT)
    if lora:
        add_lora(net.base, LoRAConfig(rank=16, targets=AR_LORA_TARGETS))
        n_train, n_total = trainable_parameters(net)
        assert n_train < n_total and not net.base.embed.weight.requires_grad
    first = torch.randint(0, 64, (1, 1, 3, 3)).expand(4, 1, 3, 3)
    tokens = torch.cat([first, torch.randint(0, 64, (4, 3, 3, 3))], dim=1)  # [4, T, H, W]
    actions = torch.randn(4, 6, 3)
    data = [{"tokens": tokens[i], "actions": actions[i]} for i in range(4)]
    objective, batch = ARActionObjective(), {"tokens": tokens, "actions": actions}
    with torch.no_grad():
        start = objective(net, batch)[0].item()
    cfg = TrainConfig(steps=100, batch_size=4, lr=1e-2, warmup_steps=5, log_every=50, tensorboard=False,
                      device="cpu", min_lr_ratio=1.0)  # fmt: skip
    Trainer(cfg, net, objective, data, out=tmp_path / ("lora" if lora else "full")).fit()
    net.eval()
    with torch.no_grad():
        end = objective(net, batch)[0].item()
    out = video2world(net, first, 3, sampling=GREEDY, cond={"actions": actions})
    return start, end, int((out == tokens).all(dim=(1, 2, 3)).sum())


def test_post_training_overfits_one_batch_and_follows_the_actions(tmp_path):
    """A model blind to actions reproduces at most one of the four clips (they share the prefix)."""
    start, end, right = _fit_four_clips(tmp_path, lora=False)
    assert end < 0.1 * start and right == 4, (start, end, right)
    # LoRA r16 + the action layers, the base frozen: the random base's frozen output layer bounds the
    # logits' scale (the loss stays near 3.2), but the argmax follows each clip's actions.
    start, end, right = _fit_four_clips(tmp_path, lora=True)
    assert end < 0.9 * start and right >= 3, (start, end, right)
