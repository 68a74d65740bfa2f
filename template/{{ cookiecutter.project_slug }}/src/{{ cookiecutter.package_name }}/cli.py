"""The project's command: the runtime's commands (train, evaluate, serve, score, ...) for
this project. Add a command of your own with ``@app.command()`` below."""

from data_product_runtime.cli import build_cli

from .project import PROJECT

app = build_cli(PROJECT)
