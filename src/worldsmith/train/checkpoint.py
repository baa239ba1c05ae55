"""Training checkpoints (exact resume) and inference exports (`config.json` + `model.safetensors`).

A training checkpoint is one folder per step::

    <out>/checkpoints/
      step_0000500/
        state/             model, optimizer and EMA shards (torch.distributed.checkpoint; N -> M ranks)
        rng/rank_00000.*   every RNG (python, numpy, torch CPU/CUDA) of every rank
        trainer.json       step, data position, grad-scaler state, config, world size
      latest -> step_0000500

Every rank writes into ``.step_0000500.partial``; once all have finished, rank 0 adds
``trainer.json``, renames the folder into place and only then moves ``latest``. A run killed at any
moment therefore leaves ``latest`` on a complete checkpoint. The learning-rate schedule is a pure
function of the step (see `optim.lr_at`), so the step is the scheduler's whole state.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from worldsmith import __version__, config, fs
from worldsmith.checkpoint import Pretrained, load_strict, unshare
from worldsmith.distributed import checkpoint as dcp_io
from worldsmith.errors import CheckpointError

STEP_PREFIX = "step_"


def step_dir(root: Path, step: int) -> Path:
    return root / f"{STEP_PREFIX}{step:07d}"


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def latest(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `root` (following ``latest``), or None."""
    root = Path(root)
    link = root / "latest"
    if link.is_symlink() or link.exists():
        target = link.resolve()
        if (target / "trainer.json").is_file():
            return target
    done = sorted(p for p in root.glob(f"{STEP_PREFIX}*") if (p / "trainer.json").is_file())
    return done[-1] if done else None


# RNG state ------------------------------------------------------------------------------------


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, json) capturing python, numpy and torch (CPU + every CUDA device) generators."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    version, py_state, gauss_next = random.getstate()
    meta = {
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
        "python": [version, list(py_state), gauss_next],
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    kind, pos, has_gauss, cached = meta["numpy"]
    keys = tensors["numpy_keys"].numpy().view(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))
    version, py_state, gauss_next = meta["python"]
    random.setstate((version, tuple(py_state), gauss_next))


# Training checkpoints -------------------------------------------------------------------------


def save_training(
    root: str | os.PathLike,
    step: int,
    state: dict[str, Any],
    meta: dict[str, Any],
    *,
    rank: int = 0,
    keep: int = 0,
) -> Path:
    """Save one checkpoint (all ranks call this); returns the final folder.

    Args:
        state: DCP state (``model``, ``optim``, ``ema``...), sharded tensors allowed.
        meta: JSON facts written by rank 0 (step, data position, config...).
        keep: keep only the newest `keep` checkpoints (0 keeps all).
    """
    root = Path(root)
    final = step_dir(root, step)
    partial = root / f".{final.name}.partial"
    if rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    _barrier()
    dcp_io.save(state, partial / "state")
    tensors, rng_meta = rng_state()
    (partial / "rng").mkdir(exist_ok=True)
    save_file(tensors, str(partial / "rng" / f"rank_{rank:05d}.safetensors"))
    fs.write_json(partial / "rng" / f"rank_{rank:05d}.json", rng_meta)
    _barrier()
    if rank == 0:
        fs.write_json(partial / "trainer.json", {**meta, "step": step, "worldsmith": __version__})
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        _point_latest(root, final)
        if keep > 0:
            done = sorted(p for p in root.glob(f"{STEP_PREFIX}*") if p.is_dir())
            for old in done[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return final


def _point_latest(root: Path, target: Path) -> None:
    tmp = root / f".latest.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target.name, tmp)
    os.replace(tmp, root / "latest")


def load_training(path: str | os.PathLike, state: dict[str, Any], *, rank: int = 0) -> dict[str, Any]:
    """Fill `state` in place from checkpoint folder `path`, restore this rank's RNGs; return the meta."""
    path = Path(path)
    meta_file = path / "trainer.json"
    if not meta_file.is_file():
        raise CheckpointError(
            f"'{path}' is not a complete training checkpoint (no trainer.json); "
            f"resume from <out>/checkpoints/latest or a step_XXXXXXX folder"
        )
    dcp_io.load(state, path / "state")
    rng_file = path / "rng" / f"rank_{rank:05d}.safetensors"
    if rng_file.is_file():
        set_rng_state(
            load_file(str(rng_file)), json.loads((path / "rng" / f"rank_{rank:05d}.json").read_text())
        )
    return json.loads(meta_file.read_text())


# Inference export -----------------------------------------------------------------------------


def export_model(path: str | os.PathLike, model: nn.Module, model_config: Any = None) -> Path:
    """Write `model`'s weights and config as ``config.json`` + ``model.safetensors``, atomically.

    A worldsmith model (`Pretrained`) given no `model_config` is written in the one checkpoint format
    (`Model.from_pretrained(path)` reads it back). Otherwise `model_config` is a config dataclass or a
    plain dict written as config.json. FSDP2-sharded models are gathered first
    (every rank must call this; rank 0 writes).
    """
    from torch.distributed.tensor import DTensor

    path = Path(path)
    sharded = any(isinstance(p, DTensor) for p in model.parameters())
    if sharded:
        weights = dcp_io.full_model_state(model)
        import torch.distributed as dist

        if dist.get_rank() != 0:
            dist.barrier()  # wait for rank 0's write
            return path
    else:
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if isinstance(model, Pretrained) and model_config is None:  # one of ours: the one checkpoint format
        model.save_pretrained(path, state=weights)
        if sharded:
            torch.distributed.barrier()
        return path
    cfg = config.to_dict(model_config) if _is_dataclass(model_config) else dict(model_config or {})
    with fs.atomic_dir(path) as tmp:
        fs.write_json(tmp / "config.json", cfg)
        save_file(unshare(weights), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    if sharded:
        torch.distributed.barrier()
    return path


def _is_dataclass(obj: Any) -> bool:
    import dataclasses

    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def read_export(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config dict, weights) of an exported model folder."""
    path = Path(path)
    cfg_file, weights_file = path / "config.json", path / "model.safetensors"
    if not cfg_file.is_file() or not weights_file.is_file():
        raise CheckpointError(
            f"'{path}' is not an exported model: it needs config.json and model.safetensors"
        )
    return json.loads(cfg_file.read_text()), load_file(str(weights_file))


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load an export's weights into `model` (strict); mismatches raise `CheckpointError`."""
    _, weights = read_export(path)
    return load_strict(model, weights, path)


def load_model(path: str | os.PathLike, build) -> nn.Module:
    """``build(config_dict) -> nn.Module``, then its weights from the export at `path` (read once)."""
    cfg, weights = read_export(path)
    return load_strict(build(cfg), weights, path)
