"""Post-generation step, run in the new project's directory by Copier (``_tasks``) and by
cookiecutter and cruft (the ``post_gen_project`` hook): the same code under every engine.

It leaves a ready repository: ``uv.lock`` pins every dependency, and a git repository holds
a first commit. It is idempotent (``copier update`` runs it again) and never fails the
generation for a missing tool or network: it says what to run instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

FIRST_COMMIT_MESSAGE = "Initial commit from data-product-template"


def say(message: str) -> None:
    print(f"data-product-template: {message}", file=sys.stderr)


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    # The new project's own environment and Python, not those of whatever venv runs Copier.
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON"}
    }
    return subprocess.run(command, capture_output=True, text=True, check=False, env=environment)


def uv_command() -> list[str] | None:
    """uv from PATH, else the one installed as a Python package next to the running engine."""
    if executable := shutil.which("uv"):
        return [executable]
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        return None
    return [find_uv_bin()]


def remove_empty_directories(project: Path) -> None:
    """Folders whose files all belong to options not chosen (both engines create them)."""
    for folder in sorted(project.rglob("*"), key=lambda path: len(path.parts), reverse=True):
        inside_git = ".git" in folder.relative_to(project).parts
        if folder.is_dir() and not inside_git and not any(folder.iterdir()):
            folder.rmdir()


def lock_dependencies(project: Path) -> None:
    uv = uv_command()
    if uv is None:
        say("uv is not installed, so uv.lock was not created: install uv and run `uv lock`.")
        return
    result = run([*uv, "lock", "--directory", str(project)])
    if result.returncode != 0:
        say(
            f"`uv lock` failed, so uv.lock was not created; run it again once fixed:\n{result.stderr}"
        )


def format_code(project: Path) -> None:
    """Sort imports and format with the project's pinned ruff: names of any length fit the style."""
    uv = uv_command()
    if uv is None or not (project / "uv.lock").is_file():
        return
    for command in (
        ["ruff", "check", "--select=I", "--fix", "--quiet", "."],
        ["ruff", "format", "--quiet", "."],
    ):
        result = run(
            [*uv, "run", "--frozen", "--only-group=lint", "--directory", str(project), *command]
        )
        if result.returncode != 0:
            say(
                f"`{' '.join(command)}` failed; run `uv run nox -s lint` to see why:\n{result.stderr}"
            )
            return


def author_identity(project: Path) -> tuple[str, str]:
    with (project / "pyproject.toml").open("rb") as file:
        (author,) = tomllib.load(file)["project"]["authors"]
    return author["name"], author["email"]


def initialise_git(project: Path) -> None:
    git = shutil.which("git")
    if git is None:
        say("git is not installed: no repository was created.")
        return
    inside = run([git, "-C", str(project), "rev-parse", "--is-inside-work-tree"])
    if inside.returncode == 0:
        return  # Already a repository (an update, or a project inside another repository).
    name, email = author_identity(project)
    steps = [
        [git, "-C", str(project), "init", "--quiet", "--initial-branch=main"],
        [git, "-C", str(project), "add", "--all"],
        # The author's identity from the answers applies only where git has none configured.
        [git, "-C", str(project), "-c", f"user.name={name}", "-c", f"user.email={email}",
         "commit", "--quiet", "--no-verify", "--message", FIRST_COMMIT_MESSAGE],
    ]  # fmt: skip
    if run([git, "config", "user.email"]).stdout.strip():
        steps[2] = [
            git,
            "-C",
            str(project),
            "commit",
            "--quiet",
            "--no-verify",
            "--message",
            FIRST_COMMIT_MESSAGE,
        ]
    for step in steps:
        result = run(step)
        if result.returncode != 0:
            say(f"`{' '.join(step[1:])}` failed:\n{result.stderr}")
            return


def main() -> None:
    project = Path.cwd()
    remove_empty_directories(project)
    lock_dependencies(project)
    format_code(project)
    initialise_git(project)


if __name__ == "__main__":
    main()
