"""Batch scoring: rows from a reader, checked, scored and written, one bounded batch at a time."""

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from data_product_runtime.core.dataset import FeatureKind
from data_product_runtime.core.model import Model
from data_product_runtime.core.scoring import (
    ROW_COLUMN,
    as_keys,
    check_batch,
    from_numpy,
    missing_features,
    quarantine_batch,
    result_batch,
    score_matrix,
)
from data_product_runtime.io.adapters import FeatureReader, ResultWriter
from data_product_runtime.io.datasets import DataError

QUARANTINED_EXIT_CODE = 3


@dataclass(frozen=True)
class ScoringSummary:
    """What a scoring run did."""

    rows: int
    scored: int
    quarantined: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def print_nothing(rows: int) -> None:
    """The default progress report: none."""
    del rows


def row_key_column(model: Model, configured: str | None) -> str:
    """The column that names rows: the configured one, else the model's id column, else id."""
    return configured or (model.metadata.keys[0] if model.metadata.keys else "id")


def text_and_number_columns(model: Model, key: str) -> tuple[list[str], list[str]]:
    """Columns a file reader reads as numbers (numeric features) and as text (the rest)."""
    numeric = [f.name for f in model.metadata.features if f.kind in _NUMERIC]
    others = [f.name for f in model.metadata.features if f.kind not in _NUMERIC]
    return numeric, [*others, key] if key not in numeric and key not in others else others


_NUMERIC = (FeatureKind.NUMBER, FeatureKind.INTEGER)


def key_name(reader_columns: list[str], key_column: str | None) -> str | None:
    """The input's key column, or None when rows are known by their number only."""
    return key_column if key_column is not None and key_column in reader_columns else None


def check_columns(model: Model, reader: FeatureReader) -> None:
    """Refuse an input that lacks a feature column before reading a single row."""
    missing = missing_features(reader.column_names, model.metadata.features)
    if missing:
        msg = (
            f"{reader.location}: no column for the model's features {', '.join(missing)} "
            f"(columns: {', '.join(reader.column_names) or 'none'})"
        )
        raise DataError(msg)


def score(
    model: Model,
    reader: FeatureReader,
    results: ResultWriter,
    quarantine: ResultWriter,
    *,
    key_column: str | None,
    on_rows: Callable[[int], object] = print_nothing,
) -> ScoringSummary:
    """Score every row of ``reader`` into ``results``; rows that fail the checks go to
    ``quarantine``. Both writers are committed only after the last batch."""
    started = time.perf_counter()
    check_columns(model, reader)
    key = key_name(reader.column_names, key_column)
    features = model.metadata.features
    rows = scored = quarantined = 0
    with contextlib.closing(reader.batches()) as batches:
        for batch in batches:
            numbers = from_numpy(np.arange(rows + 1, rows + batch.num_rows + 1, dtype=np.int64))
            keys = as_keys(batch.column(key)) if key is not None else None
            checked = check_batch(batch, features)
            valid_keys = numbers if keys is None else keys
            if checked.problems:
                valid_keys = valid_keys.filter(from_numpy(checked.valid))
                quarantine.write(
                    quarantine_batch(
                        batch,
                        checked,
                        row_numbers=numbers,
                        keys=keys,
                        key_name=key,
                        version=model.version,
                    )
                )
            results.write(
                result_batch(
                    valid_keys,
                    key or ROW_COLUMN,
                    score_matrix(model, checked.matrix),
                    model.version,
                )
            )
            results.flush()
            quarantine.flush()
            reader.acknowledge()
            rows += batch.num_rows
            scored += len(checked.matrix)
            quarantined += len(checked.problems)
            on_rows(batch.num_rows)
    quarantine.commit()
    results.commit()
    return ScoringSummary(rows, scored, quarantined, time.perf_counter() - started)
