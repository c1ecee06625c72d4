"""`kalavai-like operator pools | trust | untrust | users | suspend | unsuspend`: what the
platform's operator does, logged in as an operator (the role is given on the server:
`kalavai-like platform operator add EMAIL`)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.cli.pool.owner import trust_text
from kalavai_like.client.account import logged_in

app = typer.Typer(
    help="For the platform's operator: trust pools, suspend users.", no_args_is_help=True
)
PoolArg = Annotated[str, typer.Argument(metavar="POOL", help="The pool's name or id.")]
EmailArg = Annotated[str, typer.Argument(metavar="EMAIL", help="The account's email.")]


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    with logged_in(context.home()) as client:
        return client.request(method, "/operator" + path, json=body)


@app.command()
def pools(json: JsonOpt = False) -> None:
    """Every pool on the platform, public and private, with its owner and trust state."""
    listed = _call("GET", "/pools")
    if json:
        console.emit_json(listed)
        return
    console.table(
        ["Name", "Owner", "Template", "Visibility", "Members", "Credit"],
        [
            (p["name"], p["owner"]["email"], p["template"],
             "public" if p["public"] else "private", p["members"], trust_text(p))
            for p in listed
        ],
    )  # fmt: skip


def _trust(pool: str, trusted: bool, json: bool) -> None:
    verb = "trust" if trusted else "untrust"
    done = _call("POST", f"/pools/{quote(pool, safe='')}/{verb}")
    if json:
        console.emit_json(done)
        return
    name, word = done["pool"]["name"], "trusted" if trusted else "not trusted"
    if done["changed"]:
        console.success(f"Pool '{name}' is now {word}.")
    else:
        console.note(f"Pool '{name}' was already {word}.", style="")
    if done["pool"]["witness"] == "none":
        console.warn(f"Pool '{name}' has no witness: its credit stays unverified.")


@app.command()
def trust(pool: PoolArg, json: JsonOpt = False) -> None:
    """Trust a pool: the work its head witnesses counts on the leaderboard. Safe to repeat."""
    _trust(pool, True, json)


@app.command()
def untrust(pool: PoolArg, json: JsonOpt = False) -> None:
    """Trust a pool no more: its witness counts inside the pool only. Safe to repeat."""
    _trust(pool, False, json)


@app.command()
def users(json: JsonOpt = False) -> None:
    """The operators and the suspended users."""
    listed = _call("GET", "/users")
    if json:
        console.emit_json(listed)
        return
    console.table(
        ["Email", "Operator", "Suspended since"],
        [(u["email"], "yes" if u["operator"] else "", console.when(u["suspended_at"]))
         for u in listed],
    )  # fmt: skip


def _suspend(email: str, suspend: bool, json: bool) -> None:
    done = _call("POST", "/users/suspend" if suspend else "/users/unsuspend", {"email": email})
    if json:
        console.emit_json(done)
        return
    who, word = done["user"]["email"], "suspended" if suspend else "not suspended"
    if not done["changed"]:
        console.note(f"{who} was already {word}.", style="")
    elif suspend:
        console.success(f"Suspended {who}: their sessions and keys stop working now.")
    else:
        console.success(f"{who} is no longer suspended.")


@app.command()
def suspend(email: EmailArg, json: JsonOpt = False) -> None:
    """Suspend a user: no log-in, no enrolment, no credit for their devices. Safe to repeat."""
    _suspend(email, True, json)


@app.command()
def unsuspend(email: EmailArg, json: JsonOpt = False) -> None:
    """Lift a user's suspension. Safe to repeat."""
    _suspend(email, False, json)
