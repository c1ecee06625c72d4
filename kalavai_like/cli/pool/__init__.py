"""`kalavai-like pool ...`: one sub-app over five modules, each with its own `app` added here
as the root adds every sub-app: owner (find and create pools, join tokens), lifecycle (close,
open, delete), membership (start, join, pause, resume, stop), status (status, workers,
resources), members (remove-worker, ban, unban, bans, webhook) and dask_cmd (connect,
disconnect, run)."""

from __future__ import annotations

import typer

from kalavai_like.cli.pool import dask_cmd, lifecycle, members, membership, owner, status

app = typer.Typer(help="Find, create and join pools; hand out join tokens.", no_args_is_help=True)
app.add_typer(owner.app)
app.add_typer(lifecycle.app)
app.add_typer(membership.app)
app.add_typer(status.app)
app.add_typer(members.app)
app.add_typer(dask_cmd.app)
