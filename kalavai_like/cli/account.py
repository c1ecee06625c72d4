"""`kalavai-like signup | login | logout | whoami`: the user's platform account (its settings
are `account`: kalavai_like.cli.account_cmd)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.client.account import logged_in
from kalavai_like.errors import InvalidInput

app = typer.Typer()

PlatformOpt = Annotated[
    str | None,
    typer.Option(
        "--platform",
        help="Platform URL (default: the one you are logged into, else platform.url in the "
        "settings).",
        envvar="KALAVAI_LIKE_PLATFORM",
        show_default=False,
    ),
]
EmailOpt = Annotated[
    str | None, typer.Option("--email", help="Account email (prompted for if missing).")
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of stdin (it is never taken as an "
        "argument, which would show in `ps`).",
    ),
]


def _password(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput("No password on stdin", "Pipe the password into --password-stdin.")
        return line.rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


def _email(email: str | None) -> str:
    return email if email is not None else str(typer.prompt("Email"))


NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Your display name: what others see instead of your email (asked for when "
        "interactive; else the platform makes one up, and `account name` changes it).",
    ),
]


@app.command()
def signup(
    platform: PlatformOpt = None,
    email: EmailOpt = None,
    password_stdin: PasswordStdinOpt = False,
    name: NameOpt = None,
) -> None:
    """Create an account on the platform and log into it."""
    from kalavai_like.client import account

    home = context.home()
    url = platform or home.platform
    console.note(f"Platform: {url}")
    address = _email(email)
    if name is None and not password_stdin and sys.stdin.isatty():
        name = str(typer.prompt("Display name (others see it, never your email)"))
    secret = _password(password_stdin, confirm=True)
    who = account.signup(home, url, address, secret, name or "")
    console.success(f"Account created. Logged in as {who.email} on {who.platform}.")
    if notice := account.keystore_notice(home):
        console.note(notice, style="")


@app.command()
def login(
    platform: PlatformOpt = None,
    email: EmailOpt = None,
    password_stdin: PasswordStdinOpt = False,
    print_token: Annotated[
        bool,
        typer.Option(
            "--print-token",
            help="Print the new API token on stdout instead of storing it (for "
            "KALAVAI_LIKE_API_TOKEN on a machine without a keyring).",
        ),
    ] = False,
) -> None:
    """Log into the platform; the API token goes to your OS keyring."""
    from kalavai_like.client import account

    home = context.home()
    url = platform or home.platform
    console.note(f"Platform: {url}")
    who, token = account.login(
        home, url, _email(email), _password(password_stdin, confirm=False), store=not print_token
    )
    if print_token:
        console.raw(token)
        console.note("Not stored. Keep it secret: it acts as you until you revoke it.")
        return
    console.success(f"Logged in as {who.email} on {who.platform}.")
    if notice := account.keystore_notice(home):
        console.note(notice, style="")


@app.command()
def logout() -> None:
    """Revoke your API token on the platform and delete it here. Safe to repeat."""
    from kalavai_like.client import account

    result = account.logout(context.home())
    who = f" ({result.account.email} on {result.account.platform})" if result.account else ""
    if result.outcome == "already":
        console.note(f"Already logged out{who}.", style="")
        return
    if result.revoke_error is not None:
        console.warn(
            f"Deleted here, but not revoked on the platform: {result.revoke_error.title}. "
            "It stays valid there until it expires; run `kalavai-like logout` again after "
            "logging in, or revoke it from the platform's web pages."
        )
    if result.outcome == "env":
        console.success(f"Revoked the token in KALAVAI_LIKE_API_TOKEN{who}; unset that variable.")
    else:
        console.success(f"Logged out{who}.")
    if result.revoke_error is not None:
        raise typer.Exit(result.revoke_error.exit_code)


@app.command()
def whoami(json: JsonOpt = False) -> None:
    """Show who you are logged in as, and where."""
    from kalavai_like.client.account import credential_source

    home = context.home()
    with logged_in(home) as client:
        me = client.me()
        platform = client.base_url
    source = credential_source(home)
    info = {
        "platform": platform,
        "email": me.get("email"),
        "display_name": me.get("display_name"),
        "id": me.get("id"),
        "created_at": me.get("created_at"),
        "credential": source,
    }
    if json:
        console.emit_json(info)
        return
    console.pairs(
        [
            ("Email", info["email"]),
            ("Display name", info["display_name"]),
            ("Platform", platform),
            ("Account id", info["id"]),
            ("Token kept in", source),
        ]
    )
