"""Password resets by email: ask for a link (sent only when the platform has SMTP), then set a
new password with the link's token. The token is single use, short-lived and stored hashed;
using it logs every session of the account out (account keys keep working)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, BackgroundTasks, Request, Response
from sqlalchemy import func, select, update

from kalavai_like.errors import Conflict, InvalidInput
from kalavai_like.platform import credentials, mail
from kalavai_like.platform.account_schemas import ResetConfirm, ResetRequest
from kalavai_like.platform.auth import Db, Settings, find_user_by_email
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import ApiToken, PasswordReset, User, now
from kalavai_like.platform.problems import Problem
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.platform.throttle import client_address, reserve_reset

router = APIRouter(prefix="/api/v1", tags=["accounts"])

PREFIX = "klr_"
LINKS_PER_HOUR = 3  # per account: more asks within the hour send nothing

NO_EMAIL = (
    "This platform sends no email, so it cannot send a reset link. Ask the platform's "
    "operator (whoever runs it) for one: they run `kalavai-like platform reset-link EMAIL`."
)


def issue(db: Database, cfg: PlatformSettings, email: str) -> tuple[str, str] | None:
    """A new reset link for the account `email`: (its email, the link); None when there is
    no such account or it had LINKS_PER_HOUR links this past hour."""
    t = now()
    token = PREFIX + secrets.token_urlsafe(32)
    with db.write() as s:
        user = find_user_by_email(s, email.strip().lower())
        if user is None:
            return None
        recent = s.scalar(
            select(func.count())
            .select_from(PasswordReset)
            .where(PasswordReset.user_id == user.id, PasswordReset.created_at > t - 3600)
        )
        if (recent or 0) >= LINKS_PER_HOUR:
            return None
        s.add(
            PasswordReset(
                user_id=user.id,
                token_hash=credentials.digest(token),
                created_at=t,
                expires_at=t + cfg.password_reset_lifetime,
            )
        )
        address = user.email
    return address, f"{cfg.platform_url}/reset?token={token}"


def send_link(cfg: PlatformSettings, to: str, link: str) -> None:
    minutes = round(cfg.password_reset_lifetime / 60)
    mail.send(
        cfg, to, "Reset your password",
        f"Someone (we hope you) asked to reset the password of your account on "
        f"{cfg.platform_url}.\n\nSet a new one here within {minutes} minutes (the link works "
        f"once):\n\n{link}\n\nIf it was not you, ignore this message: your password stays.\n",
    )  # fmt: skip


@router.post("/password-resets", status_code=202)
def ask_reset(
    body: ResetRequest, request: Request, tasks: BackgroundTasks, db: Db, cfg: Settings
) -> Response:
    """Email a reset link to the account's address. The answer is the same whether or not
    the account exists; 409 when this platform has no SMTP (ask the operator instead); 429
    past 10 asks an hour from one client address."""
    if not mail.configured(cfg):
        raise Conflict("No email on this platform", NO_EMAIL)
    reserve_reset(db, cfg, client_address(request))
    made = issue(db, cfg, body.email)
    if made is not None:
        tasks.add_task(send_link, cfg, *made)
    return Response(status_code=202)


def reset_password(body: ResetConfirm, db: Database) -> None:
    """Set the password of the link's account; every session of it ends.

    Raises:
        Problem: 400 if the token is unknown, used or expired.
    """
    t = now()
    new_hash = credentials.hash_password(body.new_password)
    with db.write() as s:
        row = s.scalars(
            db.for_update(
                select(PasswordReset).where(
                    PasswordReset.token_hash == credentials.digest(body.token)
                )
            )
        ).first()
        if row is None or row.used_at is not None or row.expires_at <= t:
            raise Problem(
                400,
                InvalidInput(
                    "Reset link not valid",
                    "This link was used already, has expired or is not one we sent. Ask for a "
                    "new one on the log-in page (Forgot your password?).",
                ),
            )
        s.execute(update(User).where(User.id == row.user_id).values(password_hash=new_hash))
        s.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == row.user_id, PasswordReset.used_at.is_(None))
            .values(used_at=t)
        )
        s.execute(
            update(ApiToken)
            .where(ApiToken.user_id == row.user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=t)
        )


@router.post("/password-resets/confirm", status_code=204)
def confirm_reset(body: ResetConfirm, db: Db) -> Response:
    """Set a new password with a reset link's token (single use); every session of the
    account is logged out."""
    reset_password(body, db)
    return Response(status_code=204)
