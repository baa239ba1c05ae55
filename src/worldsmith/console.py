"""The shared rich console (stderr) and a progress bar for long work."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Human-facing output goes to stderr so that stdout stays clean for --json output.
console = Console(stderr=True, highlight=False)


def progress(*extra_columns, transient: bool = False) -> Progress:
    """A rich Progress with bar, count, elapsed and remaining time (quiet when not a terminal
    and WORLDSMITH_PROGRESS=0)."""
    disable = os.environ.get("WORLDSMITH_PROGRESS", "1") == "0"
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        *extra_columns,
        console=console,
        transient=transient,
        disable=disable or not sys.stderr,
    )
