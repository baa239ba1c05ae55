"""The `worldsmith` command line: one typer sub-app module per stage, registered in one table below.

Each sub-app module is a thin layer over the package's public entry points; writing commands run
inside their run directory through `common.run_command`. Errors the user can fix (`WorldsmithError`)
print one line and exit 2; `--debug` (anywhere on the command line) shows the traceback.

A stage's module (and torch, MuJoCo, ...) is imported only when one of its commands runs: `--help`
lists the table's one-line helps and `worldsmith version` imports no stage (0.1 s, not 2 s).
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from worldsmith.errors import WorldsmithError

# The one table, in --help order: name -> (module under worldsmith.cli, attribute, one-line help).
# The attribute is a command function (a top-level command) or a typer app (a group of commands);
# tests/test_cli.py checks that each help line is the first line of the command's own help.
TABLE: dict[str, tuple[str, str, str]] = {
    "version": ("info", "version", "Print the versions of worldsmith, torch and PyAV."),
    "probe": ("core", "probe", "Show a video's frame rate, frame count, duration, size and codec."),
    "shots": ("core", "shots", "Find shot boundaries and the clips they give; --out writes the clips."),
    "demo": ("core", "demo", "Run the main job end to end and write an HTML report under --out."),
    "curate": (
        "curate",
        "curate",
        "Curate raw videos into captioned, filtered, de-duplicated webdataset shards (resumable).",
    ),  # fmt: skip
    "plan": (
        "plan",
        "plan",
        "Plan with a world model: success rate, final distance, planning seconds per action, report.",
    ),
    "studio": (
        "studio",
        "studio",
        "Serve the Studio: look at runs, curated data and predictions; generate interactively.",
    ),  # fmt: skip
    "sim": ("sim", "app", "Digital twins: MuJoCo scenes rendered to video with exact ground truth."),
    "tokenizer": (
        "tokenizer",
        "app",
        "Video tokenizers (Cosmos CV/DV/CI/DI): train, encode, decode, evaluate.",
    ),
    "train": ("train", "app", "Train models on the shared Trainer."),
    "posttrain": ("posttrain", "app", "Post-train a pretrained world model on new conditions."),
    "generate": ("generate", "app", "Generate video with a world model."),
    "convert": ("convert", "app", "Convert released checkpoints to worldsmith's layout."),
    "guard": ("guard", "app", "Guardrails: check prompts, guard and face-blur videos."),
    "eval": ("eval", "app", "Evaluate videos: 3D consistency, physics alignment, multi-view."),
}


def load_command(name: str) -> click.Command:
    """The click command of table entry `name` (imports its module)."""
    module, attribute, _ = TABLE[name]
    target = getattr(importlib.import_module(f"worldsmith.cli.{module}"), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich")
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The root group: lists the table; imports a command's module when that command is run."""

    _listing = False  # while --help renders: one-line stubs, no imports

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(TABLE)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in TABLE:
            return None
        if self._listing:
            return click.Command(cmd_name, short_help=TABLE[cmd_name][2])
        return load_command(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="worldsmith",
    cls=LazyGroup,
    help="Build world foundation models for physical AI: digital twins, curation, tokenizers, "
    "world models, guardrails and evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class _State:
    debug = False
    argv: list[str] = []  # this command line (`--nproc` re-runs it under torchrun)


state = _State()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    state.debug = state.debug or debug


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `worldsmith` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    state.argv = list(argv)
    # --debug is accepted anywhere on the line, not only before the subcommand.
    state.debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        app(args=argv, prog_name="worldsmith")  # exits via SystemExit with the command's code
    except WorldsmithError as err:
        if state.debug:
            raise
        from worldsmith.console import console

        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
