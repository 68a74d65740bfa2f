"""Request bodies to feature matrices, with errors that name the offending field.

Hand-written rather than a pydantic model per request: the schema is fixed per served
model, and checking a flat record in a loop is several times faster. The OpenAPI schema
(service/openapi.py) describes the same contract, and the tests fuzz one against the other.
"""

import itertools
import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from data_product_runtime.core.dataset import UNSEEN, Feature, FeatureKind
from data_product_runtime.core.scoring import seconds_since_epoch

_ROUTING_FIELDS = ("key", "variant")


class RequestError(Exception):
    """A request that cannot be answered; ``status`` and FastAPI-style ``detail`` entries."""

    def __init__(self, status: int, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _invalid_json(reason: str) -> RequestError:
    return RequestError(422, [_problem([], f"JSON decode error: {reason}", "json_invalid")])


def _problem(location: Sequence[str | int], message: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *location], "msg": message, "type": kind}


@dataclass(frozen=True)
class ParsedRequest:
    rows: NDArray[np.float64]
    key: str | None
    variant: str | None
    # Per record, the values of the model's key columns it came with (None: none had any).
    row_keys: list[dict[str, Any]] | None = None


class RequestParser:
    """Validates `/predict` and `/predict/batch` bodies against one model's features."""

    def __init__(
        self, features: tuple[Feature, ...], max_records: int, keys: tuple[str, ...] = ()
    ) -> None:
        self.features = features
        self.names = tuple(feature.name for feature in features)
        self.keys = frozenset(keys)
        self._values = operator.itemgetter(*self.names)
        # The fast paths below take plain required numbers only; anything else goes field by field.
        self.plain = all(f.kind is FeatureKind.NUMBER and not f.optional for f in features)
        self._codes = {
            f.name: {category: float(code) for code, category in enumerate(f.categories or ())}
            for f in features
            if f.kind is FeatureKind.CATEGORICAL
        }
        self.max_records = max_records

    def single(self, body: bytes) -> ParsedRequest:
        document = self._document(body, ("features", *_ROUTING_FIELDS))
        key, variant = self._routing(document)
        if "features" not in document:
            raise RequestError(422, [_problem(["features"], "Field required", "missing")])
        record = document["features"]
        row = self._record(record, ["features"])
        return ParsedRequest(np.array([row]), key, variant, self._row_keys([record]))

    def batch(self, body: bytes) -> ParsedRequest:
        document = self._document(body, ("records", *_ROUTING_FIELDS))
        key, variant = self._routing(document)
        records = document.get("records")
        if not isinstance(records, list):
            message = "Field required" if records is None else "Input should be a valid list"
            raise RequestError(422, [_problem(["records"], message, "list_type")])
        if not records:
            raise RequestError(
                422, [_problem(["records"], "List should have at least 1 item", "too_short")]
            )
        if len(records) > self.max_records:
            message = f"List should have at most {self.max_records} items, not {len(records)}"
            raise RequestError(422, [_problem(["records"], message, "too_long")])
        return ParsedRequest(self._records(records), key, variant, self._row_keys(records))

    def _document(self, body: bytes, allowed: tuple[str, ...]) -> dict[str, Any]:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            if "depth limit" in str(error):  # deeper than 1024 levels
                raise _invalid_json(f"nested too deeply: {error}") from None
            # Standard JSON has no NaN or Infinity; Python's parser reads them, so that the
            # error can name the field instead of a byte offset.
            try:
                document = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise _invalid_json(str(error)) from None
            except RecursionError:
                raise _invalid_json("nested too deeply") from None
            except ValueError as error:  # an integer of more digits than Python converts
                raise _invalid_json(str(error).split(";")[0]) from None
        if not isinstance(document, dict):
            raise RequestError(
                422, [_problem([], "Input should be a valid dictionary", "dict_type")]
            )
        extra = [name for name in document if name not in allowed]
        if extra:
            raise RequestError(
                422,
                [
                    _problem([name], "Extra inputs are not permitted", "extra_forbidden")
                    for name in extra
                ],
            )
        return document

    def _routing(self, document: dict[str, Any]) -> tuple[str | None, str | None]:
        values = []
        for name in _ROUTING_FIELDS:
            value = document.get(name)
            if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 128):  # noqa: PLR2004
                raise RequestError(
                    422,
                    [
                        _problem(
                            [name], "Input should be a string of 1 to 128 characters", "string_type"
                        )
                    ],
                )
            values.append(value)
        return values[0], values[1]

    def _records(self, records: list[Any]) -> NDArray[np.float64]:
        """All records as a matrix: checked in bulk, then one by one only if something is off."""
        if self.plain and all(type(r) is dict and len(r) == len(self.names) for r in records):
            try:
                values = list(map(self._values, records))
            except KeyError:
                pass
            else:
                flat = values if len(self.names) == 1 else itertools.chain.from_iterable(values)
                if set(map(type, flat)) <= {float, int}:
                    matrix = np.array(values, dtype=np.float64).reshape(
                        len(records), len(self.names)
                    )
                    if np.isfinite(matrix).all():
                        return matrix
        return np.array(
            [
                self._checked_record(record, ["records", index])
                for index, record in enumerate(records)
            ]
        )

    def _record(self, record: Any, location: list[str | int]) -> list[float]:
        """The record's values in feature order; the common, valid case takes the fast path."""
        if self.plain and type(record) is dict and len(record) == len(self.names):
            try:
                values = self._values(record)
            except KeyError:
                pass
            else:
                if all(type(value) is float or type(value) is int for value in values):
                    row = list(map(float, values)) if len(self.names) > 1 else [float(values)]
                    if all(map(math.isfinite, row)):
                        return row
        return self._checked_record(record, location)

    def _row_keys(self, records: list[Any]) -> list[dict[str, Any]] | None:
        if not self.keys:
            return None
        found = [{name: record[name] for name in self.keys if name in record} for record in records]
        return found if any(found) else None

    def _checked_record(self, record: Any, location: list[str | int]) -> list[float]:
        """Field by field, collecting a message for every problem."""
        if not isinstance(record, dict):
            raise RequestError(
                422, [_problem(location, "Input should be a valid dictionary", "dict_type")]
            )
        problems = []
        row: list[float] = []
        for feature in self.features:
            value = record.get(feature.name)
            try:
                row.append(self._encoded(feature, value, present=feature.name in record))
            except _FieldError as error:
                problems.append(_problem([*location, feature.name], error.message, error.kind))
                row.append(math.nan)
        problems.extend(
            _problem([*location, name], "Extra inputs are not permitted", "extra_forbidden")
            for name in record
            if name not in self.names and name not in self.keys
        )
        if problems:
            raise RequestError(422, problems)
        return row

    def _encoded(self, feature: Feature, value: Any, *, present: bool) -> float:
        """One value as the pipeline sees it (see ``core.dataset``), or a _FieldError."""
        if value is None:
            if feature.optional:
                return math.nan
            if not present:
                raise _FieldError("Field required", "missing")
            raise _FieldError(*_TYPE_ERRORS[feature.kind])
        if feature.kind is FeatureKind.CATEGORICAL:
            if type(value) is not str and type(value) is not int:
                raise _FieldError(*_TYPE_ERRORS[feature.kind])
            return self._codes[feature.name].get(str(value), UNSEEN)
        return _ENCODERS[feature.kind](value)


def _number(value: Any) -> float:
    if type(value) is int:
        return float(value)
    if type(value) is not float:
        raise _FieldError(*_TYPE_ERRORS[FeatureKind.NUMBER])
    if not math.isfinite(value):
        raise _FieldError("Input should be a finite number", "finite_number")
    return value


def _integer(value: Any) -> float:
    if type(value) is float and math.isfinite(value) and not value.is_integer():
        raise _FieldError(*_TYPE_ERRORS[FeatureKind.INTEGER])
    try:
        return _number(value)
    except _FieldError as error:
        if error.kind == "float_type":
            raise _FieldError(*_TYPE_ERRORS[FeatureKind.INTEGER]) from None
        raise


def _boolean(value: Any) -> float:
    if type(value) is not bool:
        raise _FieldError(*_TYPE_ERRORS[FeatureKind.BOOLEAN])
    return float(value)


def _datetime(value: Any) -> float:
    if type(value) is not str:
        raise _FieldError(*_TYPE_ERRORS[FeatureKind.DATETIME])
    try:
        return seconds_since_epoch(value)
    except ValueError:
        raise _FieldError(
            "Input should be a valid datetime in ISO 8601 format", "datetime_from_date_parsing"
        ) from None


_ENCODERS = {
    FeatureKind.NUMBER: _number,
    FeatureKind.INTEGER: _integer,
    FeatureKind.BOOLEAN: _boolean,
    FeatureKind.DATETIME: _datetime,
}
_TYPE_ERRORS = {
    FeatureKind.NUMBER: ("Input should be a valid number", "float_type"),
    FeatureKind.INTEGER: ("Input should be a valid integer", "int_type"),
    FeatureKind.BOOLEAN: ("Input should be a valid boolean", "bool_type"),
    FeatureKind.CATEGORICAL: ("Input should be a valid string", "string_type"),
    FeatureKind.DATETIME: ("Input should be a valid datetime", "datetime_type"),
}


class _FieldError(Exception):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message, self.kind = message, kind
