"""The prediction log: one JSON line per prediction, for audits and A/B analysis.

Lines are buffered and appended in one write per flush (at most every second, and on
shutdown), so logging costs the request path microseconds, and each line lands whole.
"""

import os
import time
from pathlib import Path
from typing import Any

import orjson


class PredictionLog:
    """Appends entries to a JSON-lines file; ``None`` as the path disables logging."""

    def __init__(
        self, path: Path | None, flush_seconds: float = 1.0, max_buffered: int = 5000
    ) -> None:
        self.path = path
        self.flush_seconds = flush_seconds
        self.max_buffered = max_buffered
        self._buffer: list[bytes] = []
        self._last_flush = time.monotonic()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, entries: list[dict[str, Any]]) -> None:
        if self.path is None:
            return
        self._buffer.extend(orjson.dumps(entry) + b"\n" for entry in entries)
        now = time.monotonic()
        if len(self._buffer) >= self.max_buffered or now - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self.path is None or not self._buffer:
            return
        data, self._buffer = b"".join(self._buffer), []
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)
        self._last_flush = time.monotonic()
