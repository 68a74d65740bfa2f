"""What every command shares: the project, settings with overrides, clear errors, tables, options."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from data_product_runtime.project import Project
from data_product_runtime.settings import Settings

# The project whose commands these are, set once by `data_product_runtime.cli.build_cli`.
_projects: list[Project] = []


def use_project(project: Project) -> None:
    _projects[:] = [project]


def current_project() -> Project:
    if not _projects:
        msg = "no project: build the command line with data_product_runtime.cli.build_cli"
        raise RuntimeError(msg)
    return _projects[0]


def stdout_is_terminal() -> bool:
    """Whether output goes to a terminal (tests stand in for one by replacing this)."""
    return sys.stdout.isatty()


def print_table(table: Table) -> None:
    """Tables at the terminal's width (COLUMNS when set), and at full width in pipes and files
    (Rich would wrap them at 80 columns).

    Cells hold what users typed (actors, variant names): shown as typed, never read as Rich
    markup or emoji codes (Rich drops control characters from cells itself).
    """
    console = Console(width=None if stdout_is_terminal() else 200, markup=False, emoji=False)
    console.print(table)


def add_row(table: Table, *cells: "str | Text") -> None:
    """A row whose text cells are shown escaped (``printable``): they may hold what users typed."""
    table.add_row(*(printable(cell) if isinstance(cell, str) else cell for cell in cells))


def printable(text: str) -> str:
    """Text with its control characters (terminal escape sequences) shown escaped, not obeyed."""
    return "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)


ModelDirOption = Annotated[Path | None, typer.Option(help="Registry folder (default: models/).")]


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {printable(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    try:
        given = {key: value for key, value in overrides.items() if value is not None}
        return current_project().settings(**given)
    except ValidationError as error:
        raise fail(f"invalid settings:\n{error}") from None


@contextmanager
def user_errors() -> Iterator[None]:
    """Expected failures (bad data, unknown versions, refused artifacts) end in one clear line."""
    # Imported here so that `--help` answers without loading scikit-learn.
    from data_product_runtime.core.aliases import AliasError
    from data_product_runtime.io.datasets import DataError
    from data_product_runtime.io.faults import os_error_line
    from data_product_runtime.io.registry import ModelRegistryError

    try:
        yield
    except (AliasError, DataError, ModelRegistryError) as error:
        raise fail(str(error)) from None
    except OSError as error:  # the file system's faults: a full disk, permissions, ...
        raise fail(os_error_line(error)) from None
