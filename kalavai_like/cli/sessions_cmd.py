"""`kalavai-like sessions [revoke ID]`: where you are logged in, and logging a session out
from here (a lost laptop, a browser you forgot). Account keys are `account-key`."""

from __future__ import annotations

from typing import Annotated

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.client.account import logged_in
from kalavai_like.errors import InvalidInput

app = typer.Typer(help="Where you are logged in (CLI, tray, browsers); log one out.")


@app.callback(invoke_without_command=True)
def sessions(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List your log-in sessions; each ends after a while unused."""
    if ctx.invoked_subcommand is not None:
        return
    with logged_in(context.home()) as client:
        listed = client.sessions()
    if json:
        console.emit_json(listed)
        return
    console.table(
        ["ID", "Kind", "From", "Client", "Last used", "Ends unless used", ""],
        [
            (
                s["id"],
                "browser" if s.get("kind") == "web" else "CLI or app",
                s.get("client_address") or "",
                s.get("user_agent") or "",
                console.when(s.get("last_used_at")),
                console.when(s.get("expires_at")),
                "this one" if s.get("current") else "",
            )
            for s in listed
        ],
    )


@app.command()
def revoke(
    session_id: Annotated[str, typer.Argument(metavar="ID", help="The session's id.")],
) -> None:
    """Log one of your sessions out, wherever it is. Safe to repeat."""
    with logged_in(context.home()) as client:
        if any(s["id"] == session_id and s.get("current") for s in client.sessions()):
            raise InvalidInput(
                "That is this session", "To log this CLI out, run: kalavai-like logout"
            )
        client.revoke_session(session_id)
    console.success(f"Session {session_id} is logged out.")
