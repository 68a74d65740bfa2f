"""Cookiecutter and cruft only: copier.yml's validators judge the answers before any file is
written (Copier runs them itself while it asks). A refused answer stops the generation with
the validator's message, and cookiecutter removes the half-made folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Cookiecutter renders this file with Jinja before running it; both values come from there.
TEMPLATE_ROOT = r"{{ template_root }}"
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

sys.path.insert(0, str(Path(TEMPLATE_ROOT) / "hooks"))
from template_questions import validation_errors  # noqa: E402

if errors := validation_errors({k: v for k, v in ANSWERS.items() if not k.startswith("_")}):
    print("data-product-template: these answers cannot make a project:", file=sys.stderr)
    for error in errors:
        print(f"  {error}", file=sys.stderr)
    sys.exit(1)
