"""The arithmetic of issue 24's LoRA target: which base DiT lets LoRA r16 train <= 10% of full FT?

    OMP_NUM_THREADS=1 nice -n -15 .venv/bin/python benchmarks/posttrain_action_sizes.py

For candidate base DiTs on the action benchmark's latents ([16, 5, 16, 16]: the s4 tokenizer at
64x64, 17 frames), with the action layers of `posttrain action --inject both` (the two Cosmos MLPs
on the timestep embedding and the AdaLN-LoRA term, plus the per-token MLP): the trainable parameters
of full fine-tuning (base + action layers) and of LoRA r16 (adapters on qkv/out/fc1/fc2 + the
action layers), counted on the modules the benchmark builds, and the time of one training step
(batch 8, forward + backward + AdamW, 1 thread; median of 5 after 2 warm-up) of each.
Writes `benchmarks/results/posttrain_action_sizes.json`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from worldsmith.diffusion.recipes import fit_preset
from worldsmith.machine import write_result
from worldsmith.posttrain.action import ActionConfig, ActionDiT, ActionObjective
from worldsmith.posttrain.lora import LoRAConfig, add_lora, trainable_parameters
from worldsmith.runs import seeded_init, versions

RESULTS = Path(__file__).parent / "results" / "posttrain_action_sizes.json"
LATENTS = (16, 5, 16, 16)  # [C, T', H', W'] of a 17-frame 64x64 clip under the s4 tokenizer
ACTION_DIM, K = 3, 4  # the arm twin's 3-D actions; 4 frames per latent frame
# (width, depth, mlp_ratio, adaln_lora_dim, action hidden_mult)
CANDIDATES = [  # the tiny DiT, then wider/deeper/leaner ones
    (64, 4, 4.0, 32, 4.0), (64, 4, 4.0, 32, 1.0), (96, 4, 4.0, 48, 1.0), (128, 4, 4.0, 64, 1.0),
    (128, 4, 4.0, 64, 0.5), (128, 4, 2.0, 64, 0.5), (128, 6, 4.0, 64, 0.5), (160, 4, 4.0, 80, 0.5),
    (192, 2, 4.0, 96, 0.5), (192, 4, 4.0, 96, 0.5), (192, 4, 4.0, 96, 1.0), (256, 2, 4.0, 128, 0.5),
]  # fmt: skip


def build(width: int, depth: int, mlp: float, adaln: int, hidden: float, inject: str = "both"):
    from worldsmith.diffusion.dit import DiT

    cfg = fit_preset("tiny", LATENTS, residual_to_given=True, max_size=(8, 16, 16), heads=4,
                     head_dim=width // 4, depth=depth, mlp_ratio=mlp, adaln_lora_dim=adaln)  # fmt: skip
    action = ActionConfig(action_dim=ACTION_DIM, frames_per_latent=K, hidden_mult=hidden, inject=inject)
    with seeded_init(0):
        return ActionDiT(DiT(cfg), action)


def count(row: tuple) -> dict:
    net = build(*row)
    base = sum(p.numel() for p in net.base.parameters())
    act = sum(p.numel() for p in net.action.parameters())
    full = trainable_parameters(net)[0]
    add_lora(net.base, LoRAConfig(rank=16))
    lora = trainable_parameters(net)[0]
    return {"base": base, "action": act, "adapters": lora - act, "full_ft": full, "lora_r16": lora,
            "fraction": lora / full}  # fmt: skip


def step_seconds(row: tuple, lora: bool, steps: int = 7, batch: int = 8) -> float:
    net = build(*row)
    if lora:
        add_lora(net.base, LoRAConfig(rank=16))
    g = torch.Generator().manual_seed(0)
    objective = ActionObjective(action_dropout=0.1, motion_weight=4.0, generator=g)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    data = {"latents": torch.randn(batch, *LATENTS, generator=g),
            "actions": torch.randn(batch, (LATENTS[1] - 1) * K, ACTION_DIM, generator=g)}  # fmt: skip
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, _ = objective(net, data)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-time", action="store_true", help="count only")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    table = Table(title="LoRA r16 vs full FT trainable parameters (action layers: --inject both)")
    cols = ("width", "depth", "mlp", "adaln", "hidden", "base", "action", "adapters", "full FT", "LoRA",
            "LoRA/full", "s/step full", "s/step LoRA")  # fmt: skip
    for c in cols:
        table.add_column(c)
    for row in CANDIDATES:
        r = {"width": row[0], "depth": row[1], "mlp_ratio": row[2], "adaln_lora_dim": row[3],
             "hidden_mult": row[4], **count(row)}  # fmt: skip
        if not args.no_time:
            r["s_per_step_full"] = step_seconds(row, lora=False)
            r["s_per_step_lora"] = step_seconds(row, lora=True)
        rows.append(r)
        t = [f"{r.get(k, float('nan')):.3f}" for k in ("s_per_step_full", "s_per_step_lora")]
        table.add_row(*map(str, row), *(f"{r[k] / 1e3:.0f}k" for k in ("base", "action", "adapters",
                      "full_ft", "lora_r16")), f"{r['fraction']:.3f}", *t)  # fmt: skip
        print(r, flush=True)
    Console().print(table)
    write_result(args.out, {"benchmark": "LoRA r16 trainable fraction by base DiT size (issue 24)",
                            "latents": LATENTS, "rows": rows, "machine": "shared 2-core CPU, 1 thread",
                            "versions": versions()})  # fmt: skip


if __name__ == "__main__":
    main()
