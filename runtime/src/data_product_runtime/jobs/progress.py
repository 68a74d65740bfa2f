"""Progress display for long steps: shown on a terminal, silent under CI or in a pipe."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


def progress_is_shown() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def steps(total: int) -> Iterator[Callable[[str], None]]:
    """Yield ``advance(description)``; call it as each of ``total`` steps starts."""
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress_is_shown(),
        transient=True,
    )
    with display:
        task = display.add_task("starting", total=total)
        started = False

        def advance(description: str) -> None:
            nonlocal started
            display.update(task, advance=1 if started else 0, description=description)
            started = True

        yield advance
        display.update(task, completed=total)


@contextmanager
def rows_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(rows)``; shows rows done, the rate, and the bar when the total is known."""
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        RowRateColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress_is_shown(),
        transient=True,
    )
    with display:
        task = display.add_task(description, total=total)
        yield lambda rows: display.advance(task, rows)


class RowRateColumn(ProgressColumn):
    """Rows per second since the start, the rate the closing summary reports (Rich's own
    speed is a recent moving average that leaves out the start and differs from it)."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("")
        return Text(f"{task.completed / elapsed:,.0f} rows/s")
