"""Migrations: the changes to a generated project that a 3-way merge cannot express.

``copier update`` merges most template changes by itself. It cannot follow a renamed or
moved file (the user's edits would stay behind in a file the template then deletes) nor a
renamed answer. Each such change is a step in ``STEPS``, keyed on the template version it
arrived in. copier.yml (``_migrations``) runs this file before and after every update with
the project's template version and the one it updates to; a step runs when
``from < step.version <= to``, in the stage it belongs to, and it is idempotent: run twice,
the second run finds nothing to do.

After the merge, two more things happen in every update. Copier deletes every file the new
template version no longer has, edited or not: a file the user edited comes back as they
committed it, named in a message, for them to carry their edits over (nothing of theirs is
deleted silently). And uv.lock is regenerated from the merged pyproject.toml.

It needs git and PyYAML (both engines bring it); re-rendering the previous template version,
the common ancestor of a 3-way merge, uses the Copier that runs the update.
"""

from __future__ import annotations

import argparse
import difflib
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
from template_questions import TEMPLATE_ROOT, VENDORED_RUNTIME

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
        shown = self.git("show", f"HEAD:./{path}")
        return shown.stdout if shown.returncode == 0 else None

    def committed_bytes(self, path: str) -> bytes | None:
        """A file of the last commit, byte for byte (it may not be text)."""
        shown = subprocess.run(
            [git_executable(), "-C", str(self.project), "cat-file", "blob", f"HEAD:./{path}"],
            capture_output=True,
            check=False,
        )
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

    def claimed(self, context: Context) -> str:
        """The project's path this step takes care of (the old place of the file)."""
        return self.source.format_map(context.answers(previous=True))

    def apply(self, context: Context) -> str | None:
        source = self.claimed(context)
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
        base_path = base_root / source if base_root is not None else None
        base = base_path.read_text() if base_path is not None and base_path.is_file() else None
        source_path.unlink(missing_ok=True)
        if users == base:
            return None  # Not edited: the template's new file, which Copier wrote, is all.
        merged, conflicts = merge(users, base if base is not None else "", target_path.read_text())
        target_path.write_text(merged)
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
STEPS: tuple[MoveFile | RenameAnswer, ...] = (
    # 2.0.0: the generic machinery left src/ for the runtime package; the model and the data
    # loading, the modules users edit, moved up to the package.
    MoveFile("2.0.0", "src/{package_name}/core/pipeline.py", "src/{package_name}/pipeline.py"),
    MoveFile("2.0.0", "src/{package_name}/io/datasets.py", "src/{package_name}/data.py"),
)

PARSE_MARKER_SIZE = 31  # Longer than any line of code a conflict marker could be taken for.
WORD = re.compile(r"\w+|\s+|[^\w\s]")


def merge(users: str, base: str, templates: str) -> tuple[str, int]:
    """3-way merge of the user's and the template's version of a file: (text, conflicts).

    Line by line (git merge-file), then word by word inside each conflicting hunk: the user
    changing a value on a line where the template renamed something (`"C": 0.5` beside
    `random_seed` becoming `settings.random_seed`) is two edits, not a conflict. Edits of
    the same or adjacent words stay a conflict, marked the way Copier marks its own.
    """
    diff3, _ = merge_lines(users, base, templates, "--diff3", f"--marker-size={PARSE_MARKER_SIZE}")
    pieces = hunks(diff3)
    if pieces is None:  # Not read as expected: the line merge alone, as git marks it.
        return merge_lines(users, base, templates)
    merged: list[str] = []
    conflicts = 0
    for piece in pieces:
        if isinstance(piece, str):
            merged.append(piece)
        elif (words := merge_words(*piece)) is not None:
            merged.append(words)
        else:
            merged.append(conflict_block(*piece))
            conflicts += 1
    return "".join(merged), conflicts


def merge_lines(users: str, base: str, templates: str, *options: str) -> tuple[str, int]:
    """`git merge-file` of the three texts, labelled as Copier labels: (text, conflicts)."""
    with tempfile.TemporaryDirectory(prefix="data-product-merge.") as folder:
        paths = [Path(folder, name) for name in ("users", "base", "templates")]
        for path, text in zip(paths, (users, base, templates), strict=True):
            path.write_text(text)
        labels = [option for label in MERGE_LABELS for option in ("-L", label)]
        result = subprocess.run(
            [git_executable(), "merge-file", "-p", *options, *labels, *map(str, paths)],
            capture_output=True,
            text=True,
            check=False,
        )
    if not 0 <= result.returncode < 128:
        raise RuntimeError(f"git merge-file failed: {result.stderr}")
    return result.stdout, result.returncode


def hunks(diff3: str) -> list[str | tuple[str, str, str]] | None:
    """`git merge-file --diff3` output as text and (users, base, templates) conflicts.

    None if the markers do not follow one another as they should.
    """
    start, middle, separator, end = (
        character * PARSE_MARKER_SIZE + label
        for character, label in (("<", f" {MERGE_LABELS[0]}"), ("|", f" {MERGE_LABELS[1]}"),
                                 ("=", ""), (">", f" {MERGE_LABELS[2]}"))
    )  # fmt: skip
    pieces: list[str | tuple[str, str, str]] = []
    sides: list[list[str]] = []
    for line in re.findall(r"[^\n]*\n|[^\n]+\Z", diff3):
        marker = line.rstrip("\r\n")
        if marker == start and not sides:
            sides = [[]]
        elif (len(sides), marker) in ((1, middle), (2, separator)):
            sides.append([])
        elif len(sides) == 3 and marker == end:
            users, base, templates = ("".join(side) for side in sides)
            pieces.append((users, base, templates))
            sides = []
        elif sides:
            sides[-1].append(line)
        else:
            pieces.append(line)
    return None if sides else pieces


def merge_words(users: str, base: str, templates: str) -> str | None:
    """Both sides' edits of one conflicting hunk, word by word; None where they touch."""
    base_words = WORD.findall(base)
    edits: list[tuple[int, int, list[str]]] = []
    for side in (users, templates):
        words = WORD.findall(side)
        matcher = difflib.SequenceMatcher(None, base_words, words, autojunk=False)
        edits += [
            (low, high, words[start:stop])
            for tag, low, high, start, stop in matcher.get_opcodes()
            if tag != "equal"
        ]
    edits.sort(key=lambda edit: (edit[0], edit[1]))
    kept: list[tuple[int, int, list[str]]] = []
    for edit in edits:
        if kept and edit == kept[-1]:
            continue  # The same edit on both sides.
        if kept and edit[0] <= kept[-1][1]:
            return None  # The two sides edited the same words, or words side by side.
        kept.append(edit)
    text: list[str] = []
    position = 0
    for low, high, words in kept:
        text += [*base_words[position:low], *words]
        position = high
    return "".join([*text, *base_words[position:]])


def conflict_block(users: str, base: str, templates: str) -> str:
    """Copier's inline markers around what the two sides differ in (not the base)."""
    del base
    ours, theirs = users.splitlines(keepends=True), templates.splitlines(keepends=True)
    head = 0
    while head < min(len(ours), len(theirs)) and ours[head] == theirs[head]:
        head += 1
    tail = 0
    while tail < min(len(ours), len(theirs)) - head and ours[-1 - tail] == theirs[-1 - tail]:
        tail += 1
    common_tail = ours[len(ours) - tail :]
    return "".join([
        *ours[:head],
        f"<<<<<<< {MERGE_LABELS[0]}\n", *ours[head : len(ours) - tail],
        "=======\n", *theirs[head : len(theirs) - tail],
        f">>>>>>> {MERGE_LABELS[2]}\n", *common_tail,
    ])  # fmt: skip


def keep_edited_files(context: Context, claimed: set[str]) -> list[str]:
    """Bring back the files the update deleted although the user had edited them.

    Copier deletes every file the new template version no longer renders, as generated or
    edited. One the user edited (it differs from the previous release's rendering) is put
    back as they committed it, and named: their edits are theirs to carry over. Paths a
    step took care of (`claimed`) are left to it.
    """
    listed = context.git(
        "diff", "--relative", "--no-renames", "--name-only", "--diff-filter=D", "-z", "HEAD"
    )
    deleted = sorted(set(filter(None, listed.stdout.split("\0"))) - claimed)
    if not deleted:
        return []
    base_root = context.previous_render()
    if base_root is None:
        return [
            f"could not tell which of the {len(deleted)} files this update deletes you edited: "
            "`git diff --stat HEAD` lists them, `git checkout HEAD -- <file>` brings one back"
        ]
    kept: list[str] = []
    for path in deleted:
        rendered = base_root / path
        if not rendered.is_file() or context.committed_bytes(path) == rendered.read_bytes():
            continue  # Not the template's file, or as generated: its deletion is the update.
        context.git("checkout", "HEAD", "--", path)
        kept.append(
            f"kept {path}, which you edited: the template no longer has it; move your edits "
            "to where that code now lives, then delete it"
        )
    return kept


def replace_runtime(context: Context, source: Path = TEMPLATE_ROOT / "runtime") -> str | None:
    """Make the project's runtime folder exactly this release's runtime: it is the template's
    code, replaced as a whole (a 3-way merge could leave edits or markers in it).

    A project that depends on a published release instead (no folder) is left alone. Files
    that differed from the release after the merge, the user's edits among them, are named:
    the last commit still holds them.
    """
    target = context.project / VENDORED_RUNTIME
    if not target.is_dir() or not source.is_dir():
        return None
    listed = subprocess.run(
        [git_executable(), "-C", str(source), "ls-files", "-z", "--cached", "--", "."],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wanted = sorted(filter(None, listed.stdout.split("\0"))) if listed.returncode == 0 else []
    if not wanted:  # Not a git checkout: every file but caches.
        wanted = sorted(
            str(path.relative_to(source)) for path in source.rglob("*")
            if path.is_file() and not any(part.startswith((".", "__pycache__")) for part in path.relative_to(source).parts)
        )  # fmt: skip
    differed = []
    for path in sorted(target.rglob("*")):
        name = str(path.relative_to(target))
        if path.is_file() and name not in wanted:
            path.unlink()
            differed.append(name)
    for name in wanted:
        new, old = (source / name).read_bytes(), target / name
        if not old.is_file() or old.read_bytes() != new:
            old.parent.mkdir(parents=True, exist_ok=True)
            old.write_bytes(new)
            if old.is_file() and context.committed_bytes(f"{VENDORED_RUNTIME}/{name}") is not None:
                differed.append(name)
    for folder in sorted((p for p in target.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not differed:
        return None
    return (
        f"replaced {len(differed)} file(s) of {VENDORED_RUNTIME} that differed from this "
        f"release's runtime after the merge ({', '.join(differed[:3])}"
        f"{', ...' if len(differed) > 3 else ''}): the runtime is the template's; the last "
        "commit holds the previous content"
    )


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
        due = selected(steps, stage, *versions)
        for step in due:
            outcome = step.apply(context)
            if outcome is not None:
                message = f"migration {step.version}: {outcome}"
                say(message)
                done.append(message)
        if stage == "after":
            claimed = {step.claimed(context) for step in due if isinstance(step, MoveFile)}
            outcomes = [
                *keep_edited_files(context, claimed),
                replace_runtime(context),
                relock(context),
            ]
            for outcome in outcomes:
                if outcome is not None:
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
