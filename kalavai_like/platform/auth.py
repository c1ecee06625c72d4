"""Who is asking: bearer credentials resolved to a user, an account key or a device.

Also the log-in throttle: failed log-ins are counted per email and per client IP in the
database (so it holds across replicas); past the limit a log-in gets 429 with Retry-After.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kalavai_like.errors import AuthError
from kalavai_like.platform import credentials
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import AccountKey, ApiToken, Device, LoginFailure, now
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
        row = session.execute(
            select(ApiToken.id, ApiToken.user_id).where(
                ApiToken.token_hash == digest,
                ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now()),
            )
        ).first()
    elif kind == credentials.ACCOUNT_KEY:
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


def _resolve(db: Database, credential: str) -> Principal:
    with db.read() as session:
        return resolve(session, credential)


def caller(db: Db, credential: Credential) -> Principal:
    return _resolve(db, credential)


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


async def device_credential(db: Db, credential: Credential) -> str:
    """A well-formed device credential, checked against the database by the endpoint itself
    (heartbeats look the device up once, in their own transaction)."""
    if credentials.kind_of(credential) != credentials.DEVICE:
        await run_in_threadpool(_resolve, db, credential)  # 401 if no valid credential at all
        raise forbidden("This endpoint is for devices: present the device credential (kld_).")
    return credential


DeviceCredential = Annotated[str, Depends(device_credential)]
User = Annotated[Principal, Depends(user)]
Enroller = Annotated[Principal, Depends(enroller)]
DeviceCaller = Annotated[Principal, Depends(device)]


class LoginThrottle:
    """Counts log-in attempts per key; an attempt is reserved before the password is checked."""

    def __init__(self, db: Database, cfg: PlatformSettings) -> None:
        self.db = db
        self.cfg = cfg

    def reserve(self, email: str, ip: str) -> None:
        """Count one attempt, or raise 429 if either key is over its limit."""
        for attempt in range(3):
            try:
                return self._reserve(email, ip)
            except IntegrityError:  # two first attempts raced to insert the same key
                if attempt == 2:
                    raise

    def _reserve(self, email: str, ip: str) -> None:
        t = now()
        limits = {f"email:{email}": self.cfg.login_max_failures_per_email}
        limits[f"ip:{ip}"] = self.cfg.login_max_failures_per_ip
        with self.db.write() as s:
            rows = {
                r.key: r
                for r in s.scalars(
                    self.db.for_update(select(LoginFailure).where(LoginFailure.key.in_(limits)))
                )
            }
            for key, limit in limits.items():
                row = rows.get(key)
                if row and t - row.window_start < self.cfg.login_window and row.count >= limit:
                    retry = max(1, math.ceil(row.window_start + self.cfg.login_window - t))
                    raise Problem(
                        429,
                        AuthError(
                            "Too many failed log-ins",
                            f"Wait {retry} seconds before trying again, or reset your password.",
                        ),
                        {"Retry-After": str(retry)},
                    )
            for key in limits:
                row = rows.get(key)
                if row is None:
                    s.add(LoginFailure(key=key, count=1, window_start=t))
                elif t - row.window_start >= self.cfg.login_window:
                    row.count, row.window_start = 1, t
                else:
                    row.count += 1

    def succeeded(self, email: str, ip: str) -> None:
        """A good password clears the email's count and gives back the IP's reservation."""
        with self.db.write() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.key == f"email:{email}"))
            s.execute(
                update(LoginFailure)
                .where(LoginFailure.key == f"ip:{ip}", LoginFailure.count > 0)
                .values(count=LoginFailure.count - 1)
            )


def find_user_by_email(session: Session, email: str) -> UserRow | None:
    return session.scalars(select(UserRow).where(UserRow.email == email)).first()
