"""Kafka topics as a feature source and a result sink (confluent-kafka).

Each input message is a JSON object of feature values, keyed by whatever identifies the row.
Results (and quarantined messages) are produced to their topics with the same key. The
consumer commits its offsets only after the results of everything it consumed were delivered:
a crash means those messages are scored again (at least once), never lost.
"""

import json
import time
from collections.abc import Generator
from typing import Any

import orjson
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from data_product_runtime.core.scoring import PROBLEM_COLUMN
from data_product_runtime.io.adapters import FeatureReader, ResultWriter
from data_product_runtime.io.datasets import DataError

KEY_COLUMN = "key"
_ASSIGNMENT_SECONDS = 60


class KafkaReader(FeatureReader):
    """Messages of a topic, a batch per poll, until idle or a message count is reached."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topic: str,
        features: list[str],
        *,
        batch_rows: int,
        idle_seconds: float | None = None,
        max_messages: int | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self._topic = topic
        self._features = features
        self._batch_rows = batch_rows
        self._idle_seconds = idle_seconds
        self._max_messages = max_messages
        self._poll_seconds = poll_seconds
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,  # committed in acknowledge(), after delivery
                # A short session: a restarted scorer gets its partitions back in seconds.
                "session.timeout.ms": 6000,
            }
        )
        self._assigned_at: float | None = None
        self._consumer.subscribe([topic], on_assign=self._on_assign)
        self._pending = False

    def _on_assign(self, _consumer: Any, _partitions: Any) -> None:
        self._assigned_at = time.monotonic()

    @property
    def location(self) -> str:
        return f"topic {self._topic}"

    @property
    def column_names(self) -> list[str]:
        return [KEY_COLUMN, *self._features, PROBLEM_COLUMN]

    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        consumed = 0
        started = time.monotonic()
        idle_since: float | None = None  # the idle clock starts once partitions are assigned
        while self._max_messages is None or consumed < self._max_messages:
            wanted = self._batch_rows
            if self._max_messages is not None:
                wanted = min(wanted, self._max_messages - consumed)
            messages = [
                message
                for message in self._consumer.consume(wanted, timeout=self._poll_seconds)
                if not _skippable(message.error())
            ]
            if not messages:
                now = time.monotonic()
                if idle_since is None and self._assigned_at is not None:
                    idle_since = self._assigned_at
                if self._idle_seconds is None:
                    continue
                if idle_since is None and now - started > _ASSIGNMENT_SECONDS:
                    msg = f"{self.location}: no partition assigned within {_ASSIGNMENT_SECONDS} s"
                    raise DataError(msg)
                if idle_since is not None and now - idle_since >= self._idle_seconds:
                    return
                continue
            idle_since = time.monotonic()
            consumed += len(messages)
            self._pending = True
            yield self._batch(messages)

    def _batch(self, messages: list[Any]) -> pa.RecordBatch:
        keys: list[str] = []
        problems: list[str | None] = []
        records: list[dict[str, Any]] = []
        for message in messages:
            raw_key = message.key()
            keys.append(
                raw_key.decode(errors="replace")
                if raw_key is not None
                else f"{message.partition()}:{message.offset()}"
            )
            record, problem = _decode(message.value())
            records.append(record)
            problems.append(problem)
        columns = [pa.array(keys, type=pa.string())]
        columns += [_column([record.get(name) for record in records]) for name in self._features]
        columns.append(pa.array(problems, type=pa.string()))
        return pa.RecordBatch.from_arrays(columns, names=self.column_names)

    def acknowledge(self) -> None:
        if self._pending:
            self._consumer.commit(asynchronous=False)
            self._pending = False

    def close(self) -> None:
        self._consumer.close()


def _skippable(error: KafkaError | None) -> bool:
    if error is None:
        return False
    if error.code() == KafkaError._PARTITION_EOF:
        return True
    raise KafkaException(error)


def _decode(value: bytes | None) -> tuple[dict[str, Any], str | None]:
    try:
        record = json.loads(value) if value is not None else None
    except (ValueError, UnicodeDecodeError) as error:
        return {}, f"undecodable message: not JSON ({error})"
    if not isinstance(record, dict):
        return {}, "undecodable message: not a JSON object of feature values"
    return record, None


def _column(values: list[Any]) -> pa.Array:
    """Numbers as float64; any other JSON value as its JSON text, for the checks to refuse."""
    if all(value is None or (type(value) in {int, float}) for value in values):
        return pa.array(values, type=pa.float64())
    return pa.array(
        [
            None
            if value is None
            else str(value)
            if type(value) in {int, float}
            else json.dumps(value)
            for value in values
        ],
        type=pa.string(),
    )


class KafkaWriter(ResultWriter):
    """Rows as JSON messages keyed by the row's key; ``flush`` waits until all are delivered."""

    def __init__(
        self, bootstrap_servers: str, topic: str, key_column: str, timeout_seconds: float = 30.0
    ) -> None:
        self._topic = topic
        self._key = key_column
        self._timeout = timeout_seconds
        self._producer = Producer({"bootstrap.servers": bootstrap_servers, "acks": "all"})
        self._failures: list[str] = []

    @property
    def location(self) -> str:
        return f"topic {self._topic}"

    def _delivered(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self._failures.append(str(error))

    def write(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            key = row[self._key]
            value = orjson.dumps(row)
            while True:
                try:
                    self._producer.produce(
                        self._topic,
                        key=str(key).encode(),
                        value=value,
                        on_delivery=self._delivered,
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.5)
            self._producer.poll(0)

    def flush(self) -> None:
        undelivered = self._producer.flush(self._timeout)
        if undelivered or self._failures:
            reasons = "; ".join(self._failures[:3]) or f"{undelivered} messages still queued"
            raise DataError(f"{self.location}: results were not delivered: {reasons}")

    def commit(self) -> None:
        self.flush()

    def discard(self) -> None:
        # Undelivered messages are dropped: their input offsets were not committed either.
        self._producer.purge()
        self._producer.flush(0)
