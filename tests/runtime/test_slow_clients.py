"""Clients that send a byte at a time cannot hold the service's connections for ever."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.service.app import ServiceConfig, create_app
from data_product_runtime.service.protocol import HEADER_TIMEOUT_VARIABLE
from data_product_runtime.service.state import StateBuilder

TIMEOUT = 0.5  # seconds, for headers and for bodies


@pytest.fixture
def address(
    registry_dir: Path,
    trained: ModelMetadata,
    live: Callable[..., AbstractContextManager[tuple[str, int]]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, int]]:
    """A real uvicorn server with the service's protocol, as `serve` starts it."""
    monkeypatch.setenv(HEADER_TIMEOUT_VARIABLE, str(TIMEOUT))
    builder = StateBuilder(LocalModelRegistry(registry_dir), None, None, trained.version, 200)
    app = create_app(builder, ServiceConfig(body_timeout_seconds=TIMEOUT))
    with live(app, limit_concurrency=50) as address:
        yield address


def _trickle(address: tuple[str, int], head: bytes, trickle: bytes) -> tuple[bytes, float]:
    """Send ``head`` at once, then ``trickle`` a byte every 0.1 s; what came back, and when."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(head)
        connection.setblocking(False)
        answer = b""
        for byte in trickle:
            time.sleep(0.1)
            # Read before sending: an answer already sent is kept even if the server has
            # closed, when a byte sent after the close would reset the connection.
            try:
                chunk = connection.recv(65536)
            except BlockingIOError:
                chunk = None
            except OSError:  # reset by the server
                break
            if chunk is not None:
                answer += chunk
                if not chunk:
                    break
                continue
            try:
                connection.send(bytes([byte]))
            except OSError:  # closed by the server
                break
        return answer, time.monotonic() - started


def test_headers_sent_a_byte_at_a_time_get_the_connection_closed(
    address: tuple[str, int],
) -> None:
    answer, seconds = _trickle(address, b"POST /predict HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200)
    assert answer == b""
    assert seconds < 10 * TIMEOUT, f"held {seconds:.1f} s"


def test_a_body_sent_a_byte_at_a_time_gets_a_408(address: tuple[str, int]) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 500\r\n\r\n"
    )
    answer, seconds = _trickle(address, head, b"{" * 200)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"not received within 0.5 s" in answer
    assert seconds < 10 * TIMEOUT, f"held {seconds:.1f} s"


def test_a_client_in_time_is_answered(address: tuple[str, int], trained: ModelMetadata) -> None:
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(b"GET /models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert trained.version.encode() in answer
