"""`kalavai-like pool list | create | token | tokens | revoke-token`: find and create pools,
and hand out join tokens (for owners). Also `parse_params`, `owned_pool`, the maxima options
and `trust_text`, which other pool commands use.
"""

from __future__ import annotations

import json as jsonlib
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt, PoolArg, PoolOpt, chosen_pool
from kalavai_like.client.account import logged_in
from kalavai_like.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from kalavai_like.client.platform import PlatformClient

app = typer.Typer()

TEMPLATES = ("dask", "boinc", "generic")


def parse_params(items: list[str]) -> dict[str, Any]:
    """`K=V` (string value) and `K:=JSON` (number, boolean, list...) pairs as a dict.

    Raises:
        InvalidInput: an item without '=' or with invalid JSON after ':='.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.rstrip(":"):
            raise InvalidInput("Invalid --param", f"{item!r}: use KEY=VALUE or KEY:=JSON.")
        if key.endswith(":"):
            try:
                params[key[:-1]] = jsonlib.loads(value)
            except ValueError:
                raise InvalidInput("Invalid --param", f"{item!r}: the value is not JSON.") from None
        else:
            params[key] = value
    return params


def owned_pool(client: PlatformClient, pool: str | None) -> dict[str, Any]:
    """The pool named by --pool, or the user's only pool.

    Raises:
        InvalidInput: no --pool and the user owns several pools (names them).
        NotFound: no such pool, or the user owns none.
    """
    if pool:
        return client.pool(pool)
    mine = client.pools("mine")
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise NotFound("You own no pools", "Create one: kalavai-like pool create NAME")
    names = ", ".join(sorted(p["name"] for p in mine))
    raise InvalidInput("Which pool?", f"You own {len(mine)} pools ({names}): add --pool NAME.")


@app.command("list")
def list_pools(json: JsonOpt = False) -> None:
    """List community (public) pools and your own."""
    with logged_in(context.home()) as client:
        community, mine = client.pools("community"), client.pools("mine")
    if json:
        console.emit_json({"community": community, "mine": mine})
        return
    mine_ids = {p["id"] for p in mine}
    rows = {p["id"]: p for p in [*mine, *community]}
    if not rows:
        console.note("No pools yet. Start one: kalavai-like pool create NAME", style="")
        return
    console.table(
        ["Name", "Template", "Owner", "Members", "Hub", "Visibility", "Credit", "Yours"],
        [
            (
                p["name"],
                p["template"],
                (p.get("owner") or {}).get("display", ""),
                p.get("members", 0),
                (p.get("hub") or {}).get("endpoint") or "not running yet",
                _visibility(p),
                trust_text(p),
                "yes" if p["id"] in mine_ids else "",
            )
            for p in sorted(rows.values(), key=lambda p: (p["id"] not in mine_ids, p["name"]))
        ],
    )


def _visibility(pool: dict[str, Any]) -> str:
    shown = "public" if pool.get("public") else "private"
    return f"{shown}, closed" if pool.get("closed") else shown


def trust_text(pool: dict[str, Any]) -> str:
    """What backs a pool's credit, as every listing says it."""
    if pool.get("witness", "none") == "none":
        return "credit unverified (no witness)"
    return "trusted" if pool.get("trusted") else "not trusted"


MaxCoresOpt = Annotated[
    int | None, typer.Option("--max-cores", min=1, help="Most cores one device may lend.")
]
MaxMemoryOpt = Annotated[
    str | None, typer.Option("--max-memory", help="Most memory one device may lend: 64g, 1t.")
]
MaxGpusOpt = Annotated[
    int | None, typer.Option("--max-gpus", min=0, help="Most GPUs one device may lend.")
]


def device_limits(cores: int | None, memory: str | None, gpus: int | None) -> dict[str, int]:
    """The maxima options given, as the platform's `device_limits` fields."""
    from kalavai_like.units import parse_size

    given = {"cores": cores, "memory_bytes": parse_size(memory) if memory else None, "gpus": gpus}
    return {k: v for k, v in given.items() if v is not None}


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Pool name, unique on the platform.")],
    template: Annotated[
        str, typer.Option("--template", help=f"Workload template: {', '.join(TEMPLATES)}.")
    ] = "dask",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Template parameter KEY=VALUE (or KEY:=JSON); repeat."),
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="List it on the community pools page.")
    ] = False,
    max_cores: MaxCoresOpt = None,
    max_memory: MaxMemoryOpt = None,
    max_gpus: MaxGpusOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create a pool that you own (devices may declare at most the platform's defaults unless
    you give --max-cores, --max-memory or --max-gpus)."""
    if template not in TEMPLATES:
        raise InvalidInput("Unknown template", f"{template!r}: use {', '.join(TEMPLATES)}.")
    params = parse_params(param or [])
    limits = device_limits(max_cores, max_memory, max_gpus)
    with logged_in(context.home()) as client:
        pool = client.create_pool(name, template, params, public, device_limits=limits)
    if json:
        console.emit_json(pool)
        return
    console.success(
        f"Created {'public' if pool['public'] else 'private'} pool '{pool['name']}' "
        f"({pool['template']}, subnet {pool['subnet']})."
    )
    console.note(f"Next: kalavai-like pool start {pool['name']}, then kalavai-like pool token")


@app.command()
def token(
    pool_name: PoolArg = None,
    pool: PoolOpt = None,
    uses: Annotated[int, typer.Option("--uses", min=1, help="How many machines may join.")] = 1,
    expires: Annotated[
        str, typer.Option("--expires", help="Valid for this long: 30m, 1h, 7d.")
    ] = "1h",
    label: Annotated[
        str | None, typer.Option("--label", help='Whom it is for, shown in the list: "for Ana".')
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Make a join token for one of your pools (printed once, on stdout)."""
    from kalavai_like.units import parse_duration

    expires_in = int(parse_duration(expires))
    with logged_in(context.home()) as client:
        chosen = owned_pool(client, chosen_pool(pool_name, pool))
        made = client.create_token(chosen["id"], uses, expires_in, label)
    command = f"kalavai-like pool join {made['token']}"
    if json:
        console.emit_json(
            {**made, "pool": {"id": chosen["id"], "name": chosen["name"]}, "join_command": command}
        )
        return
    console.raw(made["token"])
    times = "once" if made["uses"] == 1 else f"{made['uses']} times"
    console.note(
        f"Join token {made['id']}{_labelled(made)} for pool '{chosen['name']}': usable {times}, "
        f"until {console.when(made['expires_at'])}. Shown only now. To join, run on the "
        "volunteer's machine:",
        style="",
    )
    console.note(f"  {command}", style="bold")


@app.command()
def tokens(pool_name: PoolArg = None, pool: PoolOpt = None, json: JsonOpt = False) -> None:
    """List the join tokens of one of your pools (never the tokens themselves)."""
    with logged_in(context.home()) as client:
        chosen = owned_pool(client, chosen_pool(pool_name, pool))
        listed = client.tokens(chosen["id"])
    if json:
        console.emit_json(listed)
        return
    if not listed:
        console.note(f"No join tokens for '{chosen['name']}'. Make one: kalavai-like pool token")
        return
    console.table(
        ["ID", "Label", "Used", "Expires", "Status", "Created"],
        [
            (
                t["id"],
                t.get("label") or "",
                f"{t['used']}/{t['uses']}",
                console.when(t["expires_at"]),
                _status(t),
                console.when(t.get("created_at")),
            )
            for t in listed
        ],
        title=f"Join tokens of {chosen['name']}",
    )


def _status(t: dict[str, Any]) -> str:
    if t.get("revoked"):
        return "revoked"
    if t["used"] >= t["uses"]:
        return "used up"
    expires = datetime.fromisoformat(str(t["expires_at"]).replace("Z", "+00:00"))
    return "expired" if expires.timestamp() <= time.time() else "active"


def _labelled(t: dict[str, Any]) -> str:
    return f" ({t['label']})" if t.get("label") else ""


@app.command("revoke-token")
def revoke_token(
    token_key: Annotated[
        str, typer.Argument(metavar="ID_OR_LABEL", help="The token's id or label (pool tokens).")
    ],
    pool: PoolOpt = None,
) -> None:
    """Revoke a join token so nobody else can join with it. Safe to repeat."""
    with logged_in(context.home()) as client:
        pools = [owned_pool(client, pool)] if pool else client.pools("mine")
        found = [
            (candidate, t)
            for candidate in pools
            for t in client.tokens(candidate["id"])
            if token_key in (t["id"], t.get("label"))
        ]
        if not found:
            raise NotFound(
                "No such join token",
                f"None of your pools has a join token with id or label {token_key!r}.",
            )
        # An id wins; of several with the label, those not yet revoked.
        by_id = [(c, t) for c, t in found if t["id"] == token_key]
        live = [(c, t) for c, t in found if not t.get("revoked")]
        chosen = by_id or live or found
        if len(chosen) > 1:
            ids = ", ".join(f"{t['id']} (pool {c['name']})" for c, t in chosen)
            raise InvalidInput(
                "Several join tokens have that label",
                f"{len(chosen)} tokens are labelled {token_key!r}: {ids}. Revoke one by its id.",
            )
        candidate, match = chosen[0]
        shown = f"{match['id']}{_labelled(match)}"
        if match.get("revoked"):
            console.note(f"Join token {shown} was already revoked.", style="")
            return
        client.revoke_token(candidate["id"], match["id"])
        console.success(f"Revoked join token {shown} of pool '{candidate['name']}'.")
