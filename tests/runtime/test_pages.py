"""What people see, in a browser that cannot reach the internet: the service's API pages and
the evaluation report. Screenshots: build/screenshots/api-*.png and report-*.png."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import typer
from browser import browser_page
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.service.app import ServiceConfig, create_app
from data_product_runtime.service.state import StateBuilder

pytestmark = pytest.mark.full
# ReDoc's bundle draws its maker's logo from here; the page's policy stops the request.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
runner = CliRunner()


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_the_api_pages_render_offline(
    registry_dir: Path,
    trained: ModelMetadata,
    project: Project,
    live: Callable[..., AbstractContextManager[tuple[str, int]]],
    page: str,
) -> None:
    builder = StateBuilder(LocalModelRegistry(registry_dir), None, None, trained.version, 200)
    app = create_app(builder, ServiceConfig(), title=project.title)
    with live(app) as (host, port), browser_page() as visit:
        visit.page.goto(f"http://{host}:{port}/{page}", wait_until="networkidle")
        # Each page draws the API's title and its operations from /openapi.json.
        title = ".swagger-ui .info .title" if page == "docs" else "redoc h1"
        visit.page.locator(title).first.wait_for(timeout=20_000)
        operations = ".swagger-ui .opblock" if page == "docs" else "redoc [data-section-id]"
        visit.page.locator(operations).first.wait_for(timeout=20_000)
        shown = visit.page.locator(title).first.inner_text()
        text = visit.page.inner_text("body")
        visit.screenshot(f"api-{page}-{project.problem_type}")
    assert project.title in shown
    assert "/predict/batch" in text
    assert visit.outside == []
    # The one thing a page asks from outside, refused by the service's policy (PAGE_POLICY).
    assert [error for error in visit.errors if REDOC_LOGO not in error] == []


def _train(app: typer.Typer, root: Path) -> None:
    result = runner.invoke(app, ["train", "--model-dir", str(root)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("production", [False, True], ids=["first-model", "against-production"])
def test_the_report_reads_at_a_glance_offline(
    project: Project, tmp_path: Path, production: bool
) -> None:
    app = build_cli(project)
    root = tmp_path / "models"
    _train(app, root)
    if production:
        LocalModelRegistry(root).promote("candidate", "production")
        _train(app, root)
    output = tmp_path / "report"
    evaluated = runner.invoke(
        app,
        ["evaluate", "--against", "production", "--output", str(output), "--model-dir", str(root)],
    )
    assert evaluated.exit_code == 0, evaluated.output
    with browser_page() as visit:
        visit.page.goto((output / "index.html").as_uri(), wait_until="load")
        first = visit.page.locator("body > *").nth(1).inner_text()
        images = visit.page.locator("img").evaluate_all(
            "images => images.map(i => [i.naturalWidth, Math.round(i.getBoundingClientRect().width)])"
        )
        cells = visit.page.locator("figure").evaluate_all(
            "cells => cells.map(c => Math.round(c.getBoundingClientRect().width))"
        )
        wide = visit.page.evaluate("document.documentElement.scrollWidth - innerWidth")
        visit.screenshot(
            f"report-{project.problem_type}-{'with' if production else 'without'}-production"
        )
    assert first.startswith(("Promote", "Do not promote")), first
    assert len(images) >= 3  # regression 3, classification 4 or more (a confusion matrix each)
    assert all(natural > 0 for natural, _ in images), images
    assert len(set(cells)) == 1, f"plot cells of unequal widths: {cells}"
    assert wide <= 0
    assert visit.outside == []
    assert visit.errors == []
