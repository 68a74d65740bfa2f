"""Refuse request bodies above a size limit with 413, before they are read into memory, and
bodies that do not arrive in time with 408 (a client sending a byte at a time)."""

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimitMiddleware:
    """Checks the declared Content-Length and counts what actually arrives (chunked bodies)."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, body_timeout_seconds: float = 30.0
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_error(send, 400, "invalid Content-Length header")
                return
            if int(declared) > self.max_body_bytes:
                await _send_error(send, 413, self._too_large())
                return
        received = 0
        rejected = False
        complete = False
        deadline = asyncio.get_running_loop().time() + self.body_timeout_seconds

        async def receive_within_limit() -> Message:
            # Frameworks turn exceptions raised while reading the body into their own 400,
            # so the 413 is sent from here and the application sees the client go away.
            nonlocal received, rejected, complete
            if complete or rejected:  # waiting for a disconnect, not for the body: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                rejected = True
                await _send_error(send, 408, self._too_slow())
                return {"type": "http.disconnect"}
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    rejected = True
                    await _send_error(send, 413, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_rejected(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, receive_within_limit, send_unless_rejected)

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body_bytes} bytes"

    def _too_slow(self) -> str:
        return f"request body not received within {self.body_timeout_seconds:g} s"


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read: the connection ends
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
