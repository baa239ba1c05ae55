"""Sharded checkpoints with `torch.distributed.checkpoint` (DCP): saved on N ranks, loadable on M.

Each rank writes its own shards plus one shared metadata file; a load on any number of ranks (one
process without a process group included) reads back whatever pieces its own shards need. The
state dicts come from `get_state_dict`, which gives FSDP2 parameters as DTensors and optimizer
state keyed by parameter name, so layouts differ freely between save and load.

The files are DCP's own format (tensor payloads plus a pickled metadata index): load only
checkpoints that your own runs wrote.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from worldsmith.errors import CheckpointError


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """DCP warns that it runs without a process group; that is the intended 1-process case."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
        yield


def training_state(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """``{"model": ..., "optim": ...}`` in DCP's rank-agnostic form."""
    if optimizer is None:
        return {"model": get_model_state_dict(model)}
    msd, osd = get_state_dict(model, optimizer)
    return {"model": msd, "optim": osd}


def save(state: dict[str, Any], path: str | Path) -> None:
    """Write `state` (nested dicts of tensors, DTensors and plain values) under folder `path`.

    Every rank of the default process group calls this with its own shards."""
    with _quiet():
        dcp.save(state, checkpoint_id=str(path))


def load(state: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Fill `state` (as returned by `training_state`, with the live shapes) in place from `path`."""
    path = Path(path)
    if not (path / ".metadata").is_file():
        raise CheckpointError(
            f"'{path}' is not a distributed checkpoint (no .metadata); pass a step_XXXXXXX folder"
        )
    try:
        with _quiet():
            dcp.load(state, checkpoint_id=str(path))
    except CheckpointException as err:  # per-rank failures, e.g. a shape mismatch
        reasons = {_reason(e) for e in err.failures.values()}
        raise CheckpointError(
            f"checkpoint '{path}' does not match this model/optimizer: {'; '.join(sorted(reasons))}"
        ) from None
    except (RuntimeError, KeyError, ValueError) as err:
        raise CheckpointError(f"checkpoint '{path}' does not match this model/optimizer: {err}") from None
    return state


def _reason(failure: Any) -> str:
    """The message of a DCP per-rank failure: an exception, or an (exception, traceback) pair."""
    exc = failure[0] if isinstance(failure, tuple) and failure else getattr(failure, "exc", failure)
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def apply_training_state(
    model: nn.Module, optimizer: torch.optim.Optimizer | None, state: dict[str, Any]
) -> None:
    """Copy a loaded `training_state` into the live model and optimizer."""
    set_state_dict(
        model,
        optimizer if optimizer is not None else [],
        model_state_dict=state["model"],
        optim_state_dict=state.get("optim", {}),
    )


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded model weights on CPU (gathered from every rank; all ranks must call it)."""
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
