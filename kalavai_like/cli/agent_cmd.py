"""`kalavai-like agent`: run the node agent in the foreground (as a service does)."""

from __future__ import annotations

from typing import Annotated

import typer

from kalavai_like.cli import console, context


def agent(
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", help="Name prefix of namespaces, interfaces and containers."),
    ] = None,
) -> None:
    """Run the node agent (root): the LocalAPI, the overlay, the worker and its accounting."""
    from kalavai_like.agent.daemon import run_agent
    from kalavai_like.agent.store import log_path, socket_path

    home = context.home()
    overrides = {"prefix": prefix} if prefix else {}
    console.note(f"Agent listening on {socket_path(home.paths)}; log in {log_path(home.paths)}")
    run_agent(home.paths, home.settings, **overrides)


def register(app: typer.Typer) -> None:
    """Add `agent` to the root app."""
    app.command("agent")(agent)
