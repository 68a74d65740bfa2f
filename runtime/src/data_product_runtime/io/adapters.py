"""Where rows to score come from and where results go: one reader and one writer interface.

Files (CSV, Parquet), SQL tables and streams each implement both. A reader yields Arrow
record batches, so memory is bounded by the batch size, never by the input's size. A writer
makes what it wrote visible only on ``commit``: closed without it, it leaves nothing behind
that looks complete.
"""

from abc import ABC, abstractmethod
from collections.abc import Generator
from types import TracebackType
from typing import Self

import pyarrow as pa


class FeatureReader(ABC):
    """A source of rows, read batch by batch."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the rows come from, for messages."""

    @property
    @abstractmethod
    def column_names(self) -> list[str]:
        """The columns every batch has."""

    @property
    def total_rows(self) -> int | None:
        """How many rows there are, when the source knows without reading them."""
        return None

    @abstractmethod
    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        """The rows, in order, a bounded batch at a time."""

    def acknowledge(self) -> None:  # noqa: B027  (most sources have nothing to acknowledge)
        """Every batch read so far has its results written: a stream may commit its offsets."""

    def close(self) -> None:  # noqa: B027
        """Release the source."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ResultWriter(ABC):
    """A sink for result (or quarantine) rows that become visible together on commit."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the rows go, for messages."""

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> None:
        """Add rows; they stay invisible to readers of the sink until ``commit``."""

    def flush(self) -> None:  # noqa: B027  (files and databases commit once, at the end)
        """Make the rows written so far durable (a stream's producer waits for delivery)."""

    @abstractmethod
    def commit(self) -> None:
        """Make everything written visible at once."""

    @abstractmethod
    def discard(self) -> None:
        """Drop what was written and not committed; called on every failure."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()
