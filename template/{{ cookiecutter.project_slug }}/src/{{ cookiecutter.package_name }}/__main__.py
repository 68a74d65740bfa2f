"""``python -m <package>`` runs the project's command line."""

from .cli import app
from .project import PROJECT

app(prog_name=PROJECT.name)
