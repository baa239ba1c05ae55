"""`parallelize(model, dims, mesh, cfg)`: the one place a model meets `torch.distributed`.

The order is fixed, as in torchtitan, because each step wraps what the previous one produced:

1. **context parallelism**: shard the token sequence over the ``cp`` ranks and make attention exact
   (`context_parallel.ContextParallel`; hooks plus a wrapped block ``forward``),
2. **activation checkpointing**: each block's ``forward`` recomputes its activations in backward
   (the context-parallel attention stays active during the recomputation because step 1 wrapped
   the forward that is recomputed),
3. **torch.compile** of each block (optional; compiles the wrapped forward),
4. **FSDP2**: ``fully_shard`` each block, then the root, over ``dp_shard x cp`` (and replicated
   over ``dp_replicate``, i.e. HSDP), which also averages gradients over every data/cp rank.

A model exposes its blocks as ``model.parallel_blocks()`` or an ``nn.ModuleList`` named ``blocks``
or ``layers``. Parameter names do not change, so checkpoints move between parallel layouts.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from worldsmith.distributed.parallel_dims import ParallelConfig, ParallelDims
from worldsmith.errors import ConfigError


def find_blocks(model: nn.Module) -> list[nn.Module]:
    """The model's repeated blocks, in order (empty when it has none)."""
    if hasattr(model, "parallel_blocks"):
        return list(model.parallel_blocks())
    for name in ("blocks", "layers"):
        blocks = getattr(model, name, None)
        if isinstance(blocks, nn.ModuleList):
            return list(blocks)
    return []


def _checkpointed(forward):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    return run


def parallelize(model: nn.Module, dims: ParallelDims, mesh, cfg: ParallelConfig) -> nn.Module:
    """Apply CP -> AC -> compile -> FSDP2 to `model` in place and return it.

    `mesh` is `dims.build_mesh()` (None for one process: only AC and compile apply).
    """
    blocks = find_blocks(model)
    if (cfg.ac or cfg.compile or dims.cp > 1) and not blocks:
        raise ConfigError(
            f"{type(model).__name__} exposes no blocks (parallel_blocks(), or a ModuleList named "
            f"'blocks' or 'layers'); activation checkpointing, compile and context parallelism work per block"
        )
    if dims.cp > 1:
        from worldsmith.distributed.context_parallel import ContextParallel

        model._context_parallel = ContextParallel(blocks, mesh["cp"].get_group(), cfg.cp_mode)
    if cfg.ac:
        for block in blocks:
            block.forward = _checkpointed(block.forward)
    if cfg.compile:
        for block in blocks:
            block.compile()
    if mesh is not None and dims.world_size > 1:
        from torch.distributed.fsdp import fully_shard

        fsdp_mesh = mesh["dp_replicate", "dp_shard_cp"] if dims.dp_replicate > 1 else mesh["dp_shard_cp"]
        for block in blocks:
            fully_shard(block, mesh=fsdp_mesh)
        fully_shard(model, mesh=fsdp_mesh)
    return model


# torch.compile of one distinct block class (forward + backward) on a CPU: the tiny tokenizer's
# encoder and decoder took ~120 s together on 2 cores (issue 32); GPUs compile faster.
COMPILE_S_PER_BLOCK_CLASS = 60


def compile_estimate_s(model: nn.Module) -> int:
    """A rough compile time of `model`'s blocks: blocks of one class share their compiled code."""
    return COMPILE_S_PER_BLOCK_CLASS * max(1, len({type(b) for b in find_blocks(model)}))


def unwrap_param_count(model: nn.Module) -> int:
    """Number of parameters of the (possibly sharded) model, counting each once in full."""
    return sum(p.numel() for p in model.parameters())


def local_param_bytes(model: nn.Module) -> int:
    """Bytes of parameters this rank holds (its shards under FSDP2)."""
    total = 0
    for p in model.parameters():
        local = p.to_local() if hasattr(p, "to_local") else p
        total += local.numel() * local.element_size()
    return total


def local_optimizer_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of optimizer state this rank holds."""
    total = 0
    for state in optimizer.state.values():
        for t in state.values():
            if isinstance(t, torch.Tensor):
                local = t.to_local() if hasattr(t, "to_local") else t
                total += local.numel() * local.element_size()
    return total
