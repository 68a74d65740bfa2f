"""The command line: help, version, training, and serving (without binding a port)."""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import FastAPI
from rich.progress import Progress
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.local_registry import LocalModelRegistry
from data_product_runtime.jobs.progress import RowRateColumn
from data_product_runtime.service.protocol import PROTOCOL

runner = CliRunner()
EXTRA_COMMANDS = ("export-onnx", "score-stream", "score-spark")


@pytest.fixture
def app(project: Project) -> typer.Typer:
    return build_cli(project)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["train"],
        ["evaluate"],
        ["promote"],
        ["rollback"],
        ["serve"],
        ["models"],
        ["models", "list"],
        ["models", "show"],
        ["models", "history"],
        ["ab-report"],
        ["score"],
        ["score-table"],
        *([name] for name in EXTRA_COMMANDS),
    ],
)
def test_every_command_has_help(app: typer.Typer, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_the_help_names_the_project(app: typer.Typer, project: Project) -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert f"{project.title}: {project.description}" in result.output


def test_commands_of_installed_extras_are_offered(app: typer.Typer) -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert all(name in result.output for name in EXTRA_COMMANDS)


@pytest.mark.parametrize(
    ("library", "command"),
    [
        ("onnxruntime", "export-onnx"),
        ("confluent_kafka", "score-stream"),
        ("pyspark", "score-spark"),
    ],
)
def test_commands_of_missing_extras_are_left_out(
    project: Project, monkeypatch: pytest.MonkeyPatch, library: str, command: str
) -> None:
    monkeypatch.setattr(
        "data_product_runtime.cli.find_spec",
        lambda name: None if name == library else find_spec(name),
    )
    app = build_cli(project)
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code != 0
    assert "No such command" in result.output
    listing = runner.invoke(app, ["--help"], terminal_width=200).output
    assert all(name in listing for name in EXTRA_COMMANDS if name != command)


def test_flags_are_shown_without_a_value_type(app: typer.Typer) -> None:
    """A flag takes no value: its help line has no "<bool>" (Typer would show one)."""
    for command in (["--help"], ["serve", "--help"], ["ab-report", "--help"]):
        result = runner.invoke(app, command, terminal_width=80)
        assert result.exit_code == 0, result.output
        assert "--help" in result.output
        assert "<bool>" not in result.output, result.output
        assert "<path>" in result.output or command == ["--help"]


@pytest.mark.usefixtures("terminal_80")
def test_models_list_fits_80_columns_without_cutting_an_id(
    app: typer.Typer, project: Project, tmp_path: Path
) -> None:
    root = str(tmp_path / "models")
    for _ in range(2):
        assert runner.invoke(app, ["train", "--model-dir", root]).exit_code == 0
    registry = LocalModelRegistry(tmp_path / "models")
    registry.promote("candidate", "production")
    result = runner.invoke(app, ["models", "list", "--model-dir", root])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    rows = [line for line in lines if line.startswith("│ 2")]
    assert [row.split()[1] for row in rows] == registry.versions(), result.output
    assert all(re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d │", row) for row in rows)
    metric = project.problem.primary_metric
    assert f"{metric}*: on each version's own held-out rows" in result.output


def test_the_progress_bar_shows_the_rate_the_summary_reports() -> None:
    """Rows done over time elapsed since the start, not Rich's moving average of recent rows."""
    now = [0.0]
    progress = Progress(get_time=lambda: now[0])
    task_id = progress.add_task("scoring", total=None)
    for moment, rows in [(1.0, 100), (2.0, 900)]:
        now[0] = moment
        progress.advance(task_id, rows)
    (task,) = progress.tasks
    assert task.speed == 900  # what Rich's speed says: the last second's rows
    assert RowRateColumn().render(task).plain == "500 rows/s"  # 1000 rows in 2 s


def test_version(app: typer.Typer, project: Project) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"{project.name} {project.version}"


def test_train_stores_a_version(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--model-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (version,) = LocalModelRegistry(tmp_path).versions()
    assert f"trained model {version}" in result.output


def test_train_from_a_file(app: typer.Typer, problem_type: str, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    if problem_type == "classification":
        rows = [f"{i},{i % 7},{'yes' if i % 7 > 3 else 'no'}" for i in range(60)]
    else:
        rows = [f"{i},{i % 7},{i * 0.5 + i % 7}" for i in range(60)]
    data.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    result = runner.invoke(
        app, ["train", "--data", str(data), "--target", "y", "--model-dir", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    metadata = LocalModelRegistry(tmp_path / "m").metadata(
        LocalModelRegistry(tmp_path / "m").latest()
    )
    assert metadata.feature_names == ("a", "b")
    assert metadata.training_data.source == str(data)


def test_train_reports_bad_data_without_a_traceback(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    assert "missing.csv: no such file" in result.output
    assert "Traceback" not in result.output


def test_invalid_settings_are_reported(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_TEST_SIZE", "1.5")
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert "invalid settings" in result.output
    assert "test_size" in result.output


def test_serve_refuses_to_start_without_a_model(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--model-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot serve: no trained model" in result.output


def test_serve_runs_the_app_for_the_newest_model(
    app: typer.Typer,
    monkeypatch: pytest.MonkeyPatch,
    registry_dir: Path,
    trained: ModelMetadata,
) -> None:
    calls: list[tuple[FastAPI, str, int, dict[str, Any]]] = []
    monkeypatch.setattr(
        "uvicorn.run",
        lambda app, host, port, **options: calls.append((app, host, port, options)),
    )
    monkeypatch.setenv("EXAMPLE_MAX_CONNECTIONS", "64")
    result = runner.invoke(app, ["serve", "--model-dir", str(registry_dir), "--port", "8123"])
    assert result.exit_code == 0, result.output
    ((served, host, port, options),) = calls
    assert (host, port) == ("127.0.0.1", 8123)
    # Slow clients are bounded: a deadline for headers (the protocol) and a connection limit.
    assert (options["http"], options["limit_concurrency"]) == (PROTOCOL, 64)
    assert isinstance(served, FastAPI)
    assert f"serving model {trained.version}" in result.output
