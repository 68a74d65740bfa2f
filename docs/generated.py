"""MkDocs hook: the parts of the docs that are derived from the repository, at build time.

A page asks for one with a marker line, `<!-- generated: NAME -->`. The questions come from
copier.yml (through tests/answers.py, the loader the tests use), the files each answer
selects from the template's file names, the quick start from README.md, the migrations
from hooks/migrations.py, and the architecture's trees and import diagram from the modules'
docstrings and imports, so none of them is written twice. An unknown marker fails the build.

The hook also adds Mermaid to the site from its npm package (docs/assets/package.json), so
that diagrams render without a CDN.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "hooks")]

import migrations  # noqa: E402
from answers import PROJECT_TEMPLATE, asked_questions, choices  # noqa: E402

RUNTIME = ROOT / "runtime/src/data_product_runtime"
MERMAID = ROOT / "docs/assets/node_modules/mermaid/dist/mermaid.min.js"
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
        effect = cell(spec.get("help", ""))  # every answer is checked: the page says so once
        rows.append(
            f"| `{name}` | {effect} | {shown_default(spec)} | {shown_choices(spec)} "
            f"| {'<br>'.join(files.get(name, []))} |"
        )
    # In a block of its own, so that the site's stylesheet lays out this table alone.
    return '<div class="questions" markdown>\n\n' + "\n".join(rows) + "\n\n</div>"


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


def summary(path: Path) -> str:
    """The first sentence of a module's docstring (a package's: its __init__.py). Read as text:
    the template's modules are Jinja templates, not yet Python."""
    module = path / "__init__.py" if path.is_dir() else path
    docstring = re.match(r'\s*"""(.*?)"""', module.read_text(), re.DOTALL)
    if docstring is None:
        raise ValueError(f"{module.relative_to(ROOT)} has no docstring to describe it")
    first = " ".join(docstring.group(1).split("\n\n")[0].split())
    return (
        re.split(r"(?<=[a-z)`])\. ", first, maxsplit=1)[0]
        .rstrip(".")
        .replace("``", "`")
        .replace(":class:", "")
    )


def tree(root: str, entries: list[tuple[str, str]]) -> str:
    """A text tree of names with their summaries, aligned and wrapped at 96 columns."""
    width = max(len(name) for name, _ in entries) + 2
    lines = [f"{root}/"]
    for index, (name, text) in enumerate(entries):
        last = index == len(entries) - 1
        wrapped = textwrap.wrap(text, 96 - 4 - width, break_on_hyphens=False) or [""]
        lines.append(f"{'└── ' if last else '├── '}{name.ljust(width)}{wrapped[0]}".rstrip())
        lines += [f"{'    ' if last else '│   '}{' ' * width}{more}" for more in wrapped[1:]]
    return "```text\n" + "\n".join(lines) + "\n```"


def project_tree() -> str:
    """The generated project's package (default answers), one line per module."""
    package = ROOT / PROJECT_TEMPLATE / "src" / "{{ cookiecutter.package_name }}"
    modules: dict[str, Path] = {}
    for path in sorted(package.iterdir()):
        name = CONDITION.sub(r"\2", path.name)
        if name.endswith(".py"):
            modules.setdefault(name, path)
    order = ["project.py", "pipeline.py", "data.py", "settings.py", "cli.py"]
    names = sorted(modules, key=lambda name: (order.index(name) if name in order else 99, name))
    return tree("src/data_product", [(name, summary(modules[name])) for name in names])


def runtime_units() -> dict[str, Path]:
    """The runtime's layers (its subpackages) and its top-level modules."""
    return {
        path.name + ("/" if path.is_dir() else ""): path
        for path in sorted(RUNTIME.iterdir())
        if (path.is_dir() and (path / "__init__.py").is_file())
        or (path.suffix == ".py" and not path.name.startswith("_"))
    }


def runtime_tree() -> str:
    entries = []
    for name, path in runtime_units().items():
        modules = sorted(p.stem for p in path.glob("*.py") if p.name != "__init__.py")
        entries.append((name, summary(path) + (f" ({', '.join(modules)})" if modules else "")))
    return tree("data_product_runtime", entries)


def imported_units(path: Path) -> Iterator[str]:
    """The runtime units that a unit's modules import (absolute imports, as the runtime's are)."""
    units = {name.rstrip("/").removesuffix(".py"): name for name in runtime_units()}
    for module in [path] if path.is_file() else sorted(path.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] == "data_product_runtime" and len(parts) > 1 and parts[1] in units:
                    yield units[parts[1]]


def runtime_imports() -> str:
    """A Mermaid diagram of which runtime unit imports which, read from their code."""
    units = runtime_units()
    ids = {name: re.sub(r"\W", "_", name.rstrip("/")) for name in units}
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'    {ids[name]}["{name}"]' for name in units]
    for name, path in units.items():
        for target in sorted(set(imported_units(path)) - {name}):
            arrow = "-.->" if target.endswith(".py") else "-->"
            lines.append(f"    {ids[name]} {arrow} {ids[target]}")
    return "\n".join([*lines, "```"])


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """MkDocs event: Mermaid from its npm package, served by the site (no CDN)."""
    if not MERMAID.is_file():
        missing = MERMAID.relative_to(ROOT)
        raise PluginError(f"{missing} is missing: run `npm ci --prefix docs/assets`")
    files.append(File.generated(config, "assets/mermaid.min.js", abs_src_path=str(MERMAID)))
    return files


GENERATORS: dict[str, Callable[[], str]] = {
    "questions": questions_table,
    "project-tree": project_tree,
    "runtime-tree": runtime_tree,
    "runtime-imports": runtime_imports,
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
