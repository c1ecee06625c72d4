"""`kalavai-like pool remove-worker | ban | unban | bans | webhook`: a pool owner's tools over
its members. A removed worker leaves at once and its agent cleans up at its next heartbeat; a
banned user's devices are removed and they can redeem none of the pool's join tokens; the
webhook hears the notices `pool workers` shows (a worker offline, claims above its witness)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt, PoolArg, PoolOpt, chosen_pool
from kalavai_like.cli.pool.owner import owned_pool
from kalavai_like.client.account import logged_in
from kalavai_like.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from kalavai_like.client.platform import PlatformClient

app = typer.Typer()
WorkerArg = Annotated[
    str | None,
    typer.Argument(
        metavar="WORKER", help="The worker's name or id (pool workers).", show_default=False
    ),
]


def _shifted(pool_name: str | None, key: str | None, what: str) -> tuple[str | None, str]:
    """`[POOL] KEY`: with one word given, it is KEY (the pool is then your only one)."""
    if key is None:
        if pool_name is None:  # exit 2: what Typer says of a command line it refused (-> 64)
            console.note(f"Error: Missing argument '{what}'.", style="")
            raise typer.Exit(2)
        return None, pool_name
    return pool_name, key


def _find_worker(
    client: PlatformClient, pool: str | None, key: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pool and its current worker named or numbered `key`: in --pool, else in any pool
    you own.

    Raises:
        NotFound: no such worker. InvalidInput: several workers by that name (lists their ids).
    """
    pools = [owned_pool(client, pool)] if pool else client.pools("mine")
    found = [
        (p, d)
        for p in pools
        for d in client.request("GET", f"/pools/{p['id']}/devices")
        if d.get("role") == "worker" and not d.get("left_at") and key in (d["id"], d["name"])
    ]
    if not found:
        raise NotFound("No such worker", f"None of your pools has a worker {key!r} (pool workers).")
    if len(found) > 1:
        ids = ", ".join(f"{d['id']} (pool {p['name']})" for p, d in found)
        raise InvalidInput("Several workers have that name", f"Name one by its id: {ids}.")
    return found[0]


@app.command("remove-worker")
def remove_worker(
    pool_name: PoolArg = None, worker: WorkerArg = None, pool: PoolOpt = None
) -> None:
    """Remove a worker from one of your pools: it leaves now, and its agent removes its worker
    and network at its next heartbeat. It may join again with a new token (unless banned)."""
    pool_name, key = _shifted(pool_name, worker, "WORKER")
    with logged_in(context.home()) as client:
        p, d = _find_worker(client, chosen_pool(pool_name, pool), key)
        client.request("DELETE", f"/pools/{p['id']}/devices/{d['id']}")
    console.success(f"Removed worker {d['name']} ({d['id']}) from pool '{p['name']}'.")
    console.note("Its agent cleans up at its next heartbeat.", style="")


UserArg = Annotated[
    str | None,
    typer.Argument(
        metavar="USER",
        help="The user's id, or the name or id of one of their workers.",
        show_default=False,
    ),
]


def _user_id(client: PlatformClient, p: dict[str, Any], key: str) -> str:
    """The user `key` names: a user id, or the user of a worker of pool `p` with that name."""
    devices = client.request("GET", f"/pools/{p['id']}/devices")
    users = {d["user"]["id"] for d in devices if key in (d["id"], d["name"]) and d.get("user")}
    if len(users) == 1:
        return str(users.pop())
    if len(key) == 32 and all(c in "0123456789abcdef" for c in key):
        return key
    raise NotFound(
        "No such user", f"{key!r} is no user id and no worker of pool '{p['name']}' (pool workers)."
    )


@app.command()
def ban(pool_name: PoolArg = None, user: UserArg = None, pool: PoolOpt = None) -> None:
    """Ban a user from one of your pools: their workers in it are removed and they cannot join
    it again until you unban them."""
    pool_name, key = _shifted(pool_name, user, "USER")
    with logged_in(context.home()) as client:
        p = owned_pool(client, chosen_pool(pool_name, pool))
        user_id = _user_id(client, p, key)
        done = client.request("PUT", f"/pools/{p['id']}/bans/{user_id}")
    removed = done.get("devices_removed", 0)
    console.success(
        f"Banned user {user_id} from pool '{p['name']}'"
        + (f"; {removed} of their workers removed." if removed else ".")
    )


@app.command()
def unban(pool_name: PoolArg = None, user: UserArg = None, pool: PoolOpt = None) -> None:
    """Let a banned user join one of your pools again (with a new join token). Safe to repeat."""
    pool_name, key = _shifted(pool_name, user, "USER")
    with logged_in(context.home()) as client:
        p = owned_pool(client, chosen_pool(pool_name, pool))
        user_id = _user_id(client, p, key)
        client.request("DELETE", f"/pools/{p['id']}/bans/{user_id}")
    console.success(f"User {user_id} may join pool '{p['name']}' again.")


@app.command()
def bans(pool_name: PoolArg = None, pool: PoolOpt = None, json: JsonOpt = False) -> None:
    """List the users banned from one of your pools."""
    with logged_in(context.home()) as client:
        p = owned_pool(client, chosen_pool(pool_name, pool))
        listed = client.request("GET", f"/pools/{p['id']}/bans")
    if json:
        console.emit_json(listed)
    elif not listed:
        console.note(f"Nobody is banned from pool '{p['name']}'.", style="")
    else:
        rows = [(b["user_id"], console.when(b["created_at"])) for b in listed]
        console.table(["User", "Banned"], rows, title=f"Banned from {p['name']}")


@app.command()
def webhook(
    pool_name: PoolArg = None,
    pool: PoolOpt = None,
    set_url: Annotated[
        str | None,
        typer.Option("--set", metavar="URL", help="POST the pool's notices (JSON) to this URL."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Send no more notices.")] = False,
    json: JsonOpt = False,
) -> None:
    """Show or set where the platform POSTs your pool's notices: worker_offline and
    claims_above_witness events, as small JSON bodies."""
    if set_url and clear:
        raise InvalidInput("Two changes asked", "Give --set URL or --clear, not both.")
    with logged_in(context.home()) as client:
        p = owned_pool(client, chosen_pool(pool_name, pool))
        path = f"/pools/{p['id']}/webhook"
        changed = set_url is not None or clear
        out = client.request("PUT", path, json={"url": set_url}) if changed else None
        out = out or client.request("GET", path)
    if json:
        console.emit_json(out)
    elif out.get("url"):
        console.success(f"Pool '{p['name']}' notices go to {out['url']}.")
    else:
        console.note(f"Pool '{p['name']}' has no webhook.", style="")
