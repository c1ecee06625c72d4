"""`kalavai-like agent`: run the node agent in the foreground (as a service does).

It execs `python -m kalavai_like.agent`, so the long-running daemon does not carry the CLI's
libraries (Typer, rich) in its memory.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from kalavai_like.cli import console, context

app = typer.Typer()


@app.command()
def agent(
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", help="Name prefix of namespaces, interfaces and containers."),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Serve Prometheus /metrics: a port (on loopback) or HOST:PORT. "
            "Default: [agent] metrics in settings, else off.",
        ),
    ] = None,
    join_from_env: Annotated[
        bool,
        typer.Option(
            "--join-from-env",
            help="Headless: join the pool of KALAVAI_LIKE_TOKEN with KALAVAI_LIKE_ACCOUNT_KEY "
            "(or *_FILE) once, never redeeming it again; /metrics on "
            "(kalavai_like.agent.headless).",
        ),
    ] = False,
) -> None:
    """Run the node agent (root): the LocalAPI, the overlay, the worker and its accounting."""
    from kalavai_like.client.local import listen_path, log_path

    home = context.home()
    console.note(f"Agent listening on {listen_path(home.paths)}; log in {log_path(home.paths)}")
    module = "kalavai_like.agent.headless" if join_from_env else "kalavai_like.agent"
    argv = [sys.executable, "-m", module]
    if home.paths.home is not None:
        argv += ["--home", str(home.paths.home)]
    if prefix:
        argv += ["--prefix", prefix]
    if metrics:
        argv += ["--metrics", metrics]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter and module)
