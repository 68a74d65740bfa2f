"""What every command shares: settings with overrides, clear errors, tables, common options."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from {{ cookiecutter.package_name }}.settings import Settings


def print_table(table: Table) -> None:
    """Tables at full width in pipes and files (rich would wrap them at 80 columns)."""
    Console(width=None if sys.stdout.isatty() else 200).print(table)


ModelDirOption = Annotated[Path | None, typer.Option(help="Registry folder (default: models/).")]


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:
        raise fail(f"invalid settings:\n{error}") from None


@contextmanager
def user_errors() -> Iterator[None]:
    """Expected failures (bad data, unknown versions, refused artifacts) end in one clear line."""
    # Imported here so that `--help` answers without loading scikit-learn.
    from {{ cookiecutter.package_name }}.core.aliases import AliasError
    from {{ cookiecutter.package_name }}.io.datasets import DataError
    from {{ cookiecutter.package_name }}.io.registry import ModelRegistryError

    try:
        yield
    except (AliasError, DataError, ModelRegistryError) as error:
        raise fail(str(error)) from None
