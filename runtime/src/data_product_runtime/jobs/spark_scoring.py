"""Batch scoring on Apache Spark: the same checks and scores as ``score``, in every executor.

The driver loads the model from the registry (so its hash is verified once), Spark ships it
to the executors inside the scoring function, and ``mapInPandas`` runs the project's own
``check_batch``/``score_matrix`` on each slice of the data. Results go to OUTPUT, rows that
fail the checks to the quarantine folder; Spark's committer makes each appear only when
complete (with a ``_SUCCESS`` marker).

    spark-submit --master 'local[*]' src/data_product/jobs/spark_scoring.py INPUT OUTPUT

runs it on this machine; README ("Batch scoring on a Spark cluster") shows a real cluster.
"""

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from data_product_runtime.core.model import Model
from data_product_runtime.core.scoring import (
    REASON_COLUMN,
    RECORD_COLUMN,
    VERSION_COLUMN,
    as_keys,
    check_batch,
    missing_features,
    result_batch,
    result_schema,
    score_matrix,
)
from data_product_runtime.io.datasets import DataError
from data_product_runtime.io.registries import open_registry
from data_product_runtime.jobs.scoring import QUARANTINED_EXIT_CODE, row_key_column
from data_product_runtime.project import project_from_environment
from data_product_runtime.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class SparkSummary:
    scored: int
    quarantined: int


def combined_schema(model: Model, key: str) -> pa.Schema:
    """Results and refusals in one frame: result columns, then why a row was refused."""
    return (
        result_schema(model, key)
        .append(pa.field(REASON_COLUMN, pa.string()))
        .append(pa.field(RECORD_COLUMN, pa.string()))
    )


def score_frames(
    frames: Iterator["pd.DataFrame"], model: Model, key: str
) -> Iterator["pd.DataFrame"]:
    """What runs in the executors: each pandas slice checked and scored as ``score`` does."""
    schema = combined_schema(model, key)
    features = model.metadata.features
    for frame in frames:
        batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
        checked = check_batch(batch, features)
        keys = as_keys(batch.column(key))
        valid = pa.array(checked.valid)
        scored = result_batch(
            keys.filter(valid), key, score_matrix(model, checked.matrix), model.version
        )
        parts = [_widen(pa.Table.from_batches([scored]), schema)]
        if checked.problems:
            bad = pa.array(checked.bad_rows, type=pa.int64())
            records = batch.take(bad).to_pylist()
            refused = pa.table(
                {
                    key: keys.take(bad),
                    VERSION_COLUMN: [model.version] * len(bad),
                    REASON_COLUMN: [checked.problems[int(i)] for i in checked.bad_rows],
                    RECORD_COLUMN: [_json(record) for record in records],
                }
            )
            parts.append(_widen(refused, schema))
        yield pa.concat_tables(parts).to_pandas()


def _widen(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table with every column of ``schema``, absent ones as nulls."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _json(record: dict[str, object]) -> str:
    import json  # noqa: PLC0415

    return json.dumps(record, default=str)


def read(spark: "SparkSession", location: str) -> "DataFrame":
    """A Parquet file or folder, or a CSV file or folder (read as text, checked like ``score``)."""
    if location.rstrip("/").lower().endswith(".csv"):
        return spark.read.option("header", value=True).csv(location)
    return spark.read.parquet(location)


def score_with_spark(
    spark: "SparkSession",
    model: Model,
    source: str,
    *,
    output: str,
    quarantine: str,
    key: str,
) -> SparkSummary:
    """Score ``source`` into Parquet folders ``output`` and ``quarantine``."""
    frame = read(spark, source)
    missing = missing_features(frame.columns, model.metadata.features)
    if key not in frame.columns:
        missing.append(key)
    if missing:
        msg = f"{source}: no column for {', '.join(missing)} (columns: {', '.join(frame.columns)})"
        raise DataError(msg)
    from pyspark.sql.pandas.types import from_arrow_schema  # noqa: PLC0415

    wanted = [key, *model.metadata.feature_names]
    schema = combined_schema(model, key)
    scored = (
        frame.select(*wanted)
        .mapInPandas(lambda frames: score_frames(frames, model, key), from_arrow_schema(schema))
        .persist()
    )
    try:
        results = scored.where(scored[REASON_COLUMN].isNull()).drop(REASON_COLUMN, RECORD_COLUMN)
        refused = scored.where(scored[REASON_COLUMN].isNotNull()).select(
            key, REASON_COLUMN, RECORD_COLUMN, VERSION_COLUMN
        )
        results.write.mode("overwrite").parquet(output)
        refused.write.mode("overwrite").parquet(quarantine)
        return SparkSummary(scored=results.count(), quarantined=refused.count())
    finally:
        scored.unpersist()


def spark_session(master: str | None, name: str = "batch-scoring") -> "SparkSession":
    """A session; ``master`` None keeps what spark-submit or the cluster configured."""
    from pyspark.sql import SparkSession  # noqa: PLC0415

    builder = SparkSession.builder.appName(name)
    if master is not None:
        builder = builder.master(master)
    return builder.getOrCreate()


def run(
    source: str,
    output: str,
    *,
    quarantine: str | None = None,
    model_reference: str | None = None,
    settings: Settings,
    master: str | None = None,
) -> SparkSummary:
    """Load the model (verified), start or join a session, score, stop."""
    model = open_registry(settings).load(model_reference)
    spark = spark_session(master)
    try:
        return score_with_spark(
            spark,
            model,
            source,
            output=output,
            quarantine=quarantine or quarantine_folder(output),
            key=row_key_column(model, settings.score_key_column),
        )
    finally:
        spark.stop()


def quarantine_folder(output: str) -> str:
    return f"{output.rstrip('/')}_quarantine"


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit; exit status 3 when rows were quarantined."""
    parser = argparse.ArgumentParser(description="Score a dataset on Spark.")
    parser.add_argument("input", help="Parquet or CSV file or folder")
    parser.add_argument("output", help="Parquet folder of results")
    parser.add_argument(
        "--quarantine", help="Parquet folder of refused rows (default: OUTPUT_quarantine)"
    )
    parser.add_argument("--model", help="version or alias (default: production, else newest)")
    parser.add_argument("--master", help="Spark master when not run by spark-submit, e.g. local[*]")
    arguments = parser.parse_args(argv)
    summary = run(
        arguments.input,
        arguments.output,
        quarantine=arguments.quarantine,
        model_reference=arguments.model,
        settings=project_from_environment().settings(),
        master=arguments.master,
    )
    print(f"scored {summary.scored:,} rows; {summary.quarantined:,} quarantined")  # noqa: T201
    return QUARANTINED_EXIT_CODE if summary.quarantined else 0


if __name__ == "__main__":
    raise SystemExit(main())
