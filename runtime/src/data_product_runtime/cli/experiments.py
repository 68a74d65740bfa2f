"""A/B experiments: the prediction log joined with observed outcomes, and a verdict."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from data_product_runtime.cli.common import (
    add_row,
    current_project,
    fail,
    load_settings,
    print_table,
)

if TYPE_CHECKING:
    from data_product_runtime.core.experiments import Estimate, ExperimentReport


def ab_report(
    outcomes: Annotated[
        Path,
        typer.Option(
            help="CSV of observed outcomes: request_id, outcome and optionally row (default 0)."
        ),
    ],
    log: Annotated[
        Path | None,
        typer.Option(help="The service's prediction log (default: the prediction_log setting)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="Variant the others are compared with (default: most traffic)."),
    ] = None,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Also measure the shadow models' predictions.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Measures per variant with 95 % intervals and a verdict, from logged predictions and outcomes."""
    from data_product_runtime.core.experiments import ExperimentError, analyse, join
    from data_product_runtime.io.experiment_data import read_outcomes, read_predictions

    if log is None:
        log = load_settings().prediction_log
        if log is None:
            raise fail("no prediction log: pass --log or set the prediction_log setting")
    try:
        problem_type = current_project().problem_type
        joined = join(read_predictions(log), read_outcomes(outcomes, problem_type), shadow=shadow)
        report = analyse(joined, problem_type, baseline)
    except ExperimentError as error:
        raise fail(str(error)) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    _print(report)


def _interval(estimate: "Estimate | None", digits: int, scale: float = 1.0) -> str:
    if estimate is None:
        return "-"
    return (
        f"{scale * estimate.value:.{digits}f} "
        f"[{scale * estimate.low:.{digits}f}, {scale * estimate.high:.{digits}f}]"
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _print(report: "ExperimentReport") -> None:
    classification = current_project().problem_type == "classification"
    measures = (
        ["accuracy % [95 % CI]", "log loss", "ROC AUC"]
        if classification
        else ["MAE [95 % CI]", "RMSE [95 % CI]"]
    )
    table = Table(
        "variant", "model version", "predictions", "outcomes", *measures, title="A/B report"
    )
    for arm in report.arms:
        marker = " (baseline)" if arm.name == report.baseline else ""
        values = (
            [_interval(arm.accuracy, 1, scale=100), _number(arm.log_loss), _number(arm.roc_auc)]
            if classification
            else [_interval(arm.mae, 4), _interval(arm.rmse, 4)]
        )
        add_row(
            table,
            arm.name + marker,
            ", ".join(arm.model_versions),
            f"{arm.predictions:,}",
            f"{arm.outcomes:,}",
            *values,
        )
    print_table(table)
    for note in report.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW)
    for line in report.verdict:
        typer.secho(line, bold=True)
