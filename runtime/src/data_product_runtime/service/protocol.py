"""The service's HTTP protocol: uvicorn's, with a deadline for each request's headers.

uvicorn bounds idle keep-alive connections but not a client that sends its headers a byte at
a time, which holds a connection open forever; here every request's headers must be complete
within ``header_timeout_seconds`` of its first byte (or of the connection's opening).
"""

import asyncio
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# How `serve` hands the setting to this class in each worker process (uvicorn builds it).
HEADER_TIMEOUT_VARIABLE = "DATA_PRODUCT_RUNTIME_HEADER_TIMEOUT_SECONDS"
PROTOCOL = f"{__name__}:HeaderTimeoutProtocol"


class HeaderTimeoutProtocol(HttpToolsProtocol):
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        seconds = float(os.environ.get(HEADER_TIMEOUT_VARIABLE, "10"))
        self._header_deadline = self.loop.call_later(seconds, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
