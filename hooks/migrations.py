"""Migrations: the changes to a generated project that a 3-way merge cannot express.

``copier update`` merges most template changes by itself. It cannot follow a renamed or
moved file (the user's edits would stay behind in a file the template then deletes) nor a
renamed answer. Each such change is a step in ``STEPS``, keyed on the template version it
arrived in. copier.yml (``_migrations``) runs this file before and after every update with
the project's template version and the one it updates to; a step runs when
``from < step.version <= to``, in the stage it belongs to, and it is idempotent: run twice,
the second run finds nothing to do.

It needs git and PyYAML (both engines bring it); re-rendering the previous template version,
the common ancestor of a 3-way merge, uses the Copier that runs the update.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from post_gen_project import uv_command

Stage = Literal["before", "after"]
Answers = Mapping[str, Any]
MERGE_LABELS = ("before updating", "last update", "after updating")  # Copier's inline labels


def git_executable() -> str:
    executable = shutil.which("git")
    if executable is None:
        raise RuntimeError("git is not installed: `copier update` needs it")
    return executable


def say(message: str) -> None:
    print(f"data-product-template: {message}", file=sys.stderr)


def release(version: str) -> tuple[int, ...]:
    """The release segment of a PEP 440 version or a tag: 'v1.2.0.post3+gabc' -> (1, 2, 0).

    Trailing zeros are dropped so that '1.1' and '1.1.0' compare equal. A development
    version after a tag ('1.0.0.post3...') counts as that tag's release: steps keyed on the
    next release have not arrived in it yet.
    """
    match = re.match(r"v?(\d+(?:\.\d+)*)", version.strip())
    if match is None:
        raise ValueError(f"'{version}' is not a version: expected something like '1.2.0'")
    parts = [int(part) for part in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@dataclass
class Context:
    """What a step may read: the project, its answers before and after, the previous render."""

    project: Path
    answers_file: str
    previous_render: Callable[[], Path | None]
    log: list[str] = field(default_factory=list)

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [git_executable(), "-C", str(self.project), *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def committed(self, path: str) -> str | None:
        """A file as it is in the last commit (the state `copier update` started from)."""
        shown = self.git("show", f"HEAD:{path}")
        return shown.stdout if shown.returncode == 0 else None

    def answers(self, *, previous: bool) -> dict[str, Any]:
        """The answers recorded before the update (last commit) or after it (on disk)."""
        text = self.committed(self.answers_file) if previous else None
        if text is None:
            text = (self.project / self.answers_file).read_text()
        return parse_answers(text)


def parse_answers(text: str) -> dict[str, Any]:
    answers = yaml.safe_load(text)
    if not isinstance(answers, dict):
        raise ValueError("the answers file does not hold a mapping of answers")
    return answers


@dataclass(frozen=True)
class MoveFile:
    """A generated file moved from `source` to `target` (paths may use `{package_name}` etc.).

    Runs after Copier's merge, which has written the template's new file at `target` and
    removed `source`. The user's committed `source` is merged into `target` with the
    previous template version's `source` as the common ancestor, so their edits follow the
    file and the template's changes to it arrive too. A true conflict leaves Copier's
    inline markers; nothing of the user's is dropped.
    """

    version: str
    source: str
    target: str

    @property
    def stage(self) -> Stage:
        return "after"

    def describe(self) -> str:
        return f"move {self.source} to {self.target}"

    def apply(self, context: Context) -> str | None:
        source = self.source.format_map(context.answers(previous=True))
        target = self.target.format_map(context.answers(previous=False))
        users = context.committed(source)
        if users is None or context.committed(target) is not None:
            return None  # Not in this project, or already moved: nothing to do.
        target_path = context.project / target
        source_path = context.project / source
        if not target_path.exists():
            target_path.parent.mkdir(parents=True, exist_ok=True)
            target_path.write_text(users)
            source_path.unlink(missing_ok=True)
            return f"moved {source} to {target}"
        base_root = context.previous_render()
        base = (base_root / source).read_text() if base_root is not None else None
        merged, conflicts = merge(users, base if base is not None else "", target_path.read_text())
        target_path.write_text(merged)
        source_path.unlink(missing_ok=True)
        if conflicts:
            return (
                f"moved {source} to {target}; {conflicts} conflict(s) between your edits and "
                f"the template's: resolve the markers in {target}"
            )
        return f"moved {source} to {target}, with your edits"


@dataclass(frozen=True)
class RenameAnswer:
    """A question renamed from `old` to `new`: the recorded answer keeps its value.

    Runs before Copier's merge, so the new template version reads the answer under its
    new name.
    """

    version: str
    old: str
    new: str

    @property
    def stage(self) -> Stage:
        return "before"

    def describe(self) -> str:
        return f"rename the answer {self.old} to {self.new}"

    def apply(self, context: Context) -> str | None:
        path = context.project / context.answers_file
        text = path.read_text()
        if re.search(rf"^{re.escape(self.new)}:", text, flags=re.MULTILINE):
            return None
        renamed, count = re.subn(
            rf"^{re.escape(self.old)}:", f"{self.new}:", text, flags=re.MULTILINE
        )
        if not count:
            return None
        path.write_text(renamed)
        return f"renamed the answer {self.old} to {self.new}"


# The registry: every step, oldest first. A release that renames or moves a generated
# file, or renames a question, adds its step here with the version it ships in.
STEPS: tuple[MoveFile | RenameAnswer, ...] = ()


def merge(users: str, base: str, templates: str) -> tuple[str, int]:
    """3-way merge of the user's and the template's version of a file: (text, conflicts)."""
    with tempfile.TemporaryDirectory(prefix="data-product-merge.") as folder:
        paths = [Path(folder, name) for name in ("users", "base", "templates")]
        for path, text in zip(paths, (users, base, templates), strict=True):
            path.write_text(text)
        labels = [option for label in MERGE_LABELS for option in ("-L", label)]
        result = subprocess.run(
            [git_executable(), "merge-file", "-p", *labels, *map(str, paths)],
            capture_output=True,
            text=True,
            check=False,
        )
    if not 0 <= result.returncode < 128:
        raise RuntimeError(f"git merge-file failed: {result.stderr}")
    return result.stdout, result.returncode


def relock(context: Context) -> str | None:
    """Regenerate uv.lock from the merged pyproject.toml; a lock is derived, never merged.

    Copier locks (post-generation task) before it merges the user's pyproject.toml changes
    back in, and then line-merges the user's uv.lock, which can conflict. Starting again
    from the user's committed lock keeps their pins wherever the new constraints allow.
    """
    committed = context.committed("uv.lock")
    lock = context.project / "uv.lock"
    if committed is None or not (context.project / "pyproject.toml").is_file():
        return None
    uv = uv_command()
    if uv is None:
        return "uv is not installed: run `uv lock` to bring uv.lock up to date"
    before = lock.read_text() if lock.is_file() else None
    lock.write_text(committed)
    if context.git("ls-files", "--unmerged", "--", "uv.lock").stdout:
        context.git("add", "--", "uv.lock")  # Not a conflict for the user: it is relocked.
    result = subprocess.run(
        [*uv, "lock", "--directory", str(context.project)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return f"`uv lock` failed, uv.lock is as last committed; fix and run it:\n{result.stderr}"
    return "relocked uv.lock" if lock.read_text() != before else None


def selected(
    steps: tuple[MoveFile | RenameAnswer, ...], stage: Stage, version_from: str, version_to: str
) -> list[MoveFile | RenameAnswer]:
    """The steps that arrived after `version_from`, up to and including `version_to`."""
    low, high = release(version_from), release(version_to)
    return [step for step in steps if step.stage == stage and low < release(step.version) <= high]


@contextmanager
def previous_template_render(
    project: Path, answers_file: str
) -> Iterator[Callable[[], Path | None]]:
    """Render the template version the project was last updated to, on first use only.

    It is the common ancestor of the 3-way merges (Copier renders the same for its own).
    The recorded answers and template reference come from the last commit.
    """
    folder = Path(tempfile.mkdtemp(prefix="data-product-previous."))
    rendered: list[Path | None] = []

    def render() -> Path | None:
        if rendered:
            return rendered[0]
        context = Context(project, answers_file, lambda: None)
        recorded = context.answers(previous=True)
        source, reference = recorded.get("_src_path"), recorded.get("_commit")
        try:
            import copier  # noqa: PLC0415 (only an update by Copier needs it)

            copier.run_copy(
                str(source),
                folder / "project",
                data={key: value for key, value in recorded.items() if not key.startswith("_")},
                vcs_ref=str(reference),
                defaults=True,
                overwrite=True,
                quiet=True,
                skip_tasks=True,
                unsafe=True,
            )
            rendered.append(folder / "project")
        except Exception as error:  # Any failure: merge without a common ancestor.
            say(
                f"could not render the previous template version ({reference} of {source}): "
                f"{error}; moved files are merged without a common ancestor"
            )
            rendered.append(None)
        return rendered[0]

    try:
        yield render
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def migrate(
    project: Path,
    stage: Stage,
    versions: tuple[str, str],
    *,
    answers_file: str = ".copier-answers.yml",
    steps: tuple[MoveFile | RenameAnswer, ...] = STEPS,
) -> list[str]:
    """Run the steps due in this stage of this update; return what each one did."""
    done: list[str] = []
    with previous_template_render(project, answers_file) as previous_render:
        context = Context(project, answers_file, previous_render)
        for step in selected(steps, stage, *versions):
            outcome = step.apply(context)
            if outcome is not None:
                message = f"migration {step.version}: {outcome}"
                say(message)
                done.append(message)
        if stage == "after" and (outcome := relock(context)) is not None:
            say(outcome)
            done.append(outcome)
    return done


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", choices=["before", "after"], required=True)
    parser.add_argument("--from", dest="version_from", required=True)
    parser.add_argument("--to", dest="version_to", required=True)
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    options = parser.parse_args(arguments)
    migrate(
        Path.cwd(),
        options.stage,
        (options.version_from, options.version_to),
        answers_file=options.answers_file,
    )


if __name__ == "__main__":
    main()
