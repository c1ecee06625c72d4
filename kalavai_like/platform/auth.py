"""Who is asking: bearer credentials resolved to a user, an account key or a device, and
whether that user is the platform's operator. A suspended user's API tokens and account keys
stop working at once (their device credentials keep reporting: the ledger grants them nothing).

Using a user's API token renews its session (kalavai_like.platform.sessions); the log-in
throttle is kalavai_like.platform.throttle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import null, select
from sqlalchemy.orm import Session

from kalavai_like.errors import AuthError
from kalavai_like.platform import credentials, sessions
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import AccountKey, ApiToken, Device, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.problems import Problem, forbidden, unauthorized
from kalavai_like.platform.settings import PlatformSettings

bearer_scheme = HTTPBearer(auto_error=False, description="klu_ API token, kla_ key or kld_")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `kind` is the credential prefix."""

    kind: str
    user_id: str
    credential_id: str  # api token id, account key id or device id
    expires_at: float | None = None  # an API token's: when its session ends unless used


async def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def settings(request: Request) -> PlatformSettings:
    cfg: PlatformSettings = request.app.state.settings
    return cfg


async def presented(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    """The bearer credential string, or 401 when there is none."""
    if creds is None or not creds.credentials:
        raise unauthorized()
    return creds.credentials


def suspended() -> Problem:
    """What a suspended user hears, at log-in and on every use of their tokens and keys."""
    return Problem(
        403,
        AuthError(
            "Account suspended",
            "The platform's operator suspended this account: it cannot log in, enrol devices "
            "or earn credit. Ask the platform's operator if you think this is a mistake.",
        ),
    )


def resolve(session: Session, credential: str) -> Principal:
    """Look a credential up.

    Raises:
        Problem: 401 if it is malformed, unknown or revoked; 403 if its user is suspended
            (API tokens and account keys).
    """
    kind = credentials.kind_of(credential)
    if kind is None:
        raise unauthorized("That credential is not one this platform issues.")
    digest = credentials.digest(credential)
    if kind == credentials.API_TOKEN:
        token = session.execute(
            select(ApiToken.id, ApiToken.user_id, ApiToken.expires_at, UserRow.suspended_at)
            .join(UserRow, UserRow.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest, sessions.live(now()))
        ).first()
        if token is None:
            raise unauthorized("That credential is unknown, expired or revoked. Log in again.")
        if token[3] is not None:
            raise suspended()
        return Principal(kind, token[1], token[0], token[2])
    if kind == credentials.ACCOUNT_KEY:
        stmt = (
            select(AccountKey.id, AccountKey.user_id, UserRow.suspended_at)
            .join(UserRow, UserRow.id == AccountKey.user_id)
            .where(AccountKey.key_hash == digest, AccountKey.revoked_at.is_(None))
        )
    else:  # a suspended user's device still reports; the ledger grants it nothing
        stmt = select(Device.id, Device.user_id, null()).where(
            Device.credential_hash == digest, Device.left_at.is_(None)
        )
    row = session.execute(stmt).first()
    if row is None:
        raise unauthorized("That credential is unknown or was revoked. Log in again.")
    if row[2] is not None:
        raise suspended()
    return Principal(kind, row[1], row[0])


Db = Annotated[Database, Depends(database)]
Settings = Annotated[PlatformSettings, Depends(settings)]
Credential = Annotated[str, Depends(presented)]


def authenticate(db: Database, cfg: PlatformSettings, credential: str) -> Principal:
    """`resolve`, and renew the session of an API token when it is due.

    Raises:
        Problem: 401 if the credential is malformed, unknown, expired or revoked.
    """
    with db.read() as session:
        who = resolve(session, credential)
    if who.kind == credentials.API_TOKEN and sessions.renewal_due(who.expires_at, cfg):
        sessions.renew(db, cfg, who.credential_id)
    return who


def caller(db: Db, cfg: Settings, credential: Credential) -> Principal:
    return authenticate(db, cfg, credential)


async def user(who: Annotated[Principal, Depends(caller)]) -> Principal:
    """Only a logged-in user's API token may call this."""
    if who.kind != credentials.API_TOKEN:
        raise forbidden("This needs a user's API token (log in), not a key or device credential.")
    return who


async def enroller(who: Annotated[Principal, Depends(caller)]) -> Principal:
    """An API token or an account key (which may only enrol devices)."""
    if who.kind == credentials.DEVICE:
        raise forbidden("A device credential cannot enrol devices; use an API token or key.")
    return who


async def device(who: Annotated[Principal, Depends(caller)]) -> Principal:
    if who.kind != credentials.DEVICE:
        raise forbidden("This endpoint is for devices: present the device credential (kld_).")
    return who


async def device_credential(db: Db, cfg: Settings, credential: Credential) -> str:
    """A well-formed device credential, checked against the database by the endpoint itself
    (heartbeats look the device up once, in their own transaction)."""
    if credentials.kind_of(credential) != credentials.DEVICE:
        await run_in_threadpool(authenticate, db, cfg, credential)  # 401 unless valid at all
        raise forbidden("This endpoint is for devices: present the device credential (kld_).")
    return credential


def operator(who: Annotated[Principal, Depends(user)], db: Db) -> Principal:
    """Only the platform's operator may call this (a role set on the server, never by sign-up)."""
    with db.read() as s:
        allowed = s.scalar(select(UserRow.operator).where(UserRow.id == who.user_id))
    if not allowed:
        raise forbidden("Only the platform's operator may do that.")
    return who


DeviceCredential = Annotated[str, Depends(device_credential)]
User = Annotated[Principal, Depends(user)]
Operator = Annotated[Principal, Depends(operator)]
Enroller = Annotated[Principal, Depends(enroller)]
DeviceCaller = Annotated[Principal, Depends(device)]


def find_user_by_email(session: Session, email: str) -> UserRow | None:
    return session.scalars(select(UserRow).where(UserRow.email == email)).first()
