"""`kalavai-like join-link URL`: what the web's "Open in app" link runs (the desktop entry
hands it to the tray; this is the same for a terminal). The link names a pool, not a token:
the CLI asks the platform for a fresh token with your login and joins with it, so the token is
never on a command line or in a log."""

from __future__ import annotations

from typing import Annotated

import typer

from kalavai_like.cli import context
from kalavai_like.cli.options import JsonOpt, StartAgentOpt
from kalavai_like.cli.pool.membership import (
    CpusOpt,
    GpusOpt,
    JoinOptions,
    MemoryOpt,
    NameOpt,
    run_join,
)
from kalavai_like.client import links
from kalavai_like.client.account import logged_in
from kalavai_like.errors import InvalidInput

app = typer.Typer()


@app.command("join-link")
def join_link(
    url: Annotated[str, typer.Argument(metavar="URL", help="A kalavai-like://join?… link.")],
    cpus: CpusOpt = None,
    memory: MemoryOpt = None,
    gpus: GpusOpt = None,
    name: NameOpt = "",
    start_agent: StartAgentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Join the pool an "Open in app" link names, with a fresh token of your own."""
    link = links.parse(url)
    home = context.home()
    if link.platform != home.platform.rstrip("/"):
        raise InvalidInput(
            "Link for another platform",
            f"This link is for {link.platform}; you use {home.platform}. "
            f"Log in there first: kalavai-like login --platform {link.platform}",
        )
    with logged_in(home) as client:
        made = client.join_token(link.pool_id)
    run_join(str(made["token"]), JoinOptions(cpus, memory, gpus, None, name), start_agent, json)
