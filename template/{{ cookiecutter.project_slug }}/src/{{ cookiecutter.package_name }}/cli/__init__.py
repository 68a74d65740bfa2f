"""The ``{{ cookiecutter.project_slug }}`` command line: one module per concern, assembled here."""

from typing import Annotated

import typer

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.cli import experiments, lifecycle, scoring, serving

app = typer.Typer(
    help="{{ cookiecutter.project_name }}: {{ cookiecutter.description }}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(show: bool) -> None:
    if show:
        typer.echo(f"{{ cookiecutter.project_slug }} {__version__}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """{{ cookiecutter.project_name }}: {{ cookiecutter.description }}"""


app.command()(lifecycle.train)
app.command()(lifecycle.evaluate)
app.command()(lifecycle.promote)
app.command()(lifecycle.rollback)
{%- if cookiecutter.onnx_export %}
app.command("export-onnx")(lifecycle.export_onnx)
{%- endif %}
app.add_typer(lifecycle.models_app, name="models")
lifecycle.models_app.command("list")(lifecycle.list_models)
lifecycle.models_app.command("show")(lifecycle.show_model)
lifecycle.models_app.command("history")(lifecycle.alias_history)
app.command()(serving.serve)
app.command()(scoring.score)
app.command("score-table")(scoring.score_table)
app.command("ab-report")(experiments.ab_report)
{%- if cookiecutter.stream == 'kafka' %}
app.command("score-stream")(scoring.score_stream)
{%- endif %}
{%- if cookiecutter.spark %}
app.command("score-spark")(scoring.score_spark)
{%- endif %}
