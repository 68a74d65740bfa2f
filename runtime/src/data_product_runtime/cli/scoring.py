"""Batch scoring commands: files, database tables, streams, Spark.

Each exits 0 when every row was scored, 3 when some rows were quarantined (their rows and
reasons are in the quarantine output), and 1 on an error (nothing is then written).
"""

from typing import TYPE_CHECKING, Annotated

import typer

from data_product_runtime.cli.common import ModelDirOption, load_settings, user_errors
from data_product_runtime.settings import Settings

if TYPE_CHECKING:
    from data_product_runtime.core.model import Model
    from data_product_runtime.io.adapters import FeatureReader, ResultWriter
    from data_product_runtime.jobs.scoring import ScoringSummary

ModelOption = Annotated[
    str | None, typer.Option("--model", help="Version or alias (default: production, else newest).")
]
KeyColumnOption = Annotated[
    str | None, typer.Option(help="Column identifying a row (default: id; else row numbers).")
]


def quarantine_location(output: str) -> str:
    """``results.csv`` -> ``results.quarantine.csv``, beside the output and in its format."""
    folder, slash, name = output.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    renamed = f"{stem}.quarantine.{suffix}" if dot and stem else f"{name}.quarantine"
    return f"{folder}{slash}{renamed}"


def _load_model(settings: Settings, reference: str | None) -> "Model":
    from data_product_runtime.io.registries import open_registry

    # The portable form when the model has one: no scikit-learn in the scoring process.
    return open_registry(settings).load(reference, portable=True)


def _run(
    model: "Model",
    reader: "FeatureReader",
    results: "ResultWriter",
    quarantine: "ResultWriter",
    key_column: str,
) -> "ScoringSummary":
    from data_product_runtime.jobs.progress import rows_progress
    from data_product_runtime.jobs.scoring import score as run_scoring

    with rows_progress("scoring", reader.total_rows) as advance:
        return run_scoring(
            model, reader, results, quarantine, key_column=key_column, on_rows=advance
        )


def _report(summary: "ScoringSummary", results: str, quarantine: str) -> None:
    from data_product_runtime.jobs.scoring import QUARANTINED_EXIT_CODE

    typer.echo(
        f"scored {summary.scored:,} of {summary.rows:,} rows in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s) into {results}"
    )
    if summary.quarantined:
        typer.secho(
            f"{summary.quarantined:,} rows failed the checks and were quarantined in {quarantine}",
            err=True,
            fg=typer.colors.YELLOW,
        )
        raise typer.Exit(code=QUARANTINED_EXIT_CODE)


def score(
    input_path: Annotated[
        str, typer.Argument(metavar="INPUT", help="CSV or Parquet file (or folder, or URL).")
    ],
    output_path: Annotated[
        str, typer.Argument(metavar="OUTPUT", help="CSV or Parquet file to write, by suffix.")
    ],
    quarantine: Annotated[
        str | None,
        typer.Option(help="Where rows that fail the checks go (default: OUTPUT.quarantine.*)."),
    ] = None,
    model: ModelOption = None,
    key_column: KeyColumnOption = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Score a file in bounded memory; OUTPUT appears only once complete. Exit 3: rows quarantined."""
    settings = load_settings(model_dir=model_dir, score_key_column=key_column)
    quarantine = quarantine or quarantine_location(output_path)
    with user_errors():
        from data_product_runtime.core.scoring import quarantine_schema, result_schema
        from data_product_runtime.io.files import FileReader, FileWriter, check_distinct
        from data_product_runtime.jobs.scoring import (
            key_name,
            row_key_column,
            text_and_number_columns,
        )

        check_distinct(input=input_path, output=output_path, quarantine=quarantine)
        loaded = _load_model(settings, model)
        key = row_key_column(loaded, settings.score_key_column)
        numeric, texts = text_and_number_columns(loaded, key)
        reader = FileReader(
            input_path,
            numeric_columns=numeric,
            text_columns=texts,
            batch_rows=settings.score_batch_rows,
            csv_block_bytes=settings.score_csv_block_bytes,
        )
        present = key_name(reader.column_names, key)
        with (
            reader,
            FileWriter(output_path, result_schema(loaded, present)) as results,
            FileWriter(quarantine, quarantine_schema(present)) as refused,
        ):
            summary = _run(loaded, reader, results, refused, key)
    _report(summary, output_path, quarantine)


def score_table(
    input_table: Annotated[str, typer.Argument(help="Table holding the features and the key.")],
    output_table: Annotated[
        str, typer.Argument(help="Table of results (created when missing; rows upserted).")
    ],
    quarantine_table: Annotated[
        str | None,
        typer.Option(help="Table of rows that fail the checks (default: OUTPUT_TABLE_quarantine)."),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: settings' database_url).")
    ] = None,
    model: ModelOption = None,
    key_column: KeyColumnOption = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Score a database table into another in one transaction; rescoring updates, never duplicates."""
    settings = load_settings(
        model_dir=model_dir, score_key_column=key_column, database_url=database_url
    )
    quarantine_table = quarantine_table or f"{output_table}_quarantine"
    with user_errors():
        from data_product_runtime.core.scoring import quarantine_schema, result_schema
        from data_product_runtime.io.sql import SqlReader, SqlWriter, create_engine
        from data_product_runtime.jobs.scoring import row_key_column

        loaded = _load_model(settings, model)
        key = row_key_column(loaded, settings.score_key_column)
        engine = create_engine(settings.database_url)
        try:
            reader = SqlReader(
                engine,
                input_table,
                columns=[*loaded.metadata.feature_names, key],
                order_by=key,
                batch_rows=settings.score_batch_rows,
            )
            with engine.connect() as connection:
                results = SqlWriter(connection, output_table, result_schema(loaded, key), key)
                refused = SqlWriter(connection, quarantine_table, quarantine_schema(key), key)
                with reader, results, refused:
                    summary = _run(loaded, reader, results, refused, key)
        finally:
            engine.dispose()
    _report(summary, f"table {output_table}", f"table {quarantine_table}")


def score_stream(
    input_topic: Annotated[str, typer.Argument(help="Topic of JSON feature records.")],
    output_topic: Annotated[str, typer.Argument(help="Topic the results are produced to.")],
    quarantine_topic: Annotated[
        str | None,
        typer.Option(
            help="Topic of messages that fail the checks (default: OUTPUT_TOPIC-quarantine)."
        ),
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="Kafka brokers (default: settings' kafka_bootstrap_servers).")
    ] = None,
    group_id: Annotated[
        str | None, typer.Option(help="Consumer group (default: settings' kafka_group_id).")
    ] = None,
    idle_timeout: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many seconds without a message (default: run until Ctrl-C)."
        ),
    ] = None,
    max_messages: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many messages.")
    ] = None,
    model: ModelOption = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Score a stream: consume, check, score, produce; offsets are committed after delivery."""
    settings = load_settings(
        model_dir=model_dir,
        kafka_bootstrap_servers=bootstrap_servers,
        kafka_group_id=group_id,
    )
    quarantine_topic = quarantine_topic or f"{output_topic}-quarantine"
    with user_errors():
        from data_product_runtime.io.kafka import KEY_COLUMN, KafkaReader, KafkaWriter

        loaded = _load_model(settings, model)
        servers = settings.kafka_bootstrap_servers
        reader = KafkaReader(
            servers,
            settings.kafka_group_id,
            input_topic,
            list(loaded.metadata.feature_names),
            batch_rows=min(settings.score_batch_rows, 10_000),
            idle_seconds=idle_timeout,
            max_messages=max_messages,
        )
        with (
            reader,
            KafkaWriter(servers, output_topic, KEY_COLUMN) as results,
            KafkaWriter(servers, quarantine_topic, KEY_COLUMN) as refused,
        ):
            summary = _run(loaded, reader, results, refused, KEY_COLUMN)
    _report(summary, f"topic {output_topic}", f"topic {quarantine_topic}")


def score_spark(
    input_path: Annotated[
        str, typer.Argument(metavar="INPUT", help="Parquet or CSV file or folder (any Spark URL).")
    ],
    output_path: Annotated[
        str, typer.Argument(metavar="OUTPUT", help="Parquet folder of results.")
    ],
    quarantine: Annotated[
        str | None,
        typer.Option(help="Parquet folder of refused rows (default: OUTPUT_quarantine)."),
    ] = None,
    master: Annotated[
        str, typer.Option(help="Spark master: local[*] here, or a cluster's URL.")
    ] = "local[*]",
    model: ModelOption = None,
    key_column: Annotated[
        str | None, typer.Option(help="Column identifying a row (default: id).")
    ] = None,
    model_dir: ModelDirOption = None,
) -> None:
    """Score with Apache Spark (mapInPandas), same checks and scores as `score`. Exit 3: rows quarantined."""
    settings = load_settings(model_dir=model_dir, score_key_column=key_column)
    with user_errors():
        from data_product_runtime.jobs.scoring import QUARANTINED_EXIT_CODE
        from data_product_runtime.jobs.spark_scoring import quarantine_folder, run

        quarantine = quarantine or quarantine_folder(output_path)
        summary = run(
            input_path,
            output_path,
            quarantine=quarantine,
            model_reference=model,
            settings=settings,
            master=master,
        )
    typer.echo(f"scored {summary.scored:,} rows into {output_path}")
    if summary.quarantined:
        typer.secho(
            f"{summary.quarantined:,} rows failed the checks and were quarantined in {quarantine}",
            err=True,
            fg=typer.colors.YELLOW,
        )
        raise typer.Exit(code=QUARANTINED_EXIT_CODE)
