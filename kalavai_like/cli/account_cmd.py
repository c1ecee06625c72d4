"""`kalavai-like account name | password | delete | reset-password`: your account's settings.
(Sign-up, log-in and `whoami` are top-level commands: kalavai_like.cli.account.)"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.account import EmailOpt, PasswordStdinOpt, PlatformOpt
from kalavai_like.cli.options import JsonOpt
from kalavai_like.errors import InvalidInput

USAGE = 64  # the command line is incomplete (kalavai_like.cli.main.USAGE)

app = typer.Typer(
    help="Your account: display name, password, deleting it, a reset link.",
    no_args_is_help=True,
)


def _lines(count: int, what: str) -> list[str]:
    """`count` lines from stdin (passwords are never taken as arguments)."""
    lines = [sys.stdin.readline().rstrip("\r\n") for _ in range(count)]
    if not all(lines):
        raise InvalidInput("Missing input on stdin", f"Pipe {what} into --password-stdin.")
    return lines


@app.command()
def name(
    display_name: Annotated[
        str, typer.Argument(metavar="NAME", help="What others see of you instead of your email.")
    ],
    json: JsonOpt = False,
) -> None:
    """Change your display name (pool lists, pools' workers, the leaderboard show it)."""
    from kalavai_like.client.profile import set_display_name

    me = set_display_name(context.home(), display_name)
    if json:
        console.emit_json({"id": me.get("id"), "display_name": me.get("display_name")})
        return
    console.success(f"Your display name is now {me.get('display_name')!r}.")


@app.command()
def password(password_stdin: PasswordStdinOpt = False) -> None:
    """Change your password. Every other session (browsers, other machines) is logged out;
    this one and your account keys keep working. With --password-stdin: the current password
    on the first line, the new one on the second."""
    from kalavai_like.client.profile import change_password

    if password_stdin:
        current, new = _lines(2, "the current and the new password, one a line,")
    else:
        current = str(typer.prompt("Current password", hide_input=True))
        new = str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))
    change_password(context.home(), current, new)
    console.success("Password changed. Every other session was logged out.")


@app.command()
def delete(
    password_stdin: PasswordStdinOpt = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
) -> None:
    """Delete your account: your devices leave their pools, the credit they earned stays
    with those pools under an anonymous name, and your email, display name, sessions and
    account keys are gone. Refused while you own pools (delete them first)."""
    from kalavai_like.client.profile import delete_account

    home = context.home()
    account = home.account
    if not yes:
        if password_stdin or not sys.stdin.isatty():
            console.error("Not confirmed", "Add --yes to delete the account without being asked.")
            raise typer.Exit(USAGE)
        who = f"{account.email} on {account.platform}" if account else "this account"
        typer.confirm(f"Delete {who}? This cannot be undone", abort=True)
    secret = (
        _lines(1, "your password")[0]
        if password_stdin
        else str(typer.prompt("Password", hide_input=True))
    )
    delete_account(home, secret)
    console.success("Your account is deleted, and you are logged out here.")


@app.command("reset-password")
def reset_password(platform: PlatformOpt = None, email: EmailOpt = None) -> None:
    """Have a password-reset link emailed to you (when the platform sends email)."""
    from kalavai_like.client.profile import ask_password_reset

    home = context.home()
    url = platform or home.platform
    address = email if email is not None else str(typer.prompt("Email"))
    ask_password_reset(home, url, address)
    console.success(
        f"If {address} has an account on {url}, a reset link is on its way: it works once, "
        "for a short while."
    )
