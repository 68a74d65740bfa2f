"""Rendering helpers shared by the template's tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import copier
import pytest

from answers import TEMPLATE_ROOT, Answers

# Tools in generated projects must never download a Python build (GitHub is unreachable here,
# and a test that silently downloads one would not test the interpreter it claims to).
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
# nox points uv at its own session environment; generated projects must use their own .venv
# (otherwise their `uv run` would sync into, and strip, the environment running these tests).
for _variable in ("UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "VIRTUAL_ENV"):
    os.environ.pop(_variable, None)


# A full run fills tens of gigabytes of uv's cache (each Python version's wheels, sources
# built): when the disk runs low, its unused entries are dropped between tests.
_LOW_DISK_BYTES = 20 * 2**30


@pytest.fixture(autouse=True)
def _prune_uv_cache_when_the_disk_runs_low(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    uv = shutil.which("uv")
    if request.node.get_closest_marker("full") is None or uv is None:
        return
    found = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, check=False)
    cache = Path(found.stdout.strip())
    if found.returncode == 0 and cache.is_dir() and shutil.disk_usage(cache).free < _LOW_DISK_BYTES:
        subprocess.run([uv, "cache", "prune"], capture_output=True, check=False)


def render(destination: Path, answers: Answers | None = None, *, tasks: bool = False) -> Path:
    """Render the template's working tree (HEAD plus uncommitted changes) into destination."""
    copier.run_copy(
        str(TEMPLATE_ROOT),
        destination,
        data=dict(answers or {}),
        defaults=True,
        unsafe=True,
        skip_tasks=not tasks,
        quiet=True,
        vcs_ref="HEAD",
    )
    return destination


def run(command: Sequence[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command in a generated project; on failure, fail the test with its output."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited with {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-20000:]}\n--- stderr ---\n{result.stderr[-20000:]}"
        )
    return result


# --- git, for the tests that build template releases and update projects ------------------


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd).stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "--all")
    git(cwd, "-c", "user.name=Test", "-c", "user.email=test@example.com",
        "commit", "--quiet", "--no-verify", "--message", message)  # fmt: skip


def copy_working_tree(destination: Path) -> Path:
    """This checkout as it is (uncommitted and untracked files included) in a new repository."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], TEMPLATE_ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE_ROOT / name
        if source.is_symlink():  # template/hooks -> ../hooks: a link, as git stores it
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            (destination / name).symlink_to(source.readlink())
        elif source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git(destination, "init", "--quiet", "--initial-branch=main")
    commit_all(destination, "Template as it is")
    return destination


def replace_once(path: Path, pattern: str, replacement: str) -> None:
    text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} not found in {path}"
    path.write_text(text)
