"""The platform's operator role, given and taken on the server only: by `platform serve
--operator EMAIL` and by `platform operator add | remove | list`, which work on the database
directly. No HTTP route and no sign-up can make an operator.

The operator trusts pools and suspends users (kalavai_like.platform.api.operator).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from kalavai_like.errors import NotFound
from kalavai_like.platform.auth import find_user_by_email
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import User


def no_account(email: str) -> NotFound:
    return NotFound(
        "No such account",
        f"No account for {email} on this platform. Sign up first (kalavai-like signup, or the "
        "web page), then run: kalavai-like platform operator add " + email,
    )


def set_operator(db: Database, email: str, operator: bool) -> bool:
    """Give the account `email` the operator role, or take it away; False if it was so already.

    Raises:
        NotFound: no account has that email.
    """
    email = email.strip().lower()
    with db.write() as s:
        user = find_user_by_email(s, email)
        if user is None:
            raise no_account(email)
        if user.operator == operator:
            return False
        user.operator = operator
        return True


def operators(db: Database) -> list[str]:
    """The operators' emails, in order."""
    with db.read() as s:
        return list(
            s.scalars(select(User.email).where(User.operator.is_(True)).order_by(User.email))
        )


def grant_at_start(db: Database, emails: Iterable[str]) -> list[str]:
    """`platform serve --operator`: make each existing account an operator; one line each
    saying what happened (an email with no account is named, and left for later)."""
    said = []
    for email in emails:
        try:
            changed = set_operator(db, email, True)
        except NotFound as exc:
            said.append(f"--operator {email}: {exc.message}")
            continue
        state = "is now" if changed else "stays"
        said.append(f"{email.strip().lower()} {state} the platform's operator")
    return said
