"""The platform operator's routes: every pool with its trust state, trusting a pool (its
witness then counts beyond the pool) or no longer, and suspending a user or lifting it.

Only the operator may call them (403 for anyone else, 401 without a credential); the role
itself is set on the server (kalavai_like.platform.operators). Every action is safe to repeat
and says whether it changed anything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from kalavai_like.errors import Conflict
from kalavai_like.platform import ledger
from kalavai_like.platform.api.pools import PoolKey, by_key
from kalavai_like.platform.auth import Db, Operator, find_user_by_email
from kalavai_like.platform.db import oldest_first
from kalavai_like.platform.erase import NO_PASSWORD
from kalavai_like.platform.models import Pool, User, now
from kalavai_like.platform.operators import no_account
from kalavai_like.platform.problems import not_found
from kalavai_like.platform.schemas import Email, In, UserRef, WitnessKind
from kalavai_like.platform.views import iso, iso_req, member_counts

router = APIRouter(prefix="/api/v1/operator", tags=["operator"])


class OperatorPool(BaseModel):
    id: str
    name: str
    owner: UserRef
    template: str
    public: bool
    closed: bool
    trusted: bool
    witness: WitnessKind
    members: int
    created_at: str


class OperatorUser(BaseModel):
    id: str
    email: str
    operator: bool
    suspended: bool
    suspended_at: str | None
    created_at: str


class PoolTrust(BaseModel):
    changed: bool
    pool: OperatorPool


class UserSuspension(BaseModel):
    changed: bool
    user: OperatorUser


class UserIn(In):
    email: Email


def _pools_out(s: Session, pools: list[Pool]) -> list[OperatorPool]:
    members = member_counts(s, [p.id for p in pools])
    owners = {p.owner_id for p in pools}
    emails = dict(s.execute(select(User.id, User.email).where(User.id.in_(owners))).all())
    return [
        OperatorPool(
            id=p.id,
            name=p.name,
            owner=UserRef(id=p.owner_id, email=emails.get(p.owner_id, "")),
            template=p.template,
            public=p.public,
            closed=p.closed,
            trusted=p.trusted,
            witness=ledger.witness_kind(p.template, p.trusted),
            members=members.get(p.id, 0),
            created_at=iso_req(p.created_at),
        )
        for p in pools
    ]


def _user_out(u: User) -> OperatorUser:
    return OperatorUser(
        id=u.id,
        email=u.email,
        operator=u.operator,
        suspended=u.suspended_at is not None,
        suspended_at=iso(u.suspended_at),
        created_at=iso_req(u.created_at),
    )


@router.get("/pools", response_model=list[OperatorPool])
def all_pools(
    who: Operator, db: Db, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> list[OperatorPool]:
    """Every live pool, public and private, oldest first, with its owner and trust state."""
    with db.read() as s:
        live = select(Pool).where(Pool.deleted_at.is_(None))
        return _pools_out(s, list(s.scalars(live.order_by(Pool.created_at).limit(limit))))


def set_trusted(db: Db, pool_key: str, trusted: bool) -> PoolTrust:
    """Mark a live pool trusted or not (by id or name).

    Raises:
        Problem: 404 no such pool.
    """
    with db.write() as s:
        pool = by_key(s, pool_key, lock=True)
        if pool is None:
            raise not_found("pool")
        changed = pool.trusted != trusted
        pool.trusted = trusted
        s.flush()
        return PoolTrust(changed=changed, pool=_pools_out(s, [pool])[0])


@router.post("/pools/{pool_key}/trust", response_model=PoolTrust)
def trust(pool_key: PoolKey, who: Operator, db: Db) -> PoolTrust:
    """Trust a pool: the work its head witnesses counts beyond the pool (the leaderboard)."""
    return set_trusted(db, pool_key, True)


@router.post("/pools/{pool_key}/untrust", response_model=PoolTrust)
def untrust(pool_key: PoolKey, who: Operator, db: Db) -> PoolTrust:
    """Trust a pool no more: its witness counts inside the pool only."""
    return set_trusted(db, pool_key, False)


@router.get("/users", response_model=list[OperatorUser])
def notable_users(who: Operator, db: Db) -> list[OperatorUser]:
    """The operators and the suspended users."""
    with db.read() as s:
        where = and_(  # a deleted account's anonymous stand-in is nobody to list
            or_(User.operator.is_(True), User.suspended_at.is_not(None)),
            User.password_hash != NO_PASSWORD,
        )
        return [_user_out(u) for u in oldest_first(s, User, where)]


def set_suspended(db: Db, email: str, suspend: bool) -> UserSuspension:
    """Suspend the account `email` (its tokens and keys stop at once) or lift that.

    Raises:
        Problem: 404 no such account; 409 suspending an operator.
    """
    with db.write() as s:
        user = find_user_by_email(s, email.lower())
        if user is None:
            raise no_account(email.lower())
        if suspend and user.operator:
            raise Conflict(
                "Operators are not suspended",
                f"{user.email} is an operator. Take the role away on the server first: "
                f"kalavai-like platform operator remove {user.email}",
            )
        changed = (user.suspended_at is not None) != suspend
        if changed:
            user.suspended_at = now() if suspend else None
        return UserSuspension(changed=changed, user=_user_out(user))


@router.post("/users/suspend", response_model=UserSuspension)
def suspend(body: UserIn, who: Operator, db: Db) -> UserSuspension:
    """Suspend a user: no log-in, no use of their sessions and keys, no new devices, and their
    devices earn nothing, from now until unsuspended."""
    return set_suspended(db, body.email, True)


@router.post("/users/unsuspend", response_model=UserSuspension)
def unsuspend(body: UserIn, who: Operator, db: Db) -> UserSuspension:
    """Lift a suspension: the user's keys and unexpired sessions work again."""
    return set_suspended(db, body.email, False)
