"""Model lifecycle commands: train, evaluate, promote, roll back, export and inspect the registry."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from data_product_runtime.cli.common import (
    ModelDirOption,
    add_row,
    current_project,
    fail,
    load_settings,
    print_table,
    printable,
    user_errors,
)
from data_product_runtime.core.aliases import PRODUCTION

OutputFolderOption = Annotated[Path, typer.Option(help="Folder to write into.")]
ActorOption = Annotated[str | None, typer.Option(help="Who moves the alias (default: this user).")]


DataOption = Annotated[
    Path | None,
    typer.Option(help="CSV or Parquet training table (default: the bundled dataset)."),
]
TargetOption = Annotated[str | None, typer.Option(help="Target column of --data.")]


def train(
    data: DataOption = None, target: TargetOption = None, model_dir: ModelDirOption = None
) -> None:
    """Train the model, evaluate it on held-out data and store it as the new candidate."""
    settings = load_settings(data_path=data, target_column=target, model_dir=model_dir)
    with user_errors():
        from data_product_runtime.jobs.training import train as run_training

        metadata = run_training(current_project(), settings)
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in metadata.metrics.items())
    typer.echo(f"trained model {metadata.version} on {metadata.training_data.rows} rows: {metrics}")
    typer.echo(f"stored in {settings.model_dir / metadata.version} as the candidate")


def example_table(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file to write, by suffix.")],
    rows: Annotated[int, typer.Option(min=1, help="How many customers.")] = 600,
) -> None:
    """Write a small mixed-type churn table (id, categories, boolean, date, gaps) to train on."""
    with user_errors():
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        from data_product_runtime.examples import TARGETS, churn_table
        from data_product_runtime.io.datasets import DataError

        project = current_project()
        table = churn_table(project.problem_type, rows)
        suffix = path.suffix.lower()
        if suffix not in {".csv", ".parquet"}:
            raise DataError(f"{path}: unsupported file type '{suffix}'; use .csv or .parquet")
        if path.exists():
            raise DataError(f"{path}: already exists; choose another name or remove it first")
        (pa_csv.write_csv if suffix == ".csv" else pq.write_table)(table, path)
    target = TARGETS[project.problem_type]
    typer.echo(f"wrote {rows} rows to {path}; train on it: train --data {path} --target {target}")


def evaluate(
    model: Annotated[
        str | None, typer.Argument(help="Version or alias to evaluate (default: candidate).")
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(help="Alias or version to compare with; exit 1 if the model is worse."),
    ] = None,
    output: OutputFolderOption = Path("reports"),
    data: Annotated[
        Path | None,
        typer.Option(help="Table to evaluate on (default: the model's own training file, if any)."),
    ] = None,
    target: TargetOption = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Metrics and plots on held-out rows, next to --against and the naive baseline; the gate."""
    settings = load_settings(data_path=data, target_column=target, model_dir=model_dir)
    with user_errors():
        from data_product_runtime.jobs.evaluation import evaluate as run_evaluation

        report = run_evaluation(current_project(), settings, model, against, output)
    comparison = report.comparison
    columns = [*comparison.models, comparison.baseline]
    primary = comparison.problem.primary_metric
    evaluated, reference = columns[0].role, comparison.reference.role
    typer.echo(report.verdict.decision)
    typer.echo(report.verdict.detail)
    # Short headers, the versions listed below: the table fits 80 columns, ids stay whole.
    table = Table(
        "metric",
        "better",
        *(Column(e.role, justify="right") for e in columns[:-1]),
        Column("baseline", justify="right"),
        Column("gain", justify="right"),
        caption=f"On the same {len(comparison.target)} held-out rows. *: the primary metric, "
        f"the gate's. gain: how much better {evaluated} is than {reference} (negative: worse).",
        caption_justify="left",
    )
    for name in comparison.evaluations[0].metrics:
        gain = comparison.gain(name)
        add_row(
            table,
            name + ("*" if name == primary else ""),
            comparison.problem.better_when(name),
            *(f"{e.metrics[name]:.4f}" for e in columns),
            f"{gain:+.4f}",
        )
    print_table(table)
    for evaluation in columns:
        typer.echo(f"{evaluation.role}: {evaluation.version}")
    typer.echo(f"report: {report.page}")
    if not report.passed:
        raise typer.Exit(code=1)


def promote(
    model: Annotated[str, typer.Argument(help="Version (or alias) to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to point at it.")] = PRODUCTION,
    actor: ActorOption = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Point an alias (production by default) at a model version."""
    settings = load_settings(model_dir=model_dir)
    with user_errors():
        from data_product_runtime.io.registries import open_registry

        move = open_registry(settings).promote(model, alias, actor)
    typer.echo(f"{move.alias}: {move.previous or '(unset)'} -> {move.version}")


def rollback(
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = PRODUCTION,
    actor: ActorOption = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Move an alias (production by default) back to the version it held before."""
    settings = load_settings(model_dir=model_dir)
    with user_errors():
        from data_product_runtime.io.registries import open_registry

        move = open_registry(settings).rollback(alias, actor)
    typer.echo(f"{move.alias}: {move.previous} -> {move.version} (rolled back)")


def export_onnx(
    model: Annotated[
        str | None, typer.Argument(help="Version or alias (default: production, else the newest).")
    ] = None,
    output: OutputFolderOption = Path("exports"),
    model_dir: ModelDirOption = None,
) -> None:
    """Export a model to ONNX after proving it predicts what scikit-learn does on held-out data."""
    settings = load_settings(model_dir=model_dir)
    with user_errors():
        from data_product_runtime.core.evaluation import split
        from data_product_runtime.io.onnx_export import ParityError, export
        from data_product_runtime.io.registries import open_registry

        loaded = open_registry(settings).load(model)
        project = current_project()
        from data_product_runtime.jobs.evaluation import data_settings

        settings = data_settings(settings, loaded.metadata)
        dataset, _ = project.dataset(settings, loaded.metadata.features)
        _, test_set = split(dataset, project.problem, settings.test_size, settings.random_seed)
        try:
            exported = export(loaded, test_set.features, output / loaded.version)
        except ParityError as error:
            raise fail(f"not exported: {error}") from None
    typer.echo(
        f"exported {loaded.version} to {exported.path} (sha256 {exported.sha256[:12]}, "
        f"max difference {exported.max_difference:.2g} on {len(test_set)} held-out rows)"
    )


def list_models(model_dir: ModelDirOption = None) -> None:
    """Every stored version with its primary metric and aliases."""
    settings = load_settings(model_dir=model_dir)
    with user_errors():
        from data_product_runtime.io.registries import open_registry
        from data_product_runtime.io.registry import ArtifactRefusedError

        primary = current_project().problem.primary_metric
        registry = open_registry(settings)
        aliases = registry.aliases()
        # The id is what `promote` and `rollback` take: never wrapped or cut; other columns
        # wrap first.
        table = Table(
            caption=f"{primary}*: on each version's own held-out rows at training; compare "
            "versions on the same rows with `evaluate VERSION --against OTHER`.",
            caption_justify="left",
        )
        table.add_column(
            "version", no_wrap=True, min_width=len(max(registry.versions(), key=len, default=""))
        )
        table.add_column("created (UTC)", no_wrap=True)
        table.add_column(f"{primary}*", justify="right", no_wrap=True)
        table.add_column("rows", justify="right", no_wrap=True)
        table.add_column("aliases")
        for version in registry.versions():
            names = ", ".join(sorted(a for a, v in aliases.items() if v == version))
            try:
                metadata = registry.verified_metadata(version)
            except ArtifactRefusedError as error:
                add_row(table, version, Text("unusable", style="red"), "", "", names)
                typer.secho(
                    f"warning: {printable(error.args[0])}", err=True, fg=typer.colors.YELLOW
                )
                continue
            add_row(
                table,
                version,
                f"{metadata.created_at:%Y-%m-%d %H:%M}",
                f"{metadata.metrics[primary]:.4f}",
                f"{metadata.training_data.rows:,}",
                names,
            )
    print_table(table)


def show_model(
    model: Annotated[str, typer.Argument(help="Version or alias.")],
    model_dir: ModelDirOption = None,
) -> None:
    """The full metadata of a version, as JSON."""
    settings = load_settings(model_dir=model_dir)
    with user_errors():
        from data_product_runtime.io.registries import open_registry

        metadata = open_registry(settings).metadata(model)
    typer.echo(metadata.model_dump_json(indent=2))


def alias_history(
    alias: Annotated[str | None, typer.Option(help="Only this alias.")] = None,
    at: Annotated[
        datetime | None,
        typer.Option(
            help="Instead, which version --alias pointed to at this time (UTC if no zone)."
        ),
    ] = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Who moved which alias when, from which version to which."""
    settings = load_settings(model_dir=model_dir)
    with user_errors():
        from data_product_runtime.core.aliases import version_at
        from data_product_runtime.io.registries import open_registry

        history = open_registry(settings).history()
    if at is not None:
        if alias is None:
            raise fail("--at needs --alias")
        when = at if at.tzinfo else at.replace(tzinfo=UTC)
        typer.echo(version_at(history, alias, when) or f"'{alias}' was not set at {when}")
        return
    table = Table("when (UTC)", "alias", "from", "to", "by", "kind")
    for move in history:
        if alias is None or move.alias == alias:
            add_row(
                table,
                f"{move.at:%Y-%m-%d %H:%M:%S}",
                move.alias,
                move.previous or "",
                move.version,
                move.actor,
                move.kind,
            )
    print_table(table)
