"""Training-step benchmark: 1 process vs 2-process FSDP2 vs 2-process context parallelism.

Model: worldsmith's Cosmos DiT at hidden size 1024 (16 heads x 64, 2 blocks) on 16-channel latents
``[B, 16, 2, 32, 32]`` -> 512 tokens per sample after 1x2x2 patches, trained by `Trainer.train_step`
(AdamW, grad clipping, fp32). The peer is the machine itself: the fp32 matmul peak measured in the
same run (a 2048^3 `torch.mm`, right before and after each timed run, by every rank at once, with
the run's thread count), against which achieved FLOP/s (counted by `torch.utils.flop_counter` for
forward + backward, CPU flash attention included) is reported as a fraction. Also: tokens/s, and
the bytes of parameters + optimizer state each rank holds (FSDP2 on 2 ranks should hold ~half).

    python benchmarks/train.py            # prints a table, writes benchmarks/results/train.json

The 2-process runs start this script again as ranks (``--rank-mode fsdp|cp``), each with 1 thread
on this 2-core machine; the 1-process run is timed with both threads and with one. Timings on a
shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from worldsmith import fs
from worldsmith.diffusion.dit import DiT, DiTConfig
from worldsmith.distributed.launch import spawn
from worldsmith.distributed.parallel_dims import ParallelConfig
from worldsmith.distributed.parallelize import local_optimizer_bytes, local_param_bytes
from worldsmith.machine import write_result
from worldsmith.train import TrainConfig, Trainer

RESULTS = Path(__file__).parent / "results" / "train.json"
SHAPE = (16, 2, 32, 32)  # C, T, H, W of the latents
TEXT = (16, 64)  # text tokens, text dim
BATCH = 4
WARMUP, STEPS = 1, 4


def model_config() -> DiTConfig:
    return DiTConfig(
        latent_channels=16, heads=16, head_dim=64, depth=2, text_dim=TEXT[1], adaln_lora_dim=64,
        max_size=(8, 64, 64), concat_padding_mask=False, learnable_pos_embed=False,
    )  # fmt: skip


def dataset(n: int = 32) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(
        torch.randn(n, *SHAPE, generator=g), torch.rand(n, generator=g), torch.randn(n, *TEXT, generator=g)
    )


def objective(model, batch):
    """Denoise with a log-uniform noise level (the cost of an EDM step, without its weighting)."""
    x, u, text = batch
    sigma = (u * 4 - 2).exp()  # [B]
    noisy = x + sigma[:, None, None, None, None] * torch.randn_like(x)
    return F.mse_loss(model(noisy, sigma.log() / 4, text), x)


def matmul_peak(n: int = 2048, reps: int = 6) -> float:
    """Best fp32 FLOP/s of an n^3 matmul (2 n^3 FLOPs) over `reps` tries."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def _concurrent_peak(world_size: int) -> float:
    """This process's matmul peak, measured while every rank measures its own (so that ranks
    sharing the cores see each other, as they do while training)."""
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()
    return matmul_peak()


def _sdpa_cpu(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward(
    grad_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    return sdpa_backward_flop_count(grad_shape, query_shape, key_shape, value_shape)


# torch's flop counter knows the CUDA attention kernels only; count the CPU flash kernel the same way.
_CPU_SDPA = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward,
}


def step_flops() -> float:
    """Forward + backward FLOPs of one training step on the global batch (1 process)."""
    torch.manual_seed(0)
    model = DiT(model_config())
    x, u, text = (t[:BATCH] for t in dataset().tensors)
    with FlopCounterMode(display=False, custom_mapping=_CPU_SDPA) as counter:
        objective(model, (x, u, text)).backward()
    return float(counter.get_total_flops())


def run(parallel: ParallelConfig, out: str) -> dict:
    """Time `Trainer.train_step` (this process's share of a global batch of BATCH samples)."""
    torch.manual_seed(0)
    cfg = TrainConfig(steps=WARMUP + STEPS, batch_size=BATCH, lr=1e-4, tensorboard=False, parallel=parallel)
    trainer = Trainer(cfg, DiT(model_config()), objective, dataset(), out=out)
    for _ in range(WARMUP):
        trainer.train_step()
    peaks = [_concurrent_peak(trainer.world_size)]
    times = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - t0)
    peaks.append(_concurrent_peak(trainer.world_size))
    return {
        "step_s": statistics.median(times),
        "peak_flops": max(peaks),
        "param_bytes": local_param_bytes(trainer.model),
        "optim_bytes": local_optimizer_bytes(trainer.optimizer),
        "rank": trainer.rank,
    }


def rank_main(mode: str, out: str) -> None:
    torch.set_num_threads(1)
    parallel = ParallelConfig() if mode == "fsdp" else ParallelConfig(cp=2)
    result = run(parallel, out)
    fs.write_json(Path(out) / f"{mode}.rank{result['rank']}.json", result)


def two_process(mode: str, out: str) -> list[dict]:
    env = dict(os.environ, WORLDSMITH_PROGRESS="0", OMP_NUM_THREADS="1")
    procs = spawn(2, [sys.executable, __file__, "--rank-mode", mode, "--out", out], env=env)
    codes = [p.wait(timeout=900) for p in procs]
    if codes != [0, 0]:
        raise RuntimeError(f"{mode} ranks exited with {codes}")
    return [json.loads((Path(out) / f"{mode}.rank{r}.json").read_text()) for r in range(2)]


def targets(rows: dict) -> list[dict]:
    """1 process at least 70% of the matmul peak (issue #33: no regression), FSDP2 at least 50%."""
    out = []
    for name, reference in (("1 process", 0.7), ("2-process FSDP2", 0.5)):
        value = rows[name]["fraction_of_matmul_peak"]
        out.append({"target": f"{name}: fraction of matmul peak", "value": value, "reference": reference,
                    "met": value >= reference})  # fmt: skip
    return out


def main() -> None:
    console = Console()
    torch.set_num_threads(2)
    flops = step_flops()
    tokens = BATCH * SHAPE[1] * (SHAPE[2] // 2) * (SHAPE[3] // 2)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"1 process": [run(ParallelConfig(), tmp + "/one")]}
        torch.set_num_threads(1)  # the same process on one core, as each rank of the 2-process runs
        runs["1 process, 1 thread"] = [run(ParallelConfig(), tmp + "/one_thread")]
        torch.set_num_threads(2)
        runs["2-process FSDP2"] = two_process("fsdp", tmp)
        runs["2-process CP (Ulysses) + FSDP2"] = two_process("cp", tmp)
    rows = {}
    for name, ranks in runs.items():
        step = max(r["step_s"] for r in ranks)  # the slowest rank sets the pace
        peak = sum(r["peak_flops"] for r in ranks)  # the machine's peak as these ranks share it
        rows[name] = {
            "matmul_peak_gflops": round(peak / 1e9, 2),
            "step_s": round(step, 4),
            "tokens_per_s": round(tokens / step, 1),
            "achieved_gflops": round(flops / step / 1e9, 2),
            "fraction_of_matmul_peak": round(flops / step / peak, 3),
            "param_plus_optim_mib_per_rank": [
                round((r["param_bytes"] + r["optim_bytes"]) / 2**20, 2) for r in ranks
            ],
        }
    one = rows["1 process"]["param_plus_optim_mib_per_rank"][0]
    for row in rows.values():
        row["memory_vs_1_process"] = round(max(row["param_plus_optim_mib_per_rank"]) / one, 3)

    table = Table(title=f"training step, DiT d=1024 x2 blocks, {tokens} tokens/step, fp32")
    cols = (
        "setup",
        "step s",
        "tokens/s",
        "GFLOP/s",
        "matmul peak",
        "of peak",
        "params+optim MiB/rank",
        "vs 1",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for name, r in rows.items():
        table.add_row(
            name, f"{r['step_s']:.3f}", f"{r['tokens_per_s']:.0f}", f"{r['achieved_gflops']:.1f}",
            f"{r['matmul_peak_gflops']:.1f}",
            f"{r['fraction_of_matmul_peak']:.0%}", ", ".join(map(str, r["param_plus_optim_mib_per_rank"])),
            f"{r['memory_vs_1_process']:.2f}",
        )  # fmt: skip
    console.print(table)
    write_result(
        RESULTS,
        {
            "benchmark": "train",
            "model": {"dit": "d=1024 (16x64), depth 2", "latents": SHAPE, "text": TEXT, "batch": BATCH},
            "tokens_per_step": tokens,
            "flops_per_step": flops,
            "runs": rows,
            "targets": targets(rows),
            "load": f"{os.cpu_count()} CPUs shared with other jobs (noisy); torch {torch.__version__}",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
    )
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rank-mode", choices=["fsdp", "cp"])
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.rank_mode:
        rank_main(args.rank_mode, args.out)
    else:
        main()
