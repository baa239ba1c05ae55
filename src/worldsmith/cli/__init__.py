"""The `worldsmith` command line: one typer sub-app per stage, registered in one table below.

Each sub-app module is a thin layer over the package's public entry points; writing commands run
inside their run directory through `common.run_command`. Errors the user can fix (`WorldsmithError`)
print one line and exit 2; `--debug` (anywhere on the command line) shows the traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from worldsmith.cli import (
    convert,
    core,
    curate,
    eval,
    generate,
    guard,
    plan,
    posttrain,
    sim,
    studio,
    tokenizer,
    train,
)
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

# The one table: top-level commands, then sub-apps (name -> typer app), in --help order.
COMMANDS = {**core.COMMANDS, **curate.COMMANDS, **plan.COMMANDS, **studio.COMMANDS}
SUBAPPS = {
    "sim": sim.app,
    "tokenizer": tokenizer.app,
    "train": train.app,
    "posttrain": posttrain.app,
    "generate": generate.app,
    "convert": convert.app,
    "guard": guard.app,
    "eval": eval.app,
}
for _name, _fn in COMMANDS.items():
    app.command(_name)(_fn)
for _name, _sub in SUBAPPS.items():
    app.add_typer(_sub, name=_name)


class _State:
    debug = False


state = _State()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    state.debug = state.debug or debug


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `worldsmith` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line, not only before the subcommand.
    state.debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        app(args=argv, prog_name="worldsmith")  # exits via SystemExit with the command's code
    except WorldsmithError as err:
        if state.debug:
            raise
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
