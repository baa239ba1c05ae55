"""Parallelism degrees, validated against the world size, and the named `DeviceMesh` they build.

Three degrees multiply to the world size (torchtitan's layout, outermost first):

- ``dp_replicate``: data-parallel replicas (HSDP's replicate dimension; 1 = plain FSDP),
- ``dp_shard``:     data-parallel ranks that shard parameters with FSDP2 (``-1``: whatever is left),
- ``cp``:           context-parallel ranks that split one sequence between them.

Data is split over ``dp = dp_replicate * dp_shard``; the ``cp`` ranks of one group see the same
samples. FSDP2 shards parameters over ``dp_shard x cp`` (flattened ``dp_shard_cp``), so context
parallel ranks hold parameter shards too and their gradients are averaged with the data ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import torch

from worldsmith.config import check
from worldsmith.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class ParallelConfig:
    """How a training run spreads over processes (the CLI's ``--fsdp``, ``--cp``, ``--ac``, ``--compile``)."""

    dp_replicate: int = 1
    dp_shard: int = -1
    cp: int = 1
    fsdp: bool = True  # False: replicate parameters over data-parallel ranks (cp ranks still shard)
    cp_mode: str = "ulysses"  # "ulysses" (all-to-all over heads), "allgather" (keys/values) or "ring"
    ac: bool = False  # activation checkpointing of every block
    compile: bool = False  # torch.compile every block

    def __post_init__(self):
        check(self.dp_replicate >= 1, "parallel.dp_replicate", self.dp_replicate, "must be >= 1")
        check(
            self.dp_shard == -1 or self.dp_shard >= 1,
            "parallel.dp_shard",
            self.dp_shard,
            "must be >= 1 or -1",
        )
        check(self.cp >= 1, "parallel.cp", self.cp, "must be >= 1")
        check(self.cp_mode in ("ulysses", "allgather", "ring"), "parallel.cp_mode", self.cp_mode,
              "must be 'ulysses', 'allgather' or 'ring'")  # fmt: skip


@dataclass(frozen=True)
class ParallelDims:
    """Resolved degrees for `world_size` processes; `build_mesh()` makes the `DeviceMesh`."""

    dp_replicate: int
    dp_shard: int
    cp: int
    world_size: int

    @classmethod
    def from_config(cls, cfg: ParallelConfig, world_size: int) -> ParallelDims:
        """Resolve ``dp_shard = -1`` (or, with ``fsdp=False``, replicate instead of shard)."""
        if not cfg.fsdp:
            if world_size % cfg.cp:
                raise ConfigError(f"world size {world_size} is not divisible by cp {cfg.cp}")
            return cls(dp_replicate=world_size // cfg.cp, dp_shard=1, cp=cfg.cp, world_size=world_size)
        fixed = cfg.dp_replicate * cfg.cp
        dp_shard = cfg.dp_shard
        if dp_shard == -1:
            if world_size % fixed:
                raise ConfigError(
                    f"world size {world_size} is not divisible by dp_replicate * cp = {fixed}; "
                    f"pick --cp / dp_replicate that divide the number of processes"
                )
            dp_shard = world_size // fixed
        if dp_shard * fixed != world_size:
            raise ConfigError(
                f"dp_replicate {cfg.dp_replicate} x dp_shard {dp_shard} x cp {cfg.cp} = {dp_shard * fixed} "
                f"but {world_size} processes are running; make the product equal the world size"
            )
        return cls(dp_replicate=cfg.dp_replicate, dp_shard=dp_shard, cp=cfg.cp, world_size=world_size)

    @property
    def dp(self) -> int:
        """Ranks that see different data."""
        return self.dp_replicate * self.dp_shard

    @property
    def fsdp_degree(self) -> int:
        return self.dp_shard * self.cp

    @cached_property
    def device_type(self) -> str:
        return "cuda" if torch.cuda.is_available() else "cpu"

    def build_mesh(self):
        """A 3-D mesh ``(dp_replicate, dp_shard, cp)`` with flattened ``dp``, ``dp_shard_cp``, ``dp_cp``."""
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh(
            self.device_type,
            (self.dp_replicate, self.dp_shard, self.cp),
            mesh_dim_names=("dp_replicate", "dp_shard", "cp"),
        )
        mesh["dp_replicate", "dp_shard"]._flatten(mesh_dim_name="dp")
        mesh["dp_shard", "cp"]._flatten(mesh_dim_name="dp_shard_cp")
        mesh["dp_replicate", "dp_shard", "cp"]._flatten(mesh_dim_name="dp_cp")
        return mesh


def world() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the environment `torchrun` sets; (0, 0, 1) otherwise."""
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return rank, local_rank, world_size


def init_process_group() -> tuple[int, int]:
    """Join the process group `torchrun` describes (gloo on CPU, nccl on CUDA); returns (rank, world)."""
    import torch.distributed as dist

    rank, local_rank, world_size = world()
    if world_size == 1 or dist.is_initialized():
        return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local_rank))
    else:
        dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size()
