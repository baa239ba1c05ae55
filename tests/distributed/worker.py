"""Scenarios run by every rank of a 2-process gloo group (not a test module).

    RANK=.. WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=.. python worker.py OUT SCENARIO...

Each scenario compares the distributed result with a 1-process computation done in the same rank
(same seeds) and writes its verdict to OUT/<scenario>.rank<r>.json for the test to assert on.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import TinyDiT, denoise_objective, dit_data  # noqa: E402

from worldsmith.distributed.context_parallel import (  # noqa: E402
    SequenceParallelAttention,
    _GatherOutput,
    sequence_parallel,
    shard_sequence,
)
from worldsmith.distributed.parallel_dims import ParallelConfig, ParallelDims, init_process_group  # noqa: E402
from worldsmith.distributed.parallelize import parallelize  # noqa: E402
from worldsmith.nn.attention import attention, local_attention  # noqa: E402

torch.set_num_threads(1)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().float() - b.detach().float()).abs().max().item()


def full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def cp_attention() -> dict:
    """Exact attention over a sequence of 13 tokens split over 2 ranks, forward and input grads."""
    group, rank, cp = dist.group.WORLD, dist.get_rank(), dist.get_world_size()
    out = {}
    for mode in ("ulysses", "allgather", "ring"):
        for causal in (False, True):
            for heads, kv_heads in ((4, 2), (4, 4), (3, 3)):  # GQA; plain; heads not divisible by cp
                g = torch.Generator().manual_seed(7)
                q = torch.randn(2, heads, 13, 8, generator=g, requires_grad=True)
                k = torch.randn(2, kv_heads, 13, 8, generator=g, requires_grad=True)
                v = torch.randn(2, kv_heads, 13, 8, generator=g, requires_grad=True)
                w = torch.randn(2, heads, 13, 8, generator=g)
                ref = local_attention(q, k, v, causal=causal)
                (ref * w).sum().backward()
                ref_grads = [t.grad.clone() for t in (q, k, v)]
                for t in (q, k, v):
                    t.grad = None

                hook = SequenceParallelAttention(group, mode)
                hook.set_length(13)
                ql, kl, vl = (shard_sequence(t, 2, rank, cp) for t in (q, k, v))  # [B, h, 7, D]
                with sequence_parallel(hook):
                    o = attention(ql, kl, vl, causal=causal)  # routed to the hook
                o = _GatherOutput.apply(o, 2, group)[:, :, :13]
                (o * w).sum().backward()
                grads = [t.grad.clone() for t in (q, k, v)]
                for gr in grads:  # what FSDP's average over cp ranks does to parameter gradients
                    dist.all_reduce(gr)
                    gr /= cp
                key = f"{mode}/causal={causal}/h={heads},{kv_heads}"
                out[key] = {
                    "out": max_diff(o, ref),
                    "grad": max(max_diff(a, b) for a, b in zip(grads, ref_grads, strict=True)),
                }
    return out


def _train(model, data, steps, *, lr=1e-2):
    """Plain AdamW steps on the global batch; returns losses and per-step full gradients."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, foreach=True)
    losses, grads = [], []
    for batch in data[:steps]:
        loss = denoise_objective(model, batch)
        loss.backward()
        grads.append({n: full(p.grad).clone() for n, p in model.named_parameters()})
        opt.step()
        opt.zero_grad()
        losses.append(loss.detach())
    return losses, grads


def _compare(cfg: ParallelConfig, *, causal: bool = False, steps: int = 3) -> dict:
    """1-process model vs the same model parallelized by `cfg`, same global batches."""
    rank, world = dist.get_rank(), dist.get_world_size()
    dims = ParallelDims.from_config(cfg, world)
    ds = dit_data(8 * steps, 13)
    batches = [[t[i * 8 : (i + 1) * 8] for t in ds.tensors] for i in range(steps)]

    torch.manual_seed(0)
    ref = TinyDiT(causal=causal)
    ref_losses, ref_grads = _train(ref, batches, steps)

    torch.manual_seed(0)
    model = parallelize(TinyDiT(causal=causal), dims, dims.build_mesh(), cfg)
    dp_rank = dims.dp_replicate and (rank // dims.cp)  # data rank: cp ranks share the samples
    per = 8 // dims.dp
    local = [[t[dp_rank * per : (dp_rank + 1) * per] for t in b] for b in batches]
    losses, grads = _train(model, local, steps)
    losses = [loss.clone() for loss in losses]
    for loss in losses:  # data-parallel mean (cp ranks hold identical copies)
        dist.all_reduce(loss)
        loss /= world
    params = {n: full(p.detach()) for n, p in model.named_parameters()}
    return {
        "loss": max(abs(a.item() - b.item()) for a, b in zip(losses, ref_losses, strict=True)),
        "grad": max(max_diff(g[n], rg[n]) for g, rg in zip(grads, ref_grads, strict=True) for n in rg),
        "param": max(max_diff(params[n], p) for n, p in ref.named_parameters()),
        "losses": [x.item() for x in losses],
        "local_param_fraction": sum(p.to_local().numel() for p in model.parameters())
        / sum(p.numel() for p in ref.parameters()),
    }


def fsdp() -> dict:
    return _compare(ParallelConfig())


def fsdp_cp() -> dict:
    return {
        "ulysses": _compare(ParallelConfig(cp=2), causal=True),
        "allgather+ac": _compare(ParallelConfig(cp=2, cp_mode="allgather", ac=True)),
        "ring": _compare(ParallelConfig(cp=2, cp_mode="ring"), causal=True),
    }


def real_dit_cp() -> dict:
    """worldsmith's Cosmos DiT (3D RoPE, learnable positions, AdaLN-LoRA, cross-attention to text)
    with Ulysses CP over 27 tokens (odd: padded) + FSDP2 vs 1 process: loss and gradients."""
    from worldsmith.diffusion.dit import DiT, DiTConfig

    cfg = DiTConfig(
        latent_channels=4, heads=4, head_dim=16, depth=2, text_dim=8, adaln_lora_dim=8, max_size=(4, 8, 8)
    )
    g = torch.Generator().manual_seed(3)
    x, text = torch.randn(2, 4, 3, 6, 6, generator=g), torch.randn(2, 5, 8, generator=g)
    c_noise, target = torch.randn(2, generator=g), torch.randn(2, 4, 3, 6, 6, generator=g)
    torch.manual_seed(0)
    ref = DiT(cfg)
    for p in ref.parameters():  # move off adaLN-zero init so that every block gets gradients
        p.data.add_(torch.randn(p.shape, generator=g) * 0.05)
    model = DiT(cfg)
    model.load_state_dict(ref.state_dict())
    ref_loss = torch.nn.functional.mse_loss(ref(x, c_noise, text), target)
    ref_loss.backward()
    pc = ParallelConfig(cp=2)
    dims = ParallelDims.from_config(pc, dist.get_world_size())
    model = parallelize(model, dims, dims.build_mesh(), pc)
    loss = torch.nn.functional.mse_loss(model(x, c_noise, text), target)
    loss.backward()
    grads = {n: full(p.grad) for n, p in model.named_parameters()}
    return {
        "loss": abs(loss.item() - ref_loss.item()),
        "grad": max(max_diff(grads[n], p.grad) for n, p in ref.named_parameters()),
        "grad_scale": max(p.grad.abs().max().item() for p in ref.parameters()),
    }


def trainer(out: Path) -> dict:
    """The Trainer on 2 FSDP ranks; saves a sharded checkpoint and an export for the test."""
    from worldsmith.train import TrainConfig, Trainer

    torch.manual_seed(0)
    cfg = TrainConfig(steps=4, batch_size=8, lr=1e-2, log_every=1, tensorboard=False, ema_decay=0.5)
    t = Trainer(cfg, TinyDiT(), denoise_objective, dit_data(16, 13), out=out / "trainer_run")
    summary = t.fit()
    t.export(out / "trainer_export", ema=False)
    sd = t.full_state_dict(ema=False)
    if dist.get_rank() == 0:
        exported = load_file(out / "trainer_export" / "model.safetensors")
        assert sd.keys() == exported.keys() and all(torch.equal(sd[k], exported[k]) for k in sd)
    else:
        assert sd == {}
    return {"summary": summary, "dims": [t.dims.dp_replicate, t.dims.dp_shard, t.dims.cp]}


def trainer_cp(out: Path) -> dict:
    """The Trainer with cp=2 (FSDP over the 2 cp ranks) and noise drawn in the objective."""
    from tiny_models import random_noise_objective

    from worldsmith.train import TrainConfig, Trainer

    torch.manual_seed(0)
    cfg = TrainConfig(
        steps=3, batch_size=4, lr=1e-2, log_every=1, tensorboard=False, parallel=ParallelConfig(cp=2)
    )
    t = Trainer(cfg, TinyDiT(causal=True), random_noise_objective, dit_data(8, 13), out=out / "trainer_cp")
    t.fit()
    return {"dims": [t.dims.dp_replicate, t.dims.dp_shard, t.dims.cp]}


def load_one_on_two(out: Path) -> dict:
    """A checkpoint written by 1 process (by the test, before the launch) loads on 2 FSDP ranks."""
    from worldsmith.train import TrainConfig, Trainer

    torch.manual_seed(0)
    cfg = TrainConfig(steps=4, batch_size=8, lr=1e-2, tensorboard=False, ema_decay=0.5)
    t = Trainer(cfg, TinyDiT(), denoise_objective, dit_data(16, 13), out=out / "one_on_two")
    t.load_checkpoint(out / "one_process" / "checkpoints" / "latest")
    sd = t.full_state_dict(ema=False)
    ema = t.full_state_dict(ema=True)
    if dist.get_rank() == 0:
        exported = load_file(out / "one_process" / "export" / "model.safetensors")
        assert sd.keys() == exported.keys() and all(torch.equal(sd[k], exported[k]) for k in sd)
        assert not all(torch.equal(ema[k], sd[k]) for k in sd)
    return {"step": t.step, "optim_steps": sorted({int(s["step"]) for s in t.optimizer.state.values()})}


def multiview_cp() -> dict:
    """The multi-view DiT (posttrain.multiview): CP splits the joint sequence of 3 views x 9 tokens
    (27: padded) over 2 ranks; per-view captions (block-diagonal cross-attention mask, sharded with
    the queries) and the trajectory embedding; loss and gradients vs 1 process."""
    from worldsmith.diffusion.dit import DiT, DiTConfig
    from worldsmith.posttrain.multiview import MultiViewConfig, MultiViewDiT

    cfg = DiTConfig(latent_channels=4, heads=4, head_dim=16, depth=2, text_dim=8, adaln_lora_dim=8,
                    max_size=(4, 8, 8), video2world=True)  # fmt: skip
    mv = MultiViewConfig(cameras=("front_left", "front", "front_right"), trajectory_points=4)
    g = torch.Generator().manual_seed(4)
    x, target = torch.randn(2, 4, 3, 2, 18, generator=g), torch.randn(2, 4, 3, 2, 18, generator=g)
    text, c_noise, traj = (
        torch.randn(2, 6, 8, generator=g),
        torch.randn(2, generator=g),
        torch.randn(2, 4, 3, generator=g),
    )
    torch.manual_seed(0)
    ref = MultiViewDiT(DiT(cfg), mv)
    for p in ref.parameters():  # off the zero inits, so that every part gets gradients
        p.data.add_(torch.randn(p.shape, generator=g) * 0.05)
    model = MultiViewDiT(DiT(cfg), mv)
    model.load_state_dict(ref.state_dict())
    ref_loss = torch.nn.functional.mse_loss(ref(x, c_noise, text, trajectory=traj), target)
    ref_loss.backward()
    pc = ParallelConfig(cp=2)
    dims = ParallelDims.from_config(pc, dist.get_world_size())
    model = parallelize(model, dims, dims.build_mesh(), pc)
    loss = torch.nn.functional.mse_loss(model(x, c_noise, text, trajectory=traj), target)
    loss.backward()
    grads = {n: full(p.grad) for n, p in model.named_parameters()}
    return {
        "loss": abs(loss.item() - ref_loss.item()),
        "grad": max(max_diff(grads[n], p.grad) for n, p in ref.named_parameters()),
        "grad_scale": min(p.grad.abs().max().item() for p in ref.multiview.parameters()),
        "local_tokens": model._context_parallel.attn.local_len,  # each rank held half of the 27
    }


SCENARIOS = {"cp_attention": cp_attention, "fsdp": fsdp, "fsdp_cp": fsdp_cp, "real_dit_cp": real_dit_cp,
             "multiview_cp": multiview_cp}  # fmt: skip


def main(out: Path, names: list[str]) -> None:
    rank, _ = init_process_group()
    for name in names:
        try:
            runs = {"trainer": trainer, "trainer_cp": trainer_cp, "load_one_on_two": load_one_on_two}
            if name in runs:
                result = runs[name](out)
            else:
                result = SCENARIOS[name]()
        except Exception:
            result = {"error": traceback.format_exc()}
        (out / f"{name}.rank{rank}.json").write_text(json.dumps(result, indent=1))
        dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
