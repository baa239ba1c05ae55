"""The diffusion decoder: DV tokens -> CV latents through the DiT (shapes, conditioning, training, I/O)."""

from __future__ import annotations

import pytest
import torch

from worldsmith.autoregressive.diffusion_decoder import (
    DecoderConfig,
    DecoderObjective,
    DiffusionDecoder,
    PairDataset,
    dit_config,
)
from worldsmith.diffusion.dit import DiTConfig
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.errors import WorldsmithError

LEVELS = (8, 5, 5)  # 200 codes: a small FSQ keeps the tests fast


def make(grid=(3, 4, 4), upsample=(1, 1, 1), embed_dim=8, seed=0, **kw) -> DiffusionDecoder:
    torch.manual_seed(seed)
    cfg = DecoderConfig(fsq_levels=LEVELS, latent_channels=4, embed_dim=embed_dim, upsample=upsample, **kw)
    base = DiTConfig(heads=2, head_dim=16, depth=2, text_dim=8, adaln_lora_dim=8, max_size=(8, 8, 8),
                     patch_size=(1, 1, 1))  # fmt: skip
    return DiffusionDecoder(cfg, dit_config(cfg, base, cfg.latent_grid(grid)))


def randomise_zero_init(model: DiffusionDecoder) -> None:
    """adaLN-Zero starts the DiT at a zero output; random weights make every path visible."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.dit.parameters():
            if p.ndim == 2 and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def tokens(B=2, grid=(3, 4, 4), seed=0) -> torch.Tensor:
    return torch.randint(0, 200, (B, *grid), generator=torch.Generator().manual_seed(seed))


def test_shapes_and_causal_upsampling():
    model = make(grid=(3, 2, 2), upsample=(2, 2, 2)).eval()
    tok = tokens(1, (3, 2, 2))
    assert model.cfg.latent_grid((3, 2, 2)) == (5, 4, 4)
    cond = model.condition(tok)  # [1, 3 + 8, 5, 4, 4]
    assert cond.shape == (1, 11, 5, 4, 4)
    codes = model.fsq.indices_to_codes(tok)  # [1, 3, 3, 2, 2]
    # CV latent frame j takes DV latent frame ceil(j / 2): 0 <- 0, {1, 2} <- 1, {3, 4} <- 2
    for j, k in enumerate([0, 1, 1, 2, 2]):
        want = codes[:, :, k].repeat_interleave(2, -2).repeat_interleave(2, -1)
        assert torch.equal(cond[:, :3, j], want)
    # the first 3 channels are the FSQ codes: c_i = (digit_i - floor(L_i/2)) / floor(L_i/2)
    idx = tok[0, 0, 0, 0].item()
    digits = [idx % 8, idx // 8 % 5, idx // 40 % 5]
    want = torch.tensor([(d - L // 2) / (L // 2) for d, L in zip(digits, LEVELS, strict=True)])
    torch.testing.assert_close(cond[0, :3, 0, 0, 0], want)
    out = model.sample(tok, steps=2, sampler="euler", generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 4, 5, 4, 4) and torch.isfinite(out).all()


def test_tokens_change_the_output():
    model = make().eval()
    randomise_zero_init(model)
    x, c = torch.randn(2, 4, 3, 4, 4), torch.zeros(2)
    a, b = tokens(seed=0), tokens(seed=0).clone()
    b[0, 1, 2, 3] = (b[0, 1, 2, 3] + 7) % 200  # one token of the first clip
    with torch.no_grad():
        fa, fb = model(x, c, tokens=a), model(x, c, tokens=b)
    assert (fa[0] - fb[0]).abs().max() > 1e-4  # the changed clip's output moves
    torch.testing.assert_close(fa[1], fb[1])  # the other clip's does not
    # the learned embedding is on the path: it gets a gradient
    model(x, c, tokens=a).square().sum().backward()
    assert model.embed[0].weight.grad.abs().sum() > 0


def test_wrong_grid_is_refused():
    model = make()
    with pytest.raises(WorldsmithError, match="latent grid"):
        model(torch.randn(1, 4, 3, 4, 4), torch.zeros(1), tokens=tokens(1, (2, 4, 4)))
    with pytest.raises(WorldsmithError, match="DV indices"):
        model.condition(torch.rand(1, 3, 4, 4))


def test_normalisation_round_trip():
    model = make(latent_mean=(1.0, -2.0, 0.5, 0.0), latent_std=(2.0, 0.5, 1.0, 3.0))
    z = torch.randn(2, 4, 3, 4, 4) * 3
    y = model.normalize(z)
    torch.testing.assert_close(y[:, 1], (z[:, 1] + 2.0) / 0.5 * 0.5)
    torch.testing.assert_close(model.denormalize(y), z)


def test_overfit_one_batch():
    """Two clips whose latents are a fixed function of their tokens: the decoder learns the map and its
    sampler then recovers the latents from the tokens alone."""
    model = make(edm=EDMConfig(sigma_max=20.0))
    tok = tokens(2, (2, 4, 4), seed=3)
    torch.manual_seed(0)
    proj = torch.randn(3, 4)
    latents = torch.einsum("bdthw,dc->bcthw", model.fsq.indices_to_codes(tok), proj) * 0.5  # [2, 4, 2, 4, 4]
    batch = {"tokens": tok, "latents": latents}
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    obj = DecoderObjective()
    g = torch.Generator().manual_seed(0)

    def eval_loss():  # the same noise and sigmas every time
        with torch.no_grad():
            y = model.normalize(latents)
            n = torch.randn(y.shape, generator=torch.Generator().manual_seed(9))
            s = torch.tensor([0.3, 3.0]).view(2, 1, 1, 1, 1)
            return (model.denoiser()(y + s * n, s.flatten(), tokens=tok) - y).square().mean().item()

    first = eval_loss()
    for _ in range(400):
        loss, _ = obj(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.1 * first
    model.eval()
    out = model.sample(tok, steps=8, generator=g)
    rel = (out - latents).square().mean() / latents.square().mean()
    assert rel < 0.1, float(rel)


def test_save_load_round_trip(tmp_path):
    model = make(grid=(3, 2, 2), upsample=(2, 2, 2), latent_mean=(0.1,) * 4, latent_std=(2.0,) * 4).eval()
    randomise_zero_init(model)
    model.save_pretrained(tmp_path / "dec")
    loaded = DiffusionDecoder.from_pretrained(tmp_path / "dec")
    assert loaded.cfg == model.cfg and loaded.dit.cfg == model.dit.cfg
    tok = tokens(1, (3, 2, 2))
    a = model.sample(tok, steps=3, generator=torch.Generator().manual_seed(0))
    b = loaded.sample(tok, steps=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    (tmp_path / "dec" / "config.json").write_text('{"model": "dit"}')
    from worldsmith.errors import CheckpointError

    with pytest.raises(CheckpointError, match="diffusion decoder"):
        DiffusionDecoder.from_pretrained(tmp_path / "dec")


def test_trains_through_the_shared_trainer(tmp_path):
    from worldsmith.train import TrainConfig, Trainer

    model = make(grid=(2, 4, 4))
    tok = tokens(4, (2, 4, 4))
    data = PairDataset(tok, torch.randn(4, 4, 2, 4, 4))
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, log_every=1, tensorboard=False)
    before = model.embed[0].weight.detach().clone()
    Trainer(cfg, model, DecoderObjective(), data, out=tmp_path / "t").fit()
    assert not torch.equal(before, model.embed[0].weight)


def test_sdedit_starts_from_the_given_latents():
    """SDEdit: from `init` noised to `sigma_start`. At a small sigma_start the sampler barely moves
    the guess (D(x; sigma) -> x as sigma -> 0); at a large one the guess is drowned out; the noise
    added is exactly `sigma_start` times the generator's draw (checked with a one-step sampler)."""
    model = make(latent_mean=(0.5, 0.0, 0.0, -1.0), latent_std=(2.0, 1.0, 1.0, 0.5))
    randomise_zero_init(model)
    model.eval()
    tok = tokens(1)
    init = torch.randn(1, 4, 3, 4, 4)
    near, far = (
        model.sample(tok, steps=3, init=init, sigma_start=s, generator=torch.Generator().manual_seed(0))
        for s in (0.005, 80.0)
    )
    rel = lambda z: float((z - init).square().mean() / init.square().mean())  # noqa: E731
    assert rel(near) < 1e-3 < 0.1 < rel(far), (rel(near), rel(far))
    # one Euler step from sigma_start to 0 returns D(init_normalised + s n; s), denormalised
    s = 0.7
    n = torch.randn(init.shape, generator=torch.Generator().manual_seed(5))
    one = model.sample(tok, steps=1, init=init, sigma_start=s, generator=torch.Generator().manual_seed(5))
    x = model.normalize(init) + s * n
    with torch.no_grad():
        want = model.denormalize(model.denoiser()(x, torch.tensor([s]), tokens=tok))
    torch.testing.assert_close(one, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(WorldsmithError, match="together"):
        model.sample(tok, init=init)
    with pytest.raises(WorldsmithError, match="raw CV latents"):
        model.sample(tok, init=init[:, :, :2], sigma_start=1.0)
    with pytest.raises(WorldsmithError, match="sigma_start"):
        model.sample(tok, init=init, sigma_start=500.0)


def test_exposes_the_dit_blocks_to_parallelize():
    """`train.parallel.compile` / `--ac` / FSDP work per block: the decoder hands over its DiT's blocks."""
    from worldsmith.distributed.parallelize import find_blocks

    model = make()
    blocks = find_blocks(model)
    assert len(blocks) == model.dit.cfg.depth
    assert all(a is b for a, b in zip(blocks, model.dit.blocks, strict=True))
