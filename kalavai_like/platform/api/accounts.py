"""Accounts: sign-up (throttled per client address), log-in and log-out, the caller's sessions
and password, the caller's profile, and account keys."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from kalavai_like.errors import AuthError, Conflict
from kalavai_like.platform import credentials, sessions
from kalavai_like.platform.api import HexId, revoke
from kalavai_like.platform.auth import Db, Settings, User, find_user_by_email, suspended
from kalavai_like.platform.db import oldest_first
from kalavai_like.platform.models import AccountKey, ApiToken, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.problems import Problem, not_found
from kalavai_like.platform.schemas import (
    AccountKeyCreated,
    AccountKeyIn,
    AccountKeyOut,
    Credentials,
    LogIn,
    PasswordChange,
    SessionInfo,
    SessionOut,
    UserOut,
    UserRef,
)
from kalavai_like.platform.throttle import LoginThrottle, client_address, reserve_signup
from kalavai_like.platform.views import iso, iso_req

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def _user_out(u: UserRow) -> UserOut:
    return UserOut(id=u.id, email=u.email, created_at=iso_req(u.created_at))


@router.post("/accounts", status_code=201, response_model=UserOut)
def sign_up(body: Credentials, request: Request, db: Db, cfg: Settings) -> UserOut:
    """Create an account (a few per client address per hour: 429 with Retry-After past it)."""
    reserve_signup(db, cfg, client_address(request))
    email = body.email.lower()
    password_hash = credentials.hash_password(body.password)
    try:
        with db.write() as s:
            if find_user_by_email(s, email) is not None:
                raise Conflict("Email taken", f"An account for {email} exists. Log in instead.")
            user = UserRow(email=email, password_hash=password_hash)
            s.add(user)
            s.flush()
            return _user_out(user)
    except IntegrityError:
        raise Conflict("Email taken", f"An account for {email} exists. Log in instead.") from None


@router.post("/sessions", response_model=SessionOut)
def log_in(body: LogIn, request: Request, db: Db, cfg: Settings) -> SessionOut:
    """Log in with email and password; returns an API token."""
    return open_session(body, request, db, cfg, "api")


def open_session(
    body: LogIn, request: Request, db: Db, cfg: Settings, kind: sessions.Kind
) -> SessionOut:
    """Check the password (throttled) and start a session of `kind`; a suspended account gets
    403 (only once its password is right: the refusal tells a stranger nothing)."""
    wrong = Problem(401, AuthError("Wrong email or password", "Check both and try again."))
    user = _checked(body.email.lower(), body.password, request, db, cfg, wrong)
    if user.suspended_at is not None:
        raise suspended()
    token = sessions.start(db, cfg, user.id, request, kind)
    return SessionOut(token=token, user=UserRef(id=user.id, email=user.email))


def _checked(
    email: str, password: str, request: Request, db: Db, cfg: Settings, wrong: Problem
) -> UserRow:
    """The account if `password` is its password, else raise `wrong` (or 429: throttled)."""
    throttle = LoginThrottle(db, cfg, email, client_address(request))
    throttle.reserve()
    with db.read() as s:
        user = find_user_by_email(s, email)
    # An unknown email is checked against a dummy hash: it takes as long as a wrong password.
    if not credentials.password_matches(user.password_hash if user else None, password):
        raise wrong
    assert user is not None
    throttle.succeeded()
    return user


@router.delete("/sessions/current", status_code=204)
def log_out(who: User, db: Db) -> Response:
    """Log out: revoke the API token presented."""
    with db.write() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == who.credential_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now())
        )
    return Response(status_code=204)


@router.get("/sessions", response_model=list[SessionInfo])
def list_sessions(who: User, db: Db) -> list[SessionInfo]:
    """Where you are logged in: your live sessions (web and API), never their tokens."""
    return sessions.listed(db, who.user_id, who.credential_id)


@router.delete("/sessions/{session_id}", status_code=204)
def revoke_session(session_id: HexId, who: User, db: Db) -> Response:
    """Log one of your sessions out, wherever it is. Safe to repeat."""
    sessions.revoke(db, who.user_id, session_id)
    return Response(status_code=204)


@router.post("/me/password", status_code=204)
def change_password(
    body: PasswordChange, request: Request, who: User, db: Db, cfg: Settings
) -> Response:
    """Change your password; every other session is logged out (account keys are kept)."""
    change_password_for(body, request, who, db, cfg)
    return Response(status_code=204)


def change_password_for(
    body: PasswordChange, request: Request, who: User, db: Db, cfg: Settings
) -> int:
    """Check the current password (throttled like a log-in), set the new one and revoke the
    user's other sessions; how many were revoked."""
    with db.read() as s:
        user = s.get(UserRow, who.user_id)
    if user is None:
        raise not_found("account")
    wrong = Problem(403, AuthError("Wrong password", "The current password is not right."))
    _checked(user.email, body.current_password, request, db, cfg, wrong)
    new_hash = credentials.hash_password(body.new_password)
    with db.write() as s:
        s.execute(update(UserRow).where(UserRow.id == who.user_id).values(password_hash=new_hash))
    return sessions.revoke_others(db, who.user_id, who.credential_id)


@router.get("/me", response_model=UserOut)
def me(who: User, db: Db) -> UserOut:
    with db.read() as s:
        user = s.get(UserRow, who.user_id)
        if user is None:
            raise not_found("account")
        return _user_out(user)


@router.post("/account-keys", status_code=201, response_model=AccountKeyCreated)
def create_account_key(body: AccountKeyIn, who: User, db: Db) -> AccountKeyCreated:
    """Create an account key (it can only enrol devices for you). Shown once."""
    key = credentials.new(credentials.ACCOUNT_KEY)
    with db.write() as s:
        row = AccountKey(user_id=who.user_id, name=body.name, key_hash=credentials.digest(key))
        s.add(row)
        s.flush()
        return AccountKeyCreated(
            id=row.id, name=row.name, key=key, created_at=iso_req(row.created_at)
        )


@router.get("/account-keys", response_model=list[AccountKeyOut])
def list_account_keys(who: User, db: Db) -> list[AccountKeyOut]:
    with db.read() as s:
        rows = oldest_first(s, AccountKey, AccountKey.user_id == who.user_id)
        return [
            AccountKeyOut(
                id=r.id,
                name=r.name,
                created_at=iso_req(r.created_at),
                last_used_at=iso(r.last_used_at),
                revoked=r.revoked_at is not None,
            )
            for r in rows
        ]


@router.delete("/account-keys/{key_id}", status_code=204)
def revoke_account_key(key_id: HexId, who: User, db: Db) -> Response:
    with db.write() as s:
        revoke(s, AccountKey, key_id, "account key", lambda row: row.user_id == who.user_id)
    return Response(status_code=204)
