"""Deleting an account: its devices leave their pools, its credit rows pass to an anonymous
stand-in (a fresh id, no email anyone could read, no password, never on a leaderboard), and
its email, display name, password, sessions, account keys and reset links are gone.

An owner of live pools is refused: deleting those pools is a decision about other volunteers'
work, so the owner makes it first (`pool delete`), and the volunteers keep their credit.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from kalavai_like.errors import Conflict
from kalavai_like.platform.api.devices import leave
from kalavai_like.platform.models import (
    AccountKey,
    ApiToken,
    Device,
    JoinTokenRow,
    LoginFailure,
    PasswordReset,
    Pool,
    UsageDay,
    User,
    new_id,
    now,
)

DELETED_NAME = "deleted user"
NO_PASSWORD = "!"  # noqa: S105 - not a hash: no password ever matches it


def _refuse_owner(s: Session, user_id: str) -> None:
    names = s.scalars(
        select(Pool.name).where(Pool.owner_id == user_id, Pool.deleted_at.is_(None))
    ).all()
    if names:
        listed = ", ".join(sorted(names))
        raise Conflict(
            "You own pools",
            f"Delete your pools first ({listed}): kalavai-like pool delete NAME, or the Delete "
            "button on the pool's page. Their volunteers keep the credit they earned.",
        )


def erase_user(s: Session, user: User) -> set[str]:
    """Delete `user` as the module says, in the caller's transaction; the pools whose peer
    lists changed (their agents are to be told).

    Raises:
        Conflict: the user owns pools that are not deleted.
    """
    _refuse_owner(s, user.id)
    t = now()
    stand_id = new_id()
    stand_in = User(
        id=stand_id, email=f"deleted-{stand_id}@deleted.invalid", password_hash=NO_PASSWORD,
        display_name=DELETED_NAME, created_at=t, suspended_at=t,
    )  # fmt: skip
    s.add(stand_in)
    s.flush()
    changed: set[str] = set()
    for device in s.scalars(select(Device).where(Device.user_id == user.id)):
        if device.left_at is None:
            leave(s, device)
            changed.add(device.pool_id)
        device.user_id, device.name, device.reason = stand_in.id, f"device-{device.id[:8]}", None
    moves = (
        (UsageDay, UsageDay.user_id, "user_id"),
        (Pool, Pool.owner_id, "owner_id"),
        (JoinTokenRow, JoinTokenRow.created_by, "created_by"),
    )
    for model, column, name in moves:
        s.execute(update(model).where(column == user.id).values({name: stand_in.id}))
    s.execute(
        update(JoinTokenRow)
        .where(JoinTokenRow.created_by == stand_in.id, JoinTokenRow.revoked_at.is_(None))
        .values(revoked_at=t)
    )
    for owned in (ApiToken.user_id, AccountKey.user_id, PasswordReset.user_id):
        s.execute(delete(owned.class_).where(owned == user.id))
    s.execute(delete(LoginFailure).where(LoginFailure.key == f"email:{user.email}"))
    s.delete(user)
    return changed
