"""Start N local processes for one training command (``--nproc N``), or join an external torchrun.

`relaunch(nproc)` re-executes the current command under ``python -m torch.distributed.run`` on
127.0.0.1 with a free port, unless this process already runs under torchrun (``RANK`` is set).
`spawn` starts ranks directly with torchrun's environment variables (cheaper, used by tests).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence

from worldsmith.errors import ConfigError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def torchrun_command(nproc: int, argv: Sequence[str], *, port: int | None = None) -> list[str]:
    """``python -m torch.distributed.run ... -m worldsmith.cli <argv>`` for `nproc` local ranks."""
    if nproc < 1:
        raise ConfigError(f"--nproc {nproc} must be >= 1")
    return [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1",
        "--master_addr=127.0.0.1", f"--master_port={port or free_port()}", "-m", "worldsmith.cli", *argv,
    ]  # fmt: skip


def relaunch(nproc: int, argv: Sequence[str] | None = None) -> int | None:
    """Run this command again under torchrun with `nproc` ranks and return its exit code.

    Returns None (and does nothing) when ``nproc <= 1`` or when already running under torchrun, so a
    command calls ``code = relaunch(nproc)`` first and continues normally on None.
    """
    if nproc <= 1 or under_torchrun():
        return None
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = _drop_option(argv, "--nproc")
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.call(torchrun_command(nproc, argv), env=env)


def _drop_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            out.append(arg)
    return out


def spawn(nproc: int, cmd: Sequence[str], *, env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """Start `nproc` copies of `cmd` as ranks of one gloo/nccl group on 127.0.0.1 (no torchrun)."""
    port = free_port()
    procs = []
    for rank in range(nproc):
        rank_env = dict(
            os.environ if env is None else env,
            RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc),
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
        )  # fmt: skip
        procs.append(subprocess.Popen(list(cmd), env=rank_env))
    return procs


def parallel_overrides(*, fsdp: bool, cp: int, ac: bool, compile: bool, prefix: str = "") -> list[str]:
    """The CLI's ``--fsdp/--cp/--ac/--compile`` flags as dotted overrides of `TrainConfig.parallel`
    (``prefix="train."`` for recipes that group their overrides by section)."""
    if cp < 1:
        raise ConfigError(f"--cp {cp} must be >= 1")
    flags = {"fsdp": fsdp, "cp": cp, "ac": ac, "compile": compile}
    return [f"{prefix}parallel.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in flags.items()]
