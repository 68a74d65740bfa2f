"""The documentation site, built and read in a browser that cannot reach the internet: every
page renders from the site alone (fonts, Mermaid), its diagrams are drawn, its tables and code
blocks fit. Screenshots: build/screenshots/docs-*.png."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser import browser_page, static_server
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.full


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `nox -s docs` builds it (Mermaid from docs/assets, which `nox -s full` installs)."""
    destination = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(destination)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
    )
    return destination


def pages(site: Path) -> list[str]:
    return sorted(
        path.relative_to(site).as_posix()
        for path in site.rglob("index.html")
        if not path.relative_to(site).parts[0].startswith(("assets", "search"))
    )


def test_the_browser_sees_a_page_reach_outside() -> None:
    """The guard the other tests rely on: a page that needs the internet is caught."""
    with browser_page() as visit:
        visit.page.set_content('<link rel="stylesheet" href="https://fonts.googleapis.com/css">')
        visit.page.wait_for_load_state("load")
    assert visit.outside == ["https://fonts.googleapis.com/css"]


def test_every_page_renders_offline_with_its_diagrams_drawn(site: Path) -> None:
    assert "architecture/index.html" in pages(site)
    with static_server(site) as base, browser_page() as visit:
        for page in pages(site):
            visit.page.goto(f"{base}/{page}", wait_until="networkidle")
            assert drawn(visit.page) == source_diagrams(site / page), f"{page}: diagrams as source"
            wide = visit.page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert wide <= 0, f"{page}: the page is {wide} px wider than the window"
            name = page.removesuffix("index.html").strip("/") or "index"
            visit.screenshot(f"docs-{name}")
    assert visit.outside == []
    assert visit.errors == []


def source_diagrams(page: Path) -> int:
    return page.read_text().count('<pre class="mermaid">')


def drawn(page: Page) -> int:
    """Diagrams Mermaid drew. Material draws each into a closed shadow root in place of its
    source (a <pre class="mermaid">, which stays, as text, when Mermaid cannot load)."""
    page.wait_for_function("!document.querySelector('pre.mermaid')", timeout=20_000)
    heights = page.locator("div.mermaid").evaluate_all(
        "nodes => nodes.map(n => n.getBoundingClientRect().height)"
    )
    return sum(height > 40 for height in heights)


def test_the_architecture_page_draws_the_runtimes_imports_read_from_its_code(site: Path) -> None:
    page = site / "architecture" / "index.html"
    assert 'cli["cli/"]' in page.read_text()
    with static_server(site) as base, browser_page() as visit:
        visit.page.goto(f"{base}/architecture/", wait_until="networkidle")
        assert drawn(visit.page) == source_diagrams(page) == 4


def test_names_in_tables_never_break_and_long_blocks_scroll(site: Path) -> None:
    with static_server(site) as base, browser_page() as visit:
        visit.page.goto(f"{base}/questions/", wait_until="networkidle")
        broken = visit.page.locator(
            ".questions td:is(:first-child, :last-child) code"
        ).evaluate_all(
            "codes => codes.filter(c => c.getClientRects().length > 1).map(c => c.innerText)"
        )
        names = visit.page.locator("td:first-child code").all_inner_texts()
        visit.page.goto(f"{base}/architecture/", wait_until="networkidle")
        unscrolled = visit.page.locator("pre > code").evaluate_all(
            "codes => codes.filter(c => c.scrollWidth > c.clientWidth"
            " && !['auto', 'scroll'].includes(getComputedStyle(c).overflowX)).length"
        )
        page = visit.page.content()
    assert "project_name" in names
    assert broken == []
    assert unscrolled == 0
    assert "(checked when given)" not in page
