"""`worldsmith version`: read from the installed packages' metadata, importing none of them."""

from __future__ import annotations

import platform
from importlib import metadata

import typer

from worldsmith import __version__


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version() -> None:
    """Print the versions of worldsmith, torch and PyAV."""
    typer.echo(f"worldsmith {__version__}\ntorch {_installed('torch')}\nav {_installed('av')}\n"
               f"python {platform.python_version()}")  # fmt: skip
