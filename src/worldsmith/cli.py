"""The `worldsmith` command line: one typer app, each subcommand a thin call into the package.

Errors the user can fix (`WorldsmithError`) print one line and exit 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from worldsmith.console import console
from worldsmith.errors import WorldsmithError

app = typer.Typer(
    name="worldsmith",
    help="Build world foundation models for physical AI: digital twins, curation, tokenizers, "
    "world models, guardrails and evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class _State:
    debug = False


state = _State()

# Options shared by every command that writes.
Out = Annotated[Path, typer.Option("--out", "-o", help="Run directory for outputs and run.json.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    state.debug = debug


@app.command()
def version() -> None:
    """Print the versions of worldsmith, torch and PyAV."""
    from worldsmith.runs import versions

    v = versions()
    typer.echo(f"worldsmith {v['worldsmith']}\ntorch {v['torch']}\nav {v['av']}\npython {v['python']}")


@app.command()
def probe(
    video: Annotated[Path, typer.Argument(help="Video file to inspect.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a video's frame rate, frame count, duration, size and codec."""
    from dataclasses import asdict

    from worldsmith.video.io import probe as probe_video

    info = asdict(probe_video(video))
    if as_json:
        typer.echo(json.dumps(info))
    else:
        for key, value in info.items():
            typer.echo(f"{key:>10}: {value}")


@app.command()
def demo(
    out: Out = Path("runs/demo"),
    seed: Seed = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smallest sizes (for tests).")] = False,
) -> None:
    """Run the main job end to end and write an HTML report under --out."""
    from worldsmith.demo import run_demo

    run_demo(out, seed=seed, quick=quick)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `worldsmith` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:
        state.debug = True
    try:
        app(args=argv, prog_name="worldsmith")  # exits via SystemExit with the command's code
    except WorldsmithError as err:
        if state.debug:
            raise
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
