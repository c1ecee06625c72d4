"""`kalavai-like token check`, and `read_token`, the one way commands take a join token.

A TOKEN argument is the token itself, `-` to read it from stdin, or `@PATH` to read it from a
file (the first non-empty line). Prefer `-` or `@PATH`: an argument shows in `ps` and in the
shell history. Tokens are redacted in everything printed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.client.account import platform_client
from kalavai_like.errors import InvalidInput, SystemProblem, TokenError

ARG_HELP = (
    "The join token, '-' to read it from stdin, or '@PATH' to read it from a file. "
    "Prefer '-' or '@PATH': arguments show in `ps` and in your shell history."
)
app = typer.Typer(help="Inspect join tokens.", no_args_is_help=True)


def read_token(value: str) -> str:
    """The token text that a TOKEN argument stands for (itself, '-' for stdin, '@PATH').

    Raises:
        InvalidInput: stdin is empty, or the file cannot be read or is empty.
    """
    if value == "-":
        text, source = sys.stdin.read(65536), "stdin"
    elif value.startswith("@"):
        path = Path(value[1:]).expanduser()
        source = str(path)
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                text = f.read(65536)
        except OSError as exc:
            raise InvalidInput(
                "Cannot read the token file", f"{path}: {exc.strerror or exc}."
            ) from None
    else:
        return value.strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    raise InvalidInput("No token found", f"{source} is empty: paste the whole join token.")


def _offline(text: str, platform: str | None) -> dict[str, Any]:
    from kalavai_like import tokens

    token = tokens.validate(text, now=time.time(), platform=platform)
    return token.describe()


@app.command()
def check(
    token: Annotated[str, typer.Argument(metavar="TOKEN|-|@PATH", help=ARG_HELP)],
    json: JsonOpt = False,
) -> None:
    """Check a join token: offline (shape, checksum, expiry, platform), then with the platform
    when you are logged in. Exits non-zero when the token cannot be used."""
    from kalavai_like.client.account import token_in_env
    from kalavai_like.tokens import redact

    text = read_token(token)
    home = context.home()
    account = home.account
    logged_into = account.platform if account else (home.platform if token_in_env() else None)
    credential: str | None = None
    problem = ""
    if logged_into:
        try:
            credential = home.token()
        except SystemProblem as exc:
            problem = f"{exc.title}: server-side status not checked."
    # Offline first: a token for another platform is never sent anywhere.
    offline = _offline(text, logged_into)
    server: dict[str, Any] | None = None
    if credential:
        with platform_client(home, logged_into, credential) as client:
            server = client.check_token(text)
    result = {"token": redact(text), "offline": offline, "server": server}
    if json:
        console.emit_json(result)
    else:
        _show(result, logged_into, problem)
    if server is not None and server.get("status") != "valid":
        raise _server_error(str(server.get("status")), offline["pool_name"])


def _show(result: dict[str, Any], platform: str | None, problem: str) -> None:
    offline, server = result["offline"], result["server"]
    rows = [
        ("Token", result["token"]),
        ("Pool", f"{offline['pool_name']} ({offline['pool_id']})"),
        ("Platform", offline["platform"]),
        ("Expires", console.when(offline["expires_at"])),
        ("Offline check", "ok" + ("" if platform else " (platform not checked: not logged in)")),
    ]
    if server is not None:
        uses = f"{server.get('used')} of {server.get('uses')} uses claimed"
        rows.append(("Platform says", f"{server.get('status')}, {uses}"))
    console.pairs(rows)
    if problem:
        console.warn(problem)
    elif server is None:
        console.note("Log in to also ask the platform whether it is used up or revoked.")


def _server_error(status: str, pool: str) -> TokenError:
    what = {
        "used_up": ("Join token used up", "Every use of this token has been claimed."),
        "revoked": ("Join token revoked", "The pool owner revoked this token."),
        "expired": ("Join token expired", "The platform says this token has expired."),
        "unknown": ("Unknown join token", "The platform does not know this token."),
    }.get(status, ("Join token not usable", f"The platform says: {status}."))
    return TokenError(
        status if status in ("used_up", "revoked", "expired", "unknown") else "unknown",
        what[0],
        f"{what[1]} Ask the owner of pool '{pool}' for a new one.",
    )
