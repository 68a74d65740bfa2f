"""monitoring/ of a generated project: rendered for every answer set, proven with Prometheus.

The full-tier test runs the project's own monitoring tests with promtool and a real Prometheus
server on PATH (.ci/install-tools.sh installs them), and fails if any of them skipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from answers import Answers, answer_set_id
from conftest import render, run
from tools import tool

MONITORING_FILES = [
    "monitoring/prometheus.yml",
    "monitoring/alerts.yml",
    "monitoring/alerts.test.yml",
    "monitoring/grafana/dashboard.json",
    "tests/test_monitoring.py",
]


@pytest.mark.parametrize(
    "answers",
    [{}, {"project_name": "Churn Model", "problem_type": "regression", "docker": False}],
    ids=answer_set_id,
)
def test_monitoring_files_are_rendered_and_parse(tmp_path: Path, answers: Answers) -> None:
    project = render(tmp_path / "project", answers)
    for name in MONITORING_FILES:
        assert (project / name).is_file(), name
    config = yaml.safe_load((project / "monitoring/prometheus.yml").read_text())
    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]
    assert [job["job_name"] for job in config["scrape_configs"]] == [slug]
    assert config["rule_files"] == ["alerts.yml"]
    rules = yaml.safe_load((project / "monitoring/alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = set(
        re.findall(r"alertname: (\w+)", (project / "monitoring/alerts.test.yml").read_text())
    )
    assert alerts == tested, "every alert has its promtool unit test"
    dashboard = json.loads((project / "monitoring/grafana/dashboard.json").read_text())
    assert all(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])


def _dropped(written: object, parsed: object, path: str = "") -> list[str]:
    """What the schema's round trip lost or changed: unknown fields, retyped values."""
    if isinstance(written, dict) and isinstance(parsed, dict):
        return [
            lost
            for key, value in written.items()
            for lost in (
                _dropped(value, parsed[key], f"{path}/{key}")
                if key in parsed
                else [f"{path}/{key}"]
            )
        ]
    if isinstance(written, list) and isinstance(parsed, list) and len(written) == len(parsed):
        return [
            lost
            for index, pair in enumerate(zip(written, parsed, strict=True))
            for lost in _dropped(*pair, f"{path}[{index}]")
        ]
    return [] if written == parsed else [f"{path}: {written!r} became {parsed!r}"]


def test_the_dashboard_follows_grafanas_schema(tmp_path: Path) -> None:
    """Grafana's typed dashboard models (its foundation SDK) keep every field they know: a
    misspelt or misplaced field is dropped by the round trip, a wrong-typed value changes."""
    register_default_plugins()  # panels and queries parse as their plugin's models
    written = json.loads(
        (render(tmp_path / "project") / "monitoring/grafana/dashboard.json").read_text()
    )
    assert _dropped(written, _round_trip(written)) == []
    misspelt = {**written, "panels": [{**written["panels"][0], "gridPoz": {}}]}
    assert _dropped(misspelt, _round_trip(misspelt)) == ["/panels[0]/gridPoz"]


def _round_trip(dashboard: dict[str, object]) -> object:
    return json.loads(json.dumps(Dashboard.from_json(dashboard), cls=JSONEncoder))


@pytest.mark.full
def test_generated_monitoring_tests_run_with_prometheus(tmp_path: Path) -> None:
    tool("promtool")
    tool("prometheus")
    project = render(tmp_path / "project", tasks=True)
    result = run(
        ["uv", "run", "--locked", "pytest", "-m", "monitoring", "-rs", "-p", "no:cacheprovider"],
        project,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert "SKIPPED" not in result.stdout, result.stdout
    assert re.search(r"\b4 passed\b", summary), result.stdout
    assert "skipped" not in summary, result.stdout
