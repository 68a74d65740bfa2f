"""monitoring/: alert rules, their unit tests and the Grafana dashboard, against the service.

The metric names in every rule and panel are checked against what the running app exports.
The tests marked `monitoring` need promtool and prometheus from the Prometheus distribution
(Debian and Ubuntu: `apt-get install prometheus`); without them they skip, saying so.
"""

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp

from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import ModelMetadata

from tests.conftest import serve

MONITORING = Path(__file__).resolve().parent.parent / "monitoring"
INSTALL_HINT = "install Prometheus to run it (Debian/Ubuntu: `apt-get install prometheus`)"
# PromQL words that are not metric names.
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def promql_metric_names(expression: str) -> set[str]:
    """The metric names an expression reads (label names, functions and strings left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"label_values\(([^,()]*),[^()]*\)", r"\1", text)  # Grafana variables
    text = re.sub(r"\{[^{}]*\}|\[[^\[\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    names = re.findall(r"(?<![\w.$])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()", text)
    return set(names) - _KEYWORDS


def rule_expressions() -> dict[str, str]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def load_dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "grafana" / "dashboard.json").read_text())
    return loaded


def dashboard_expressions() -> dict[str, str]:
    """Every PromQL query of the dashboard: panel targets and template variables."""
    dashboard = load_dashboard()
    expressions = {
        f"{panel['title']} {target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            expressions[f"${variable['name']}"] = variable["query"]["query"]
    return expressions


def exported_names(exposition: str) -> dict[str, set[str]]:
    """Per metric family of a /metrics page, the sample names a query can read."""
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
    families = re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.MULTILINE)
    return {
        name: {name + suffix for suffix in suffixes.get(kind, ("",))} for name, kind in families
    }


def test_metric_names_are_read_from_promql() -> None:
    expression = (
        'sum by (le, job) (rate(latency_bucket{path=~"/a(b)"}[5m] offset 1h)) / on (job) '
        'group_left (x) requests_total > bool 0.25 unless absent(up{job="$job"}) or label_values(info, job)'
    )
    assert promql_metric_names(expression) == {"latency_bucket", "requests_total", "up", "info"}


def test_rules_and_panels_read_only_metrics_the_service_exports(
    client: TestClient, record: dict[str, float]
) -> None:
    assert client.post("/predict", json={"features": record}).status_code == 200
    exported = set().union(*exported_names(client.get("/metrics").text).values())
    unknown = {
        f"{where}: {name}"
        for where, expression in {**rule_expressions(), **dashboard_expressions()}.items()
        for name in promql_metric_names(expression) - exported
    }
    assert not unknown, f"names the service does not export: {sorted(unknown)}"


def test_the_dashboard_shows_every_metric_of_the_service(client: TestClient) -> None:
    families = exported_names(client.get("/metrics").text)
    shown = set().union(*map(promql_metric_names, dashboard_expressions().values()))
    missing = {
        family
        for family, names in families.items()
        if not family.endswith("_created") and not names & shown
    }
    assert not missing, f"metrics without a panel: {sorted(missing)}"


# The panels that draw an alert's threshold: the alert, and its comparison in the rule.
THRESHOLDS = {
    "Prediction latency p50 / p99": ("PredictionLatencyHigh", r"\)\s*>\s*([\d.]+)"),
    "Input drift per feature (PSI)": ("InputDrift", r"model_input_drift_psi\)\s*>\s*([\d.]+)"),
    "Drift as alerted (PSI)": (
        "PredictionDistributionShift",
        r"model_score_drift_psi\)\s*>\s*([\d.]+)",
    ),
    "Drift window": ("InputDrift", r"model_drift_window_rows\s*>=\s*([\d.]+)"),
}


@pytest.mark.parametrize("title", sorted(THRESHOLDS))
def test_each_threshold_line_is_where_its_alert_fires(title: str) -> None:
    alert, comparison = THRESHOLDS[title]
    found = re.search(comparison, rule_expressions()[alert])
    assert found, f"{alert} has no threshold matching {comparison}"
    panel = next(panel for panel in load_dashboard()["panels"] if panel["title"] == title)
    defaults = panel["fieldConfig"]["defaults"]
    steps = [step["value"] for step in defaults["thresholds"]["steps"]]
    assert steps == [None, float(found.group(1))], (title, steps)
    assert defaults["custom"]["thresholdsStyle"]["mode"] != "off", title


def test_the_latency_panel_groups_as_its_alert_does() -> None:
    grouping = re.compile(r"sum by \(([^)]*)\)")
    alert = grouping.findall(rule_expressions()["PredictionLatencyHigh"])
    title = "Prediction latency p50 / p99"
    panel = next(panel for panel in load_dashboard()["panels"] if panel["title"] == title)
    assert alert
    assert [grouping.findall(target["expr"]) for target in panel["targets"]] == [alert, alert]


# Metrics that carry no model_version label: the only ones a panel may show for every version.
UNVERSIONED = {"prediction_log_lost_entries_total"}


def test_every_panel_follows_the_model_version_variable(client: TestClient) -> None:
    samples = [
        sample
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name in UNVERSIONED
    ]
    assert {sample.name for sample in samples} == UNVERSIONED
    assert not any("model_version" in sample.labels for sample in samples)
    ignored = {
        where
        for where, expression in dashboard_expressions().items()
        if not where.startswith("$")
        and promql_metric_names(expression) - UNVERSIONED
        and 'model_version=~"$model_version"' not in expression
    }
    assert not ignored, f"queries that ignore the model version chosen: {sorted(ignored)}"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"`{name}` is not on PATH: {INSTALL_HINT}")
    return path


@pytest.mark.monitoring
@pytest.mark.parametrize(
    "arguments",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ],
    ids=" ".join,
)
def test_promtool(arguments: list[str]) -> None:
    result = subprocess.run(  # noqa: S603
        [_tool("promtool"), *arguments],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get_json(url: str, **query: str) -> Any:
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        return json.load(response)


@contextmanager
def _serving(app: ASGIApp) -> Iterator[str]:
    """The app on a free loopback port, in a thread of this process; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the service stopped while starting"
            assert time.monotonic() < deadline, "the service did not start in 30 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def _prometheus(scrape_target: str, folder: Path) -> Iterator[str]:
    """A Prometheus server with the shipped configuration, scraping `scrape_target` every second."""
    binary = _tool("prometheus")
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(MONITORING / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [scrape_target]}]
    config_file = folder / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _ready(url), "Prometheus to be ready", process, folder)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def _wait_for(
    condition: Any, what: str, process: subprocess.Popen[bytes], folder: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            log = (folder / "prometheus.log").read_text()[-5000:]
            pytest.fail(f"gave up waiting for {what}; Prometheus's log:\n{log}")
        time.sleep(0.2)


@pytest.mark.monitoring
def test_prometheus_scrapes_the_service_and_answers_queries(
    registry_dir: Path, trained: ModelMetadata, bundled: Dataset, tmp_path: Path
) -> None:
    records = [
        dict(zip(bundled.feature_names, row.tolist(), strict=True)) for row in bundled.features[:7]
    ]
    with (
        _serving(serve(registry_dir).app) as service,
        _prometheus(service.removeprefix("http://"), tmp_path) as prometheus,
    ):
        for record in records:
            request = urllib.request.Request(  # noqa: S310 (loopback)
                f"{service}/predict",
                data=json.dumps({"features": record}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                assert response.status == 200

        query = 'sum by (model_version, variant) (model_predictions_total{role="variant"})'

        def predictions() -> list[dict[str, Any]]:
            answer = _get_json(f"{prometheus}/api/v1/query", query=query)
            result: list[dict[str, Any]] = answer["data"]["result"]
            return result if result and result[0]["value"][1] == str(len(records)) else []

        def rules_evaluated() -> bool:
            groups = _get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
            return all(rule["health"] == "ok" for group in groups for rule in group["rules"])

        deadline = time.monotonic() + 60
        while not (series := predictions()):
            assert time.monotonic() < deadline, f"Prometheus never saw {len(records)} predictions"
            time.sleep(0.2)
        assert series[0]["metric"] == {"model_version": trained.version, "variant": "main"}
        deadline = time.monotonic() + 30
        while not rules_evaluated():
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()
            time.sleep(0.2)
        # Every dashboard query is valid PromQL for the real engine, over the scraped data.
        variables = {"$__rate_interval": "1m", "$job": ".*", "$model_version": ".*"}
        for panel, template in dashboard_expressions().items():
            if template.startswith("label_values("):
                continue
            expression = template
            for name, value in variables.items():
                expression = expression.replace(name, value)
            answer = _get_json(f"{prometheus}/api/v1/query", query=expression)
            assert answer["status"] == "success", (panel, answer)
