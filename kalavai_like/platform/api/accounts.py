"""Accounts: sign-up (throttled per client address), log-in and log-out, the caller's sessions
and password, the caller's profile, and account keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kalavai_like.errors import AuthError, Conflict, InvalidInput
from kalavai_like.platform import credentials, sessions
from kalavai_like.platform.account_schemas import AccountKeyIn, PasswordChange, derived_display_name
from kalavai_like.platform.api import HexId
from kalavai_like.platform.auth import Db, Settings, User, find_user_by_email, suspended
from kalavai_like.platform.db import oldest_first
from kalavai_like.platform.models import AccountKey, ApiToken, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.problems import Problem, not_found
from kalavai_like.platform.schemas import (
    ID_LIKE,
    AccountKeyCreated,
    AccountKeyOut,
    Credentials,
    LogIn,
    SessionInfo,
    SessionOut,
    UserOut,
    UserRef,
)
from kalavai_like.platform.throttle import LoginThrottle, client_address, reserve_signup
from kalavai_like.platform.views import iso, iso_req

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def user_out(u: UserRow) -> UserOut:
    return UserOut(
        id=u.id, email=u.email, created_at=iso_req(u.created_at), display_name=u.display_name
    )


@router.post("/accounts", status_code=201, response_model=UserOut)
def sign_up(body: Credentials, request: Request, db: Db, cfg: Settings) -> UserOut:
    """Create an account (a few per client address per hour: 429 with Retry-After past it);
    without a display name it gets one made from its id (never from the email)."""
    reserve_signup(db, cfg, client_address(request))
    email = body.email.lower()
    password_hash = credentials.hash_password(body.password)
    try:
        with db.write() as s:
            if find_user_by_email(s, email) is not None:
                raise Conflict("Email taken", f"An account for {email} exists. Log in instead.")
            user = UserRow(email=email, password_hash=password_hash, display_name="")
            s.add(user)
            s.flush()
            user.display_name = body.display_name or derived_display_name(user.id)
            return user_out(user)
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
    user = checked_password(body.email.lower(), body.password, request, db, cfg, wrong)
    if user.suspended_at is not None:
        raise suspended()
    token = sessions.start(db, cfg, user.id, request, kind)
    return SessionOut(
        token=token, user=UserRef(id=user.id, display=user.display_name, email=user.email)
    )


def checked_password(
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


def confirm_password(
    who: User, password: str, request: Request, db: Db, cfg: Settings, what: str = "The password"
) -> None:
    """The caller typed their password again (throttled like a log-in): else 403 '`what` is
    not right.'"""
    with db.read() as s:
        user = s.get(UserRow, who.user_id)
    if user is None:
        raise not_found("account")
    wrong = Problem(403, AuthError("Wrong password", f"{what} is not right."))
    checked_password(user.email, password, request, db, cfg, wrong)


def change_password_for(
    body: PasswordChange, request: Request, who: User, db: Db, cfg: Settings
) -> int:
    """Check the current password (throttled like a log-in), set the new one and revoke the
    user's other sessions; how many were revoked."""
    confirm_password(who, body.current_password, request, db, cfg, "The current password")
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
        return user_out(user)


def _name_taken(name: str) -> Conflict:
    return Conflict(
        "Key name taken",
        f"You already have an account key named '{name}'. Pick another name, or revoke that "
        f"key first: kalavai-like account-key revoke '{name}'",
    )


@router.post("/account-keys", status_code=201, response_model=AccountKeyCreated)
def create_account_key(body: AccountKeyIn, who: User, db: Db) -> AccountKeyCreated:
    """Create an account key (it can only enrol devices for you). Shown once. Its name is
    unique among your live keys (409 otherwise) and never looks like a key id."""
    if ID_LIKE.match(body.name):
        raise Problem(422, InvalidInput("Key name looks like an id", _ID_LIKE_NAME))
    key = credentials.new(credentials.ACCOUNT_KEY)
    try:
        with db.write() as s:
            if _live_key(s, who.user_id, body.name) is not None:
                raise _name_taken(body.name)
            row = AccountKey(user_id=who.user_id, name=body.name, key_hash=credentials.digest(key))
            s.add(row)
            s.flush()
            return AccountKeyCreated(
                id=row.id, name=row.name, key=key, created_at=iso_req(row.created_at)
            )
    except IntegrityError:  # a key of that name was made at the same moment
        raise _name_taken(body.name) from None


_ID_LIKE_NAME = (
    "Revoke takes a key's name or its id (32 hex digits), so a name must not look like an id: "
    "add a letter from g to z or a dash."
)


def _live_key(s: Session, user_id: str, name: str) -> AccountKey | None:
    return s.scalars(
        select(AccountKey).where(
            AccountKey.user_id == user_id, AccountKey.name == name, AccountKey.revoked_at.is_(None)
        )
    ).first()


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


KeyRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


@router.delete("/account-keys/{key:path}", status_code=204)
def revoke_account_key(key: KeyRef, who: User, db: Db) -> Response:
    """Revoke one of your account keys, by its name or its id. Safe to repeat (a name whose
    keys are all revoked answers 204); 404 when you have no key of that name or id."""
    with db.write() as s:
        row = s.get(AccountKey, key) if ID_LIKE.match(key) else None
        if row is None or row.user_id != who.user_id:
            row = (
                _live_key(s, who.user_id, key)
                or s.scalars(
                    select(AccountKey).where(
                        AccountKey.user_id == who.user_id, AccountKey.name == key
                    )
                ).first()
            )
        if row is None:
            raise not_found("account key")
        if row.revoked_at is None:
            row.revoked_at = now()
    return Response(status_code=204)
