"""The in-memory dataset, its feature schema, its fingerprint and its train/test split.

Every feature reaches the pipeline as one float64 column, encoded the same way by training,
evaluation, batch scoring and the service (``core.scoring``, ``service.validation``):

- ``number`` and ``integer``: the value;
- ``boolean``: 0 or 1;
- ``categorical``: the category's position in ``Feature.categories`` (the training table's
  categories, the most frequent first), -1 for a category training never saw;
- ``datetime``: seconds since 1970-01-01 UTC (``core.transformers.DateParts`` derives parts);
- a missing value of an ``optional`` feature: NaN, for the pipeline to impute.
"""

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict


class FeatureKind(StrEnum):
    """How a feature is typed in requests and files."""

    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"


class ColumnRole(StrEnum):
    """What a column of a training table is for, when its type alone does not say."""

    ID = "id"
    """Names a row: carried into results, logs and quarantine, never a feature."""
    IGNORED = "ignored"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"


UNSEEN = -1.0
"""The code of a category that training never saw."""


class Feature(BaseModel):
    """One input column of the model, as recorded in the model's metadata."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: FeatureKind
    # Missing values allowed (they reach the pipeline as NaN): the training table had some.
    optional: bool = False
    # Categorical features: the training categories, the most frequent first.
    categories: tuple[str, ...] | None = None


def columns(features: tuple[Feature, ...], *kinds: FeatureKind | str) -> list[int]:
    """Positions of the features of these kinds, to select them in a ``ColumnTransformer``."""
    wanted = {FeatureKind(kind) for kind in kinds}
    return [position for position, feature in enumerate(features) if feature.kind in wanted]


def to_identifier(name: str) -> str:
    """Turn a column name such as ``"mean radius"`` into ``"mean_radius"``."""
    identifier = re.sub(r"\W+", "_", name.strip().lower()).strip("_")
    if not identifier or identifier[0].isdigit():
        identifier = f"f_{identifier}"
    return identifier


@dataclass(frozen=True)
class Dataset:
    """Feature matrix, target vector and the schema that names the columns."""

    features: NDArray[np.float64]
    target: NDArray[Any]
    schema: tuple[Feature, ...]
    target_name: str
    # Columns that name rows (ColumnRole.ID): recorded, never features.
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rows, columns = self.features.shape
        if columns != len(self.schema):
            msg = f"{columns} feature columns but {len(self.schema)} feature names"
            raise ValueError(msg)
        if rows != len(self.target):
            msg = f"{rows} feature rows but {len(self.target)} target values"
            raise ValueError(msg)
        names = [feature.name for feature in self.schema]
        if len(set(names)) != len(names):
            msg = f"duplicate feature names: {sorted({n for n in names if names.count(n) > 1})}"
            raise ValueError(msg)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.schema)

    def __len__(self) -> int:
        return len(self.target)

    def fingerprint(self) -> str:
        """SHA-256 of names and values: the same data gives the same fingerprint anywhere."""
        digest = hashlib.sha256()
        digest.update("\x1f".join([*self.feature_names, self.target_name]).encode())
        digest.update(np.ascontiguousarray(self.features, dtype="<f8").tobytes())
        if self.target.dtype.kind in "biuf":
            digest.update(np.ascontiguousarray(self.target, dtype="<f8").tobytes())
        else:
            digest.update("\x1f".join(map(str, self.target)).encode())
        return digest.hexdigest()

    def take(self, rows: NDArray[np.intp]) -> Self:
        return type(self)(
            self.features[rows], self.target[rows], self.schema, self.target_name, self.keys
        )
