"""`kalavai-like pool close | open | limits | delete`: a pool owner stops new members (or lets
them in again), sets the most one device may declare, or deletes the pool for good (its devices
leave on their next heartbeat)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.cli.pool.owner import MaxCoresOpt, MaxGpusOpt, MaxMemoryOpt, device_limits
from kalavai_like.client.account import logged_in
from kalavai_like.errors import InvalidInput

app = typer.Typer()
OwnPoolArg = Annotated[str, typer.Argument(metavar="NAME", help="One of your pools (name or id).")]


def _set_closed(name: str, closed: bool, json: bool) -> None:
    word = "closed to new members" if closed else "open to new members"
    with logged_in(context.home()) as client:
        before = client.pool(name)
        pool = before if before.get("closed") == closed else client.set_pool_closed(name, closed)
    if json:
        console.emit_json(pool)
    elif before.get("closed") == closed:
        console.note(f"Pool '{pool['name']}' was already {word}.", style="")
    else:
        console.success(f"Pool '{pool['name']}' is now {word}.")


@app.command()
def close(name: OwnPoolArg, json: JsonOpt = False) -> None:
    """Close one of your pools to new members (its devices stay). Safe to repeat."""
    _set_closed(name, True, json)


@app.command("open")
def open_(name: OwnPoolArg, json: JsonOpt = False) -> None:
    """Open one of your pools to new members again. Safe to repeat."""
    _set_closed(name, False, json)


def _maxima_text(limits: dict[str, Any]) -> str:
    from kalavai_like.units import format_size

    gpus = limits["gpus"]
    return (
        f"{limits['cores']} core{'' if limits['cores'] == 1 else 's'}, "
        f"{format_size(limits['memory_bytes'])} of memory, {gpus} GPU{'' if gpus == 1 else 's'}"
    )


@app.command()
def limits(
    name: OwnPoolArg,
    max_cores: MaxCoresOpt = None,
    max_memory: MaxMemoryOpt = None,
    max_gpus: MaxGpusOpt = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Back to the platform's defaults, all three.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Show the most one device may declare to join a pool; the owner changes it with the
    options (devices already in the pool stay)."""
    changes: dict[str, int | None] = {"cores": None, "memory_bytes": None, "gpus": None}
    if not reset:
        changes = dict(device_limits(max_cores, max_memory, max_gpus))
    with logged_in(context.home()) as client:
        pool = client.pool(name)
        shown = client.device_limits(pool["id"], changes)
    if json:
        console.emit_json(shown)
        return
    verb = "now accepts" if changes else "accepts"
    console.data(f"Pool '{pool['name']}' {verb} devices of at most {_maxima_text(shown)}.")
    console.note(f"Platform defaults: {_maxima_text(shown['platform_default'])}.", style="")


@app.command()
def delete(
    name: OwnPoolArg,
    yes: Annotated[
        bool, typer.Option("--yes", help="Really delete: there is no undo.", show_default=False)
    ] = False,
) -> None:
    """Delete one of your pools: every device leaves it and its join tokens stop working."""
    with logged_in(context.home()) as client:
        pool = client.pool(name)
        if not yes:
            raise InvalidInput(
                "Not deleted: confirm with --yes",
                f"Deleting pool '{pool['name']}' makes its {pool.get('members', 0)} worker(s) "
                "and its hub leave, and voids its join tokens; there is no undo. Run "
                f"kalavai-like pool delete {pool['name']} --yes",
            )
        client.delete_pool(pool["id"])
    console.success(
        f"Deleted pool '{pool['name']}'. Its devices leave at their next heartbeat; the name "
        "is free again."
    )
