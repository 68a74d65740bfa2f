"""The documentation's generated sections (docs/generated.py) follow the repository."""

from __future__ import annotations

import pytest

import generated
from answers import asked_questions


def test_the_questions_table_has_every_question_and_what_it_decides() -> None:
    table = generated.questions_table()
    for name in asked_questions():
        assert f"| `{name}` |" in table, name
    assert "`.github/workflows/template-update.yml` if `ci == 'github'`" in table
    assert "`Dockerfile` if `docker`" in table


def test_the_quick_start_is_the_readmes() -> None:
    section = generated.readme_section("Two commands")
    assert "copier copy --trust --defaults" in section
    assert "## " not in section


def test_markers_expand_and_an_unknown_one_fails_the_build() -> None:
    page = "intro\n<!-- generated: migrations -->\nend\n"
    assert generated.expand(page) == f"intro\n{generated.migrations_list()}\nend\n"
    with pytest.raises(ValueError, match="unknown generated section 'question'"):
        generated.expand("<!-- generated: question -->\n")


def test_the_architecture_trees_are_read_from_the_modules() -> None:
    project = generated.project_tree()
    for module in ("project.py", "pipeline.py", "data.py", "settings.py", "cli.py"):
        assert f" {module} " in project, module
    runtime = generated.runtime_tree()
    assert all(f" {unit} " in runtime for unit in generated.runtime_units())
    assert "cli/" in runtime
    assert max(map(len, runtime.splitlines())) <= 96


def test_the_import_diagram_is_the_runtimes_layering() -> None:
    """Imports point down: core imports no other unit, and no two units import each other."""
    units = generated.runtime_units()
    imports = {name: set(generated.imported_units(path)) - {name} for name, path in units.items()}
    assert imports["core/"] == set()
    assert {"jobs/", "service/"} <= imports["cli/"]
    assert not [(a, b) for a in imports for b in imports[a] if a in imports[b]]
    diagram = generated.runtime_imports()
    assert diagram.count(" --> ") + diagram.count(" -.-> ") == sum(map(len, imports.values()))
