"""The command line: help, version, training, and serving (without binding a port)."""

import runpy
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.core.model import ModelMetadata
from {{ cookiecutter.package_name }}.io.local_registry import LocalModelRegistry

runner = CliRunner()


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
        ["ab-report"],
        ["score"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"{{ cookiecutter.project_slug }} {__version__}"


def test_train_stores_a_version(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--model-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (version,) = LocalModelRegistry(tmp_path).versions()
    assert f"trained model {version}" in result.output


def test_train_from_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    rows = [f"{i},{i % 7},{% if cookiecutter.problem_type == 'classification' %}{'yes' if i % 7 > 3 else 'no'}{% else %}{i * 0.5 + i % 7}{% endif %}" for i in range(60)]
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


def test_train_reports_bad_data_without_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    assert "missing.csv: no such file" in result.output
    assert "Traceback" not in result.output


def test_invalid_settings_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("{{ cookiecutter.package_name | upper }}_TEST_SIZE", "1.5")
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert "invalid settings" in result.output
    assert "test_size" in result.output


def test_serve_refuses_to_start_without_a_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--model-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot serve: no trained model" in result.output


def test_serve_runs_the_app_for_the_newest_model(
    monkeypatch: pytest.MonkeyPatch, registry_dir: Path, trained: ModelMetadata
) -> None:
    calls: list[tuple[FastAPI, str, int]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, host, port, **_: calls.append((app, host, port)))
    result = runner.invoke(app, ["serve", "--model-dir", str(registry_dir), "--port", "8123"])
    assert result.exit_code == 0, result.output
    ((served, host, port),) = calls
    assert (host, port) == ("127.0.0.1", 8123)
    assert isinstance(served, FastAPI)
    assert f"serving model {trained.version}" in result.output


def test_python_dash_m(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["{{ cookiecutter.package_name }}", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("{{ cookiecutter.package_name }}", run_name="__main__")
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out
