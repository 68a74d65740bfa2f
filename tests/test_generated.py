"""Full tier: generate projects the way a user does and run every check they ship with.

Each project is rendered with its tasks (uv lock, git init and first commit), then its own
`uv run nox` runs lint, typecheck, tests and build. Together the cases cover every
problem type, model family and licence, and the default project on the oldest and newest
Python. What users change after generating is test_day_one.py's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from answers import Answers, answer_set_id, choices, defaults, questions
from conftest import render, run
from template_questions import VENDORED_RUNTIME

PYTHONS = choices(questions()["python_version"])
OLDEST, NEWEST = PYTHONS[0], PYTHONS[-1]

CASES: list[tuple[Answers, str]] = [
    ({}, OLDEST),
    ({}, NEWEST),
    (
        {
            "problem_type": "regression",
            "license": "Apache-2.0",
            "python_version": "3.12",
            "database": "postgresql",
            "stream": "kafka",
            "model_family": "lightgbm",
        },
        "3.12",
    ),
    (
        {"license": "BSD-3-Clause", "ci": "gitlab", "docker": False, "model_family": "xgboost"},
        OLDEST,
    ),
    (
        # A long name: generated code must stay formatted whatever the names' lengths.
        {
            "project_name": "Customer Lifetime Value Forecasting Service For Retail Banking",
            "problem_type": "regression",
            "license": "Proprietary",
            "ci": "none",
            "model_family": "random_forest",
        },
        OLDEST,
    ),
    (
        {
            "registry": "mlflow",
            "onnx_export": True,
            "python_version": "3.13",
            "stream": "kafka",
            "model_family": "hist_gradient_boosting",
        },
        NEWEST,
    ),
    (
        {
            "registry": "mlflow",
            "onnx_export": True,
            "problem_type": "regression",
            "database": "postgresql",
            "spark": True,
        },
        OLDEST,
    ),
]


@pytest.mark.parametrize(
    "question",
    [
        "problem_type",
        "model_family",
        "license",
        "registry",
        "onnx_export",
        "database",
        "stream",
        "spark",
    ],
)
def test_cases_cover_every_choice_of(question: str) -> None:
    covered = {answers.get(question, defaults()[question]) for answers, _ in CASES}
    assert covered == set(choices(questions()[question]))


def _interpreter(version: str) -> str:
    executable = shutil.which(f"python{version}")
    if executable is None:
        pytest.fail(f"python{version} is not on PATH: `pyenv global` must list it (see .ci/run)")
    return executable


@pytest.mark.full
@pytest.mark.parametrize(
    ("answers", "python"), CASES, ids=[f"{answer_set_id(a)}-py{p}" for a, p in CASES]
)
def test_generated_project_passes_its_own_checks(
    tmp_path: Path, answers: Answers, python: str
) -> None:
    project = render(tmp_path / "project", answers, tasks=True)
    assert (project / "uv.lock").is_file(), "the post-generation task did not lock"
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True
    )
    assert log.stdout.strip() == "Initial commit from data-product-template"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", "the first commit must hold every generated file"
    run(
        [
            "uv",
            "run",
            "--locked",
            f"--python={_interpreter(python)}",
            "nox",
            f"--force-python={_interpreter(python)}",
        ],
        project,
    )
    # The checks leave the repository clean (build output and caches are ignored).
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", f"checks left untracked or changed files:\n{status.stdout}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, body: dict[str, object] | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 (the tests build loopback http URLs only)
        url, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.full
def test_benchmarks_run_and_report_at_a_small_scale(tmp_path: Path) -> None:
    """The generated benchmarks work (their figures are for a quiet machine, not for tests)."""
    project = render(tmp_path / "project", tasks=True)
    batch = run(
        ["uv", "run", "--locked", "python", "benchmarks/batch_scoring.py", "--rows=6000",
         "--small-rows=2000", "--runs=1", f"--folder={tmp_path / 'bench'}"],
        project,
    ).stdout  # fmt: skip
    rows = re.findall(
        r"^features-(\d+)\.(csv|parquet) .* (usual|streaming) .* ([\d.]+)x$", batch, re.M
    )
    assert len(rows) == 8, batch
    serving = run(
        ["uv", "run", "--locked", "nox", "-s", "bench", "--", "--duration=1", "--runs=1"], project
    ).stdout
    table = re.findall(r"^\| (this service|Flask \+ gunicorn \+ pandas) \| (\S+) \|.*\| (\d+) \|$",
                       serving, re.M)  # fmt: skip
    assert len(table) == 4, serving
    assert all(errors == "0" for *_, errors in table), serving
    assert "/predict: this service is" in serving


@pytest.mark.full
@pytest.mark.parametrize("workers", [1, 2])
def test_readme_quick_start_trains_serves_and_answers(tmp_path: Path, workers: int) -> None:
    """The README's first command, `uv run data-product train && uv run data-product serve`,
    and the same service with several worker processes, whose metrics must add up."""
    project = render(tmp_path / "project", tasks=True)
    refused = subprocess.run(
        ["uv", "run", "--locked", "data-product", "serve"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "cannot serve: no trained model" in refused.stderr
    assert (
        "trained model" in run(["uv", "run", "--locked", "data-product", "train"], project).stdout
    )

    # Metric folders (several workers) live in the temporary folder: a killed service's is
    # deleted by the next one, a running service's is kept, and each removes its own on exit.
    temporary = tmp_path / "tmp"
    killed = temporary / "data-product-metrics-999999999-x"  # above any pid_max
    running = temporary / f"data-product-metrics-{os.getpid()}-x"
    for folder in (killed, running):
        folder.mkdir(parents=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["uv", "run", "--locked", "data-product", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TMPDIR": str(temporary)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = _get(f"{base}/health")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the service did not start:\n{server.communicate()[0]}")
                time.sleep(0.2)
        assert (status, json.loads(health)) == (200, {"status": "ok"})
        (served,) = json.loads(_get(f"{base}/models")[1])
        version = served["model_version"]
        features = json.loads(_get(f"{base}/openapi.json")[1])["components"]["schemas"]["Features"]
        record = dict.fromkeys(features["required"], 1.0)
        for _ in range(10):
            status, prediction = _get(f"{base}/predict", {"features": record})
            assert status == 200, prediction
            assert json.loads(prediction)["model_version"] == version
        status, refusal = _get(f"{base}/predict", {"features": {**record, "mean_radius": "big"}})
        assert status == 422
        assert "mean_radius" in refusal
        counted = f'model_predictions_total{{model_version="{version}",role="variant",variant="main"}} 10.0'
        for _ in range(4):  # with several workers, each scrape may reach another one
            assert counted in _get(f"{base}/metrics")[1]
        metric_folders = {path.name for path in temporary.glob("data-product-metrics-*")}
        assert len(metric_folders - {running.name}) == (1 if workers > 1 else 0), metric_folders
        assert killed.name not in metric_folders
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output
    assert [path.name for path in temporary.glob("data-product-metrics-*")] == [running.name]


_SPARK_INPUT = """
import numpy as np, pyarrow as pa, pyarrow.csv as pa_csv
from data_product.project import PROJECT
data, _ = PROJECT.dataset(PROJECT.settings())
values = data.features[np.arange(3000) % len(data)].copy()
values[[10, 2000], 0] = [np.nan, np.inf]
columns = {"id": [f"r{i:05d}" for i in range(3000)]}
columns.update({name: values[:, i] for i, name in enumerate(data.feature_names)})
pa_csv.write_csv(pa.table(columns), "features.csv")
"""

_SPARK_COMPARISON = """
import math, pyarrow.csv as pa_csv, pyarrow.parquet as pq
local = {r["id"]: r for r in pa_csv.read_csv("local.csv").to_pylist()}
spark = {r["id"]: r for r in pq.read_table("spark-out").to_pylist()}
assert spark.keys() == local.keys() and len(local) == 2998, (len(local), len(spark))
for key, row in local.items():
    for name, value in row.items():
        if name == "prediction" or name.startswith("probability_"):
            other = spark[key][name]
            same = other == value or math.isclose(other, value, rel_tol=1e-12)
            assert same, (key, name, value, other)
refused = {r["id"]: r["reason"] for r in pq.read_table("spark-out_quarantine").to_pylist()}
expected = {r["id"]: r["reason"] for r in pa_csv.read_csv("local.quarantine.csv").to_pylist()}
assert refused == expected and len(expected) == 2, (refused, expected)
print("identical:", len(local), "scored,", len(expected), "quarantined")
"""


@pytest.mark.full
def test_spark_job_under_spark_submit_scores_like_the_single_machine_scorer(tmp_path: Path) -> None:
    """The generated Spark job, run by spark-submit in local mode, against `score` on one CSV."""
    project = render(tmp_path / "project", {"spark": True}, tasks=True)
    uv = ["uv", "run", "--locked"]
    run([*uv, "data-product", "train"], project)
    run([*uv, "python", "-c", _SPARK_INPUT], project)
    local = subprocess.run(
        [*uv, "data-product", "score", "features.csv", "local.csv"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert local.returncode == 3, local.stderr  # two rows quarantined
    spark = subprocess.run(
        [
            *uv, "spark-submit", "--master", "local[2]", "--conf", "spark.ui.enabled=false",
            f"{VENDORED_RUNTIME}/src/data_product_runtime/jobs/spark_scoring.py",
            "features.csv", "spark-out",
        ],
        cwd=project, capture_output=True, text=True, check=False,
        env={
            **os.environ,
            "PYSPARK_PYTHON": str(project / ".venv" / "bin" / "python"),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "DATA_PRODUCT_RUNTIME_PROJECT": "data_product.project:PROJECT",
        },
    )  # fmt: skip
    assert spark.returncode == 3, spark.stdout[-5000:] + spark.stderr[-5000:]
    assert "scored 2,998 rows; 2 quarantined" in spark.stdout
    assert (
        "identical: 2998 scored, 2 quarantined"
        in run([*uv, "python", "-c", _SPARK_COMPARISON], project).stdout
    )
