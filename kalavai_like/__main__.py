"""`python -m kalavai_like` runs the CLI."""

from kalavai_like.cli.main import run

run()
