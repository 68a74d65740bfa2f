"""``python -m {{ cookiecutter.package_name }}`` runs the command line."""

from {{ cookiecutter.package_name }}.cli import app

app(prog_name="{{ cookiecutter.project_slug }}")
