"""The ``{{ cookiecutter.project_slug }}`` command: the runtime's commands for this project.

Add a command of your own with ``@app.command()`` below.
"""

from data_product_runtime.cli import build_cli
from {{ cookiecutter.package_name }}.project import PROJECT

app = build_cli(PROJECT)
