"""An A/B experiment's data: the service's prediction log and a CSV of observed outcomes."""

import csv
import math
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from data_product_runtime.core.experiments import ExperimentError, Key, LoggedPrediction, Outcome

OUTCOME_COLUMNS = ("request_id", "outcome")


class ExperimentDataError(ExperimentError):
    """A log or outcomes file cannot be read; the message names the file and the line."""


def read_outcomes(path: Path, problem_type: str) -> dict[Key, Outcome]:
    """Outcomes by (request_id, row): columns request_id and outcome, optionally row (default 0)."""
    if not path.is_file():
        raise ExperimentDataError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8") as file:
            return _outcomes(csv.DictReader(file), path, numeric=problem_type == "regression")
    except (UnicodeDecodeError, csv.Error) as error:
        raise ExperimentDataError(f"{path}: unreadable CSV file: {error}") from error


def _outcomes(reader: "csv.DictReader[str]", path: Path, *, numeric: bool) -> dict[Key, Outcome]:
    columns = reader.fieldnames or []
    missing = [name for name in OUTCOME_COLUMNS if name not in columns]
    if missing:
        raise ExperimentDataError(
            f"{path}: missing column(s) {', '.join(missing)}; outcomes need request_id and "
            f"outcome, and optionally row (found: {', '.join(columns) or 'nothing'})"
        )
    outcomes: dict[Key, Outcome] = {}
    lines: dict[Key, int] = {}
    for record in reader:
        line = reader.line_num
        request_id = (record["request_id"] or "").strip()
        if not request_id:
            raise ExperimentDataError(f"{path} line {line}: empty request_id")
        key = (request_id, _row(record.get("row"), path, line))
        if key in lines:
            raise ExperimentDataError(
                f"{path} line {line}: request {request_id} row {key[1]} already has an outcome "
                f"on line {lines[key]}; give each prediction one outcome"
            )
        outcomes[key] = _outcome(record["outcome"], path, line, numeric=numeric)
        lines[key] = line
    if not outcomes:
        raise ExperimentDataError(f"{path}: no outcomes, only a header")
    return outcomes


def _row(text: str | None, path: Path, line: int) -> int:
    if text is None or not text.strip():
        return 0
    try:
        row = int(text)
    except ValueError:
        row = -1
    if row < 0:
        raise ExperimentDataError(f"{path} line {line}: row {text!r} is not a row number")
    return row


def _outcome(text: str | None, path: Path, line: int, *, numeric: bool) -> Outcome:
    """A class as text, or (regression) a finite number."""
    if text is None or not text.strip():
        raise ExperimentDataError(f"{path} line {line}: empty outcome")
    if not numeric:
        return text.strip()
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise ExperimentDataError(f"{path} line {line}: outcome {text!r} is not a finite number")
    return value


def read_predictions(path: Path) -> Iterator[LoggedPrediction]:
    """The prediction log's lines, one at a time; blank lines are skipped."""
    if not path.is_file():
        raise ExperimentDataError(f"{path}: no such file")
    return _predictions(path)


def _predictions(path: Path) -> Iterator[LoggedPrediction]:
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                yield LoggedPrediction.model_validate_json(line)
            except ValidationError as error:
                problem = error.errors()[0]
                where = ".".join(str(part) for part in problem["loc"])
                raise ExperimentDataError(
                    f"{path} line {number}: unreadable prediction: "
                    f"{where + ': ' if where else ''}{problem['msg']}"
                ) from None
