"""The in-memory dataset, its feature schema, its fingerprint and its train/test split."""

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


class Feature(BaseModel):
    """One input column of the model, as recorded in the model's metadata."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: FeatureKind


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
        return type(self)(self.features[rows], self.target[rows], self.schema, self.target_name)
