"""The prediction log: one JSON line per prediction, for audits and A/B analysis.

Lines are buffered and appended in one write per flush, so logging costs the request path
microseconds. A flush happens every ``flush_seconds`` (by the service's timer, also when no
request follows), when ``max_buffered`` lines wait, and on shutdown: a killed worker loses
at most the last ``flush_seconds`` of entries. A write that fails (a full disk) is undone,
so the file holds whole lines only; the lost entries are counted and logged.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog

from data_product_runtime.io.faults import append_whole

logger = structlog.get_logger(__name__)


class PredictionLog:
    """Appends entries to a JSON-lines file; ``None`` as the path disables logging."""

    def __init__(
        self, path: Path | None, flush_seconds: float = 1.0, max_buffered: int = 5000
    ) -> None:
        self.path = path
        self.flush_seconds = flush_seconds
        self.max_buffered = max_buffered
        # Called with the number of entries a failed write lost (the service counts them).
        self.on_lost: Callable[[int], None] = lambda _entries: None
        self._buffer: list[bytes] = []
        self._last_flush = time.monotonic()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, entries: list[dict[str, Any]]) -> None:
        if self.path is None:
            return
        self._buffer.extend(orjson.dumps(entry) + b"\n" for entry in entries)
        if len(self._buffer) >= self.max_buffered or self.due():
            self.flush()

    def due(self) -> bool:
        return bool(self._buffer) and time.monotonic() - self._last_flush >= self.flush_seconds

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self.path is None or not self._buffer:
            return
        lines, self._buffer = self._buffer, []
        data = b"".join(lines)
        try:
            append_whole(self.path, data)
        except OSError as error:
            self.on_lost(len(lines))
            logger.error(
                "prediction log write failed", path=str(self.path), error=error.strerror,
                lost_entries=len(lines),
            )  # fmt: skip
