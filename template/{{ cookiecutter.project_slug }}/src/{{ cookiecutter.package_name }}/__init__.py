"""The project's own code: its pipeline, data, settings and command line (see project.py)."""

from importlib.metadata import version

__version__ = version("{{ cookiecutter.project_slug }}")
