"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}"""

from importlib.metadata import version

__version__ = version("{{ cookiecutter.project_slug }}")
