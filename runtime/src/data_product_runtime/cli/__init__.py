"""A project's command line: the runtime's commands, one module per concern, for one project."""

import signal
import sys
from collections.abc import Callable
from importlib.util import find_spec
from types import FrameType
from typing import Annotated, Any

import typer
import typer.core

from data_product_runtime.cli import experiments, lifecycle, scoring, serving
from data_product_runtime.cli.common import use_project
from data_product_runtime.project import Project

# Commands of the optional extras, offered when the extra's library is installed.
_EXTRA_COMMANDS: dict[str, tuple[str, Callable[..., None]]] = {
    "export-onnx": ("onnxruntime", lifecycle.export_onnx),
    "score-stream": ("confluent_kafka", scoring.score_stream),
    "score-spark": ("pyspark", scoring.score_spark),
}


def _flags_without_type(params: list[Any]) -> list[Any]:
    """The parameters, their flags shown with no value type."""
    # Typer's help labels every flag, --help included, "<bool>" although a flag takes no value.
    for param in params:
        if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))


def _exit_on_terminate(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def build_cli(project: Project) -> typer.Typer:
    """The ``<project>`` command: train, evaluate, promote, serve, score, ... for ``project``."""
    use_project(project)
    app = typer.Typer(
        cls=_Group,
        help=f"{project.title}: {project.description}",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    def show_version(show: bool) -> None:
        if show:
            typer.echo(f"{project.name} {project.version}")
            raise typer.Exit

    @app.callback(help=f"{project.title}: {project.description}")
    def main(
        version: Annotated[  # noqa: ARG001  (`--version` acts in its callback)
            bool,
            typer.Option(
                "--version", callback=show_version, is_eager=True, help="Show the version and exit."
            ),
        ] = False,
    ) -> None:
        # `kill` (SIGTERM, as CI runners and schedulers stop jobs) unwinds like Ctrl-C, so that
        # half-written models and outputs are deleted; the server installs its own handler.
        signal.signal(signal.SIGTERM, _exit_on_terminate)

    commands: dict[str, Callable[..., None]] = {
        "train": lifecycle.train,
        "example-table": lifecycle.example_table,
        "evaluate": lifecycle.evaluate,
        "promote": lifecycle.promote,
        "rollback": lifecycle.rollback,
        "serve": serving.serve,
        "score": scoring.score,
        "score-table": scoring.score_table,
        "ab-report": experiments.ab_report,
    }
    commands |= {
        name: command
        for name, (module, command) in _EXTRA_COMMANDS.items()
        if find_spec(module) is not None
    }
    for name, command in commands.items():
        app.command(name, cls=_Command)(command)
    models = typer.Typer(cls=_Group, help="Inspect the model registry.", no_args_is_help=True)
    models.command("list", cls=_Command)(lifecycle.list_models)
    models.command("show", cls=_Command)(lifecycle.show_model)
    models.command("history", cls=_Command)(lifecycle.alias_history)
    app.add_typer(models, name="models")
    return app
