"""Input drift: the population stability index of recent inputs against the training data."""

from collections.abc import Sequence
from typing import Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from data_product_runtime.core.dataset import Feature, FeatureKind

# Decile bins; PSI above 0.1 is usually read as a moderate shift, above 0.25 as a large one.
BINS = 10
_FLOOR = 1e-4  # a proportion of zero would make the index infinite
_FOLD_AT = 256  # rows queued before they are binned


class FeatureReference(BaseModel):
    """Bin edges from the training data, and the share of training rows in each bin."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    edges: tuple[float, ...]
    proportions: tuple[float, ...]


class DriftReference(BaseModel):
    """The training distribution of every feature (in the model's feature order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[FeatureReference, ...]

    @classmethod
    def from_training(
        cls, features: NDArray[np.float64], schema: Sequence[Feature] | None = None
    ) -> Self:
        """Deciles of numbers; for a categorical feature, one bin per category code (the
        ``BINS`` most frequent, then the rest together) and a first bin for unseen ones."""
        references = []
        kinds = [feature.kind for feature in schema] if schema else [None] * features.shape[1]
        for column, kind in zip(features.T, kinds, strict=True):
            values = column[~np.isnan(column)]
            if kind is FeatureKind.CATEGORICAL:
                inner = np.arange(min(int(values.max(initial=0)) + 1, BINS) + 1) - 0.5
            else:
                inner = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1]))
            counts = np.bincount(
                np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1
            )
            references.append(
                FeatureReference(
                    edges=tuple(float(edge) for edge in inner),
                    proportions=tuple(float(share) for share in counts / max(len(values), 1)),
                )
            )
        return cls(features=tuple(references))


class DriftWindow:
    """Bin counts of the last ``size`` rows per feature, updated in O(features) per row."""

    def __init__(self, reference: DriftReference, size: int) -> None:
        width = max(len(feature.edges) for feature in reference.features) + 1
        # Edges padded with +inf, so that every feature has the same number of bins.
        self._edges = np.full((len(reference.features), width - 1), np.inf)
        self._expected = np.full((len(reference.features), width), _FLOOR)
        for index, feature in enumerate(reference.features):
            self._edges[index, : len(feature.edges)] = feature.edges
            self._expected[index, : len(feature.proportions)] = np.maximum(
                feature.proportions, _FLOOR
            )
        self._bins = np.zeros((size, len(reference.features)), dtype=np.intp)
        self._counts = np.zeros((len(reference.features), width), dtype=np.int64)
        # Offsets that turn (feature, bin) into an index of the flattened counts.
        self._offsets = np.arange(len(reference.features)) * width
        self._next = 0
        self._rows = 0
        self._pending: list[NDArray[np.float64]] = []
        self._pending_rows = 0

    def add(self, rows: NDArray[np.float64]) -> None:
        """Queue rows; they are binned together, which costs far less than one by one."""
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= _FOLD_AT:
            self._fold()

    @property
    def rows(self) -> int:
        """How many rows the window holds."""
        self._fold()
        return self._rows

    def _fold(self) -> None:
        if not self._pending:
            return
        rows = np.concatenate(self._pending)
        self._pending, self._pending_rows = [], 0
        size, counts = len(self._bins), self._counts.reshape(-1)
        new_bins = (rows[-size:, :, None] >= self._edges).sum(axis=2) + self._offsets
        positions = self._next + np.arange(len(new_bins))
        slots = positions % size
        leaving = positions >= size  # slots that already hold a row, which now leaves
        if leaving.any():
            counts -= np.bincount(self._bins[slots[leaving]].ravel(), minlength=counts.size)
        self._bins[slots] = new_bins
        counts += np.bincount(new_bins.ravel(), minlength=counts.size)
        self._next += len(new_bins)
        self._rows = min(self._next, size)

    def psi(self) -> NDArray[np.float64]:
        """Per-feature PSI of the window (zeros until the window holds any rows)."""
        if self.rows == 0:  # folds what is pending
            return np.zeros(len(self._counts))
        actual = np.maximum(self._counts / self._rows, _FLOOR)
        return np.asarray(
            np.sum((actual - self._expected) * np.log(actual / self._expected), axis=1)
        )
