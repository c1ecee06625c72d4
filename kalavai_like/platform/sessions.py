"""Log-in sessions: the API tokens (`klu_`) a log-in mints, for the CLI and tray ("api") or in
the web session cookie ("web").

A session ends after `session_idle_lifetime` unused; each use renews it (written at most once a
minute per session, so most requests stay reads). Its user lists their sessions (where each
came from, when last used) and revokes any of them; a password change revokes all but the one
that made it. Account keys (`kla_`) are not sessions: they last until revoked.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request
from sqlalchemy import ColumnElement, and_, or_, select, update

from kalavai_like.platform import credentials
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import ApiToken, now
from kalavai_like.platform.problems import not_found
from kalavai_like.platform.schemas import SessionInfo
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.platform.throttle import client_address
from kalavai_like.platform.views import iso, iso_req

Kind = Literal["api", "web"]
RENEW_AFTER = 60.0  # seconds between two renewals of one session


def start(db: Database, cfg: PlatformSettings, user_id: str, request: Request, kind: Kind) -> str:
    """A new session for `user_id`: its token (stored only as a hash)."""
    token = credentials.new(credentials.API_TOKEN)
    t = now()
    agent = "".join(c for c in request.headers.get("user-agent", "") if c.isprintable())
    row = ApiToken(
        user_id=user_id,
        token_hash=credentials.digest(token),
        created_at=t,
        last_used_at=t,
        expires_at=t + cfg.session_idle_lifetime,
        kind=kind,
        client_address=client_address(request)[:64],
        user_agent=agent[:200] or None,
    )
    with db.write() as s:
        s.add(row)
    return token


def live(t: float) -> ColumnElement[bool]:
    """Sessions neither revoked nor ended at time `t` (a WHERE clause)."""
    return and_(
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > t),
    )


def renewal_due(expires_at: float | None, cfg: PlatformSettings) -> bool:
    """True when a session used now should have its end moved forward."""
    return expires_at is None or expires_at < now() + cfg.session_idle_lifetime - RENEW_AFTER


def renew(db: Database, cfg: PlatformSettings, session_id: str) -> None:
    """The session was used: it now ends `session_idle_lifetime` from now."""
    t = now()
    with db.write() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == session_id, ApiToken.revoked_at.is_(None))
            .values(last_used_at=t, expires_at=t + cfg.session_idle_lifetime)
        )


def listed(db: Database, user_id: str, current_id: str) -> list[SessionInfo]:
    """The user's live sessions, the most recently used first."""
    t = now()
    with db.read() as s:
        rows = s.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, live(t))
            .order_by(ApiToken.last_used_at.desc(), ApiToken.created_at.desc())
        )
        return [
            SessionInfo(
                id=r.id,
                kind="web" if r.kind == "web" else "api",
                created_at=iso_req(r.created_at),
                last_used_at=iso(r.last_used_at),
                expires_at=iso(r.expires_at),
                client_address=r.client_address,
                user_agent=r.user_agent,
                current=r.id == current_id,
            )
            for r in rows
        ]


def revoke(db: Database, user_id: str, session_id: str) -> None:
    """End one of the user's sessions (again is fine).

    Raises:
        Problem: 404 if it is not the user's.
    """
    with db.write() as s:
        row = s.get(ApiToken, session_id)
        if row is None or row.user_id != user_id:
            raise not_found("session")
        if row.revoked_at is None:
            row.revoked_at = now()


def revoke_others(db: Database, user_id: str, keep_id: str) -> int:
    """End every live session of the user but `keep_id`; how many that was."""
    t = now()
    with db.write() as s:
        result = s.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.id != keep_id, live(t))
            .values(revoked_at=t)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
