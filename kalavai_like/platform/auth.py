"""Who is asking: bearer credentials resolved to a user, an account key or a device.

Using a user's API token renews its session (kalavai_like.platform.sessions); the log-in
throttle is kalavai_like.platform.throttle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from kalavai_like.platform import credentials, sessions
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import AccountKey, ApiToken, Device, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.problems import forbidden, unauthorized
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


def resolve(session: Session, credential: str) -> Principal:
    """Look a credential up. Raises 401 if it is malformed, unknown or revoked."""
    kind = credentials.kind_of(credential)
    if kind is None:
        raise unauthorized("That credential is not one this platform issues.")
    digest = credentials.digest(credential)
    if kind == credentials.API_TOKEN:
        token = session.execute(
            select(ApiToken.id, ApiToken.user_id, ApiToken.expires_at).where(
                ApiToken.token_hash == digest, sessions.live(now())
            )
        ).first()
        if token is None:
            raise unauthorized("That credential is unknown, expired or revoked. Log in again.")
        return Principal(kind, token[1], token[0], token[2])
    if kind == credentials.ACCOUNT_KEY:
        row = session.execute(
            select(AccountKey.id, AccountKey.user_id).where(
                AccountKey.key_hash == digest, AccountKey.revoked_at.is_(None)
            )
        ).first()
    else:
        row = session.execute(
            select(Device.id, Device.user_id).where(
                Device.credential_hash == digest, Device.left_at.is_(None)
            )
        ).first()
    if row is None:
        raise unauthorized("That credential is unknown or was revoked. Log in again.")
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


DeviceCredential = Annotated[str, Depends(device_credential)]
User = Annotated[Principal, Depends(user)]
Enroller = Annotated[Principal, Depends(enroller)]
DeviceCaller = Annotated[Principal, Depends(device)]


def find_user_by_email(session: Session, email: str) -> UserRow | None:
    return session.scalars(select(UserRow).where(UserRow.email == email)).first()
