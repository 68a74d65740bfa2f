"""A project's command line: the runtime's commands, one module per concern, for one project."""

import signal
import sys
from collections.abc import Callable
from importlib.util import find_spec
from types import FrameType
from typing import Annotated

import typer

from data_product_runtime.cli import experiments, lifecycle, scoring, serving
from data_product_runtime.cli.common import use_project
from data_product_runtime.project import Project

# Commands of the optional extras, offered when the extra's library is installed.
_EXTRA_COMMANDS: dict[str, tuple[str, Callable[..., None]]] = {
    "export-onnx": ("onnxruntime", lifecycle.export_onnx),
    "score-stream": ("confluent_kafka", scoring.score_stream),
    "score-spark": ("pyspark", scoring.score_spark),
}


def _exit_on_terminate(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def build_cli(project: Project) -> typer.Typer:
    """The ``<project>`` command: train, evaluate, promote, serve, score, ... for ``project``."""
    use_project(project)
    app = typer.Typer(
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

    app.command()(lifecycle.train)
    app.command("example-table")(lifecycle.example_table)
    app.command()(lifecycle.evaluate)
    app.command()(lifecycle.promote)
    app.command()(lifecycle.rollback)
    models = typer.Typer(help="Inspect the model registry.", no_args_is_help=True)
    models.command("list")(lifecycle.list_models)
    models.command("show")(lifecycle.show_model)
    models.command("history")(lifecycle.alias_history)
    app.add_typer(models, name="models")
    app.command()(serving.serve)
    app.command()(scoring.score)
    app.command("score-table")(scoring.score_table)
    app.command("ab-report")(experiments.ab_report)
    for name, (module, command) in _EXTRA_COMMANDS.items():
        if find_spec(module) is not None:
            app.command(name)(command)
    return app
