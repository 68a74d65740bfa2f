"""Pages looked at as a reader would: Debian's chromium, headless, driven by Playwright, with
no way out of this machine. Every request to another host is refused and recorded, so a page
that needs a CDN or a web font fails its test; each page's screenshot is kept in
build/screenshots/ as the proof of what it looked like.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass
class Visit:
    """An open page, what it tried to fetch from outside and the errors its scripts raised."""

    page: Page
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[Visit]:
    """A page in a fresh headless chromium that may reach only this machine."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not on PATH: .ci/install-tools.sh installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            visit = Visit(page)

            def only_local(route: Route) -> None:
                url = urlsplit(route.request.url)
                if url.scheme in {"data", "blob", "file"} or url.hostname in LOCAL_HOSTS:
                    route.continue_()
                else:
                    visit.outside.append(route.request.url)
                    route.abort("blockedbyclient")

            page.route("**/*", only_local)
            page.on("pageerror", lambda error: visit.errors.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    visit.errors.append(message.text) if message.type == "error" else None
                ),
            )
            yield visit
        finally:
            browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged: the test reports what failed."""


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """The files of a folder over HTTP on the loopback (a site behaves as served, not as files)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
