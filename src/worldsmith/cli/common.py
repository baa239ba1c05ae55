"""What every `worldsmith` sub-app shares: option types, the run-directory helper, argument parsers.

A writing command is one call to `run_command`: it opens the run directory (`run.json` with the
arguments, seed, versions, status and wall time), seeds the process (the CLI is a process entry
point, the one place a global seed is set) and records the command's result dict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from worldsmith.cli import state
from worldsmith.console import console
from worldsmith.data.curated import SELECT_HELP, Selection
from worldsmith.errors import ConfigError
from worldsmith.runs import RunDir, seed_everything

# Options shared by every command that writes.
Out = Annotated[Path, typer.Option("--out", "-o", help="Run directory for outputs and run.json.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
# Options shared by the training commands.
TrainData = Annotated[
    Path,
    typer.Option(
        "--data", help="`worldsmith curate` output (shards + manifest), a folder of videos, or a video."
    ),
]
Select = Annotated[
    list[str] | None,
    typer.Option("--select", help=f"Curated --data: keep clips by the manifest: {SELECT_HELP}. Repeatable."),
]
ClipFrames = Annotated[int, typer.Option("--frames", help="Frames per clip (1 + k * s_t).")]
ClipSize = Annotated[str, typer.Option("--size", help="HxW of the clips, e.g. 64x64.")]
TextEncoderOpt = Annotated[str, typer.Option("--text-encoder", help="minilm | t5:<dir> | qwen:<dir> | none.")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any config key: key=value, e.g. model.depth=2. Repeatable."),
]
TrainSteps = Annotated[int | None, typer.Option("--steps", help="Optimizer steps (= --set train.steps=N).")]
# Options every distributed training command takes (worldsmith.distributed); --nproc re-runs under torchrun.
NProc = Annotated[int, typer.Option("--nproc", help="Local processes (re-runs under torchrun).")]
Fsdp = Annotated[bool, typer.Option("--fsdp/--no-fsdp", help="Shard params with FSDP2 (else replicate).")]
CP = Annotated[int, typer.Option("--cp", help="Context-parallel degree: ranks splitting each sequence.")]
AC = Annotated[bool, typer.Option("--ac", help="Activation checkpointing of every block.")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile every block.")]
# Options of the generate commands.
CondFrames = Annotated[int, typer.Option("--cond-frames", help="Given frames (1 + k * s_t).")]
Guard = Annotated[str, typer.Option("--guard", help="Guards: default | blocklist | none (loudly off).")]
GuardPolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--guard-policy",
        help="strict | default | research | policy YAML (default: $WORLDSMITH_GUARD_POLICY).",
    ),
]


def run_command(out: Path, command: str, args: dict[str, Any], seed: int | None,
                fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:  # fmt: skip
    """Run `fn` inside the run directory `out`; its result dict is recorded in `run.json`."""
    with RunDir(out, command=command, args=args, seed=seed) as run:
        if seed is not None:
            seed_everything(seed)
        result = fn() or {}
        run.record(**result)
    return result


def print_result(result: dict[str, Any]) -> None:
    for key, value in result.items():
        console.print(f"{key:>18}: {value}")


def _finite(value: Any) -> Any:
    """NaN/inf -> None, through dicts and lists (JSON has no NaN: `json.loads` elsewhere would fail)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(result: dict) -> None:
    typer.echo(json.dumps(_finite(json.loads(json.dumps(result, default=float))), indent=2, allow_nan=False))


def train_sets(override: list[str] | None, steps: int | None) -> list[str]:
    """`--set` overrides plus `--steps N` as ``train.steps=N`` (last, so it wins)."""
    return [*(override or []), *([] if steps is None else [f"train.steps={steps}"])]


def parse_size(size: str) -> tuple[int, int]:
    """`--size HxW` -> (H, W)."""
    h, _, w = size.partition("x")
    if not (h.isdigit() and w.isdigit()):
        raise ConfigError(f"--size '{size}' must look like 64x64")
    return int(h), int(w)


def selection(select: list[str] | None) -> Selection:
    """`--select` terms -> the `Selection` of curated clips (empty: all kept clips)."""
    return Selection.parse(select or [])


def parallel(nproc: int, fsdp: bool, cp: int, ac: bool, compile_: bool, prefix: str = "") -> list[str]:
    """Relaunch under torchrun for --nproc > 1 (exits with its code); else the parallel overrides."""
    from worldsmith.distributed.launch import parallel_overrides, relaunch

    code = relaunch(nproc, argv=state.argv)  # the line main() was given (sys.argv when run as a script)
    if code is not None:
        raise typer.Exit(code)
    return parallel_overrides(fsdp=fsdp, cp=cp, ac=ac, compile=compile_, prefix=prefix)
