"""The shared rich console (stderr) and a progress bar for long work.

On a terminal the bar is live and fits an 80-column line; when stderr is a file or a pipe (a log)
it prints plain lines instead (started, every 10 %, at least every 30 s, done), which a live bar
cannot do: rich renders it once, at the end, cut to the log's 80 columns.
"""

from __future__ import annotations

import os
import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

# Human-facing output goes to stderr so that stdout stays clean for --json output.
console = Console(stderr=True, highlight=False, soft_wrap=True)  # a log keeps whole lines

LOG_EVERY_FRACTION = 0.1  # a log line per 10 % of the work ...
LOG_EVERY_S = 30.0  # ... and at least one per 30 s


def progress(*extra_columns, transient: bool = False) -> Progress:
    """A progress bar with count, elapsed and remaining time (+ `extra_columns`); plain lines when
    stderr is not a terminal; quiet with WORLDSMITH_PROGRESS=0."""
    disable = os.environ.get("WORLDSMITH_PROGRESS", "1") == "0" or not sys.stderr
    columns = (
        # the description wraps when the line is short; the numbers never get cut ("20/… 0:0…")
        TextColumn("[bold]{task.description}", table_column=Column(no_wrap=False, min_width=8)),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        *extra_columns,
    )
    if console.is_terminal or disable:
        return Progress(SpinnerColumn(), *columns, console=console, transient=transient, disable=disable)
    return LogProgress(*columns, console=console)


class LogProgress(Progress):
    """A `Progress` for logs: no live display; a plain line per task when it starts, every
    `LOG_EVERY_FRACTION` of its total or `LOG_EVERY_S` seconds, and when it is done."""

    def __init__(self, *columns, **kwargs) -> None:
        super().__init__(*columns, disable=True, **kwargs)
        self._logged: dict[TaskID, tuple[float, float]] = {}  # task -> (completed, time) of its last line

    def add_task(self, description: str, *args, **kwargs) -> TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        self._log(task_id, force=True)
        return task_id

    def update(self, task_id: TaskID, *args, **kwargs) -> None:
        super().update(task_id, *args, **kwargs)
        self._log(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def stop(self) -> None:
        for task in self.tasks:
            if self._logged.get(task.id, (None,))[0] != task.completed:
                self._log(task.id, force=True)
        super().stop()

    def _log(self, task_id: TaskID, *, force: bool = False) -> None:
        task = self._tasks[task_id]
        done, now = task.completed, time.monotonic()
        last_done, last_t = self._logged.get(task_id, (None, now))
        if not force:
            step = (task.total or 0) * LOG_EVERY_FRACTION
            finished = task.total is not None and done >= task.total and last_done != done
            moved = last_done is not None and step > 0 and done - last_done >= step
            if not (finished or moved or (done != last_done and now - last_t >= LOG_EVERY_S)):
                return
        self._logged[task_id] = (done, now)
        parts = [c(task) for c in self.columns if not isinstance(c, BarColumn)]
        self.console.print(
            "  ".join(p.plain for p in parts if isinstance(p, Text) and p.plain.strip()),
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
