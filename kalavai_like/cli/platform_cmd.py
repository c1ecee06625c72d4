"""`kalavai-like platform ...`: run the platform server."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Run the platform server (accounts, pools, tokens, credit).", no_args_is_help=True
)
