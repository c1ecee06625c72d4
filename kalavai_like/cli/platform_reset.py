"""`kalavai-like platform reset-link EMAIL`: on the platform's server, a password-reset link
for an account, for the operator to hand to its owner (the way back in when the platform sends
no email). `register` adds it to the `platform` command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kalavai_like.cli import console
from kalavai_like.cli.options import JsonOpt
from kalavai_like.cli.platform_cmd import (
    DatabaseOpt,
    DataDirOpt,
    PublicUrlOpt,
    _operator_db,
    _public,
)
from kalavai_like.errors import NotFound


def register(platform_app: typer.Typer) -> None:
    platform_app.command("reset-link")(reset_link)


def reset_link(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The account's email.")],
    public_url: PublicUrlOpt = "",
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = "",
    json: JsonOpt = False,
) -> None:
    """Make a password-reset link for an account (single use, valid for an hour). Give it to
    the account's owner only: it sets a new password for the account."""
    from kalavai_like.platform.api.resets import issue
    from kalavai_like.platform.settings import PlatformSettings

    if not public_url:
        raise typer.BadParameter("give the platform's --public-url (the link opens there)")
    with _operator_db(data_dir, database_url) as db:
        cfg = PlatformSettings(Path(), _public(public_url))  # the link's URL and lifetime
        made = issue(db, cfg, email)
    if made is None:
        raise NotFound(
            "No link made",
            f"No account for {email}, or it had 3 links within the hour: try again later.",
        )
    address, link = made
    if json:
        console.emit_json({"email": address, "link": link})
        return
    console.raw(link)
    console.note(f"A reset link for {address}: it works once, within the hour.")
