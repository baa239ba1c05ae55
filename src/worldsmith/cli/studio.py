"""`worldsmith studio`: the local web app over a runs folder (runs, curated data, generation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.cli.common import GuardPolicyOpt


def studio(
    runs: Annotated[
        Path, typer.Option("--runs", help="Runs folder to serve (every run dir under it).")
    ] = Path("runs"),
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to bind; anything but 127.0.0.1 exposes your runs (warned)."),
    ] = "127.0.0.1",
    guard: Annotated[
        str, typer.Option("--guard", help="Guards on generations: default | blocklist.")
    ] = "default",
    guard_policy: GuardPolicyOpt = None,
) -> None:
    """Serve the Studio: look at runs, curated data and predictions; generate interactively."""
    from worldsmith.studio.server import serve  # fastapi + uvicorn (~0.6 s to import): only this command

    serve(runs, host=host, port=port, guard=guard, guard_policy=guard_policy)


COMMANDS = {"studio": studio}
