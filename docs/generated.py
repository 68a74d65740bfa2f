"""MkDocs hook: the parts of the docs that are derived from the repository, at build time.

A page asks for one with a marker line, `<!-- generated: NAME -->`. The questions come from
copier.yml (through tests/answers.py, the loader the tests use), the files each answer
selects from the template's file names, the quick start from README.md and the migrations
from hooks/migrations.py, so none of them is written twice. An unknown marker fails the build.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "hooks")]

import migrations  # noqa: E402
from answers import PROJECT_TEMPLATE, asked_questions, choices  # noqa: E402

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
CONDITION = re.compile(r"\{%-?\s*if\s+(.+?)\s*-?%\}(.*?)\{%-?\s*endif\s*-?%\}")


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def shown_default(spec: dict[str, Any]) -> str:
    default = spec.get("default")
    if isinstance(default, str) and "{{" in default:
        return "computed from the answers above"
    if isinstance(default, bool):
        return "yes" if default else "no"
    return f"`{default}`" if default not in (None, "") else ""


def shown_choices(spec: dict[str, Any]) -> str:
    options = spec.get("choices")
    if spec.get("type") == "bool":
        return "yes, no"
    if isinstance(options, dict):
        return "<br>".join(f"`{value}`: {cell(label)}" for label, value in options.items())
    return ", ".join(f"`{value}`" for value in choices(spec)) if options else ""


def conditional_files() -> dict[str, list[str]]:
    """Each question -> the generated paths whose presence its answer decides."""
    found: dict[str, list[str]] = {}
    template = ROOT / PROJECT_TEMPLATE
    for path in sorted(template.rglob("*")):
        relative = path.relative_to(template).as_posix()
        for condition, _ in CONDITION.findall(relative):
            shown = CONDITION.sub(r"\2", relative)
            shown = shown.replace("{{ cookiecutter.package_name }}", "<package>")
            for name in asked_questions():
                if re.search(rf"\b{name}\b", condition) and path.is_file():
                    shown_condition = condition.replace("cookiecutter.", "")
                    found.setdefault(name, []).append(f"`{shown}` if `{shown_condition}`")
    return found


def questions_table() -> str:
    files = conditional_files()
    rows = [
        "| question | what it sets | default | choices | files it decides |",
        "|---|---|---|---|---|",
    ]
    for name, spec in asked_questions().items():
        effect = cell(spec.get("help", ""))
        if spec.get("validator"):
            effect += " (checked when given)"
        rows.append(
            f"| `{name}` | {effect} | {shown_default(spec)} | {shown_choices(spec)} "
            f"| {'<br>'.join(files.get(name, []))} |"
        )
    return "\n".join(rows)


def readme_section(title: str) -> str:
    """A level-2 section of README.md, without its heading."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError(f"README.md has no section '## {title}'")
    return match.group(1).strip()


def migrations_list() -> str:
    if not migrations.STEPS:
        return "No release has needed a migration yet."
    return "\n".join(
        f"- **{step.version}**: {step.describe()} ({step.stage} the merge)"
        for step in migrations.STEPS
    )


GENERATORS: dict[str, Callable[[], str]] = {
    "questions": questions_table,
    "two-commands": lambda: readme_section("Two commands"),
    "migrations": migrations_list,
}


def expand(markdown: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"unknown generated section '{name}': known are {sorted(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs event: expand the markers of every page."""
    return expand(markdown)
