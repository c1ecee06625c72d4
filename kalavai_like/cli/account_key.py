"""`kalavai-like account-key create | list | revoke`: keys for headless machines.

An account key (`kla_...`) can only redeem join tokens for your account, so a homelab box can
join pools without holding your API token.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.client.account import logged_in

app = typer.Typer(
    help="Keys that let headless machines join pools as you (and do nothing else).",
    no_args_is_help=True,
)


@app.command()
def create(
    name: Annotated[
        str,
        typer.Argument(help="A name you will recognise, e.g. the host name (one per live key)."),
    ],
    json: JsonOpt = False,
) -> None:
    """Create an account key; it is shown once."""
    with logged_in(context.home()) as client:
        key = client.create_account_key(name)
    if json:
        console.emit_json(key)
        return
    console.raw(key["key"])
    console.note(
        f"Account key '{key['name']}' (id {key['id']}). This is the only time it is shown: "
        "store it on the headless machine. It can only join pools as you. Revoke it with: "
        f"kalavai-like account-key revoke '{key['name']}'"
    )


@app.command("list")
def list_keys(json: JsonOpt = False) -> None:
    """List your account keys (never the keys themselves)."""
    with logged_in(context.home()) as client:
        keys = client.account_keys()
    if json:
        console.emit_json(keys)
        return
    if not keys:
        console.note("No account keys. Create one: kalavai-like account-key create NAME", style="")
        return
    console.table(
        ["ID", "Name", "Created", "Last used", "Revoked"],
        [
            (
                k["id"],
                k["name"],
                console.when(k.get("created_at")),
                console.when(k.get("last_used_at")) or "never",
                "yes" if k.get("revoked") else "",
            )
            for k in keys
        ],
    )


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(metavar="NAME", help="The key's name (or its id).")],
) -> None:
    """Revoke an account key, by name (or id). Safe to repeat."""
    with logged_in(context.home()) as client:
        keys = client.account_keys()
        live = [k for k in keys if key in (k["id"], k["name"]) and not k.get("revoked")]
        if not live and any(key in (k["id"], k["name"]) for k in keys):
            console.note(f"Account key {key!r} was already revoked.", style="")
            return
        client.revoke_account_key(key)
    console.success(f"Revoked account key {key!r}.")
