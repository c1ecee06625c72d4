"""Per-user limits that keep one free account from using up what everyone shares: the pools it
owns (each holds a subnet), its devices in one pool (each holds an address), and the join
tokens it mints per hour. The limits are settings (kalavai_like.platform.settings).

Each check runs inside the caller's write transaction; the pool and mint checks first lock the
user's row, so two concurrent requests of one user are counted one after the other
(PostgreSQL; SQLite's write lock already serialises them). The device check relies on the
caller holding the pool's row locked.
"""

from __future__ import annotations

import math

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kalavai_like.errors import Conflict
from kalavai_like.platform.models import Device, JoinTokenRow, Pool, User
from kalavai_like.platform.problems import Problem
from kalavai_like.platform.settings import PlatformSettings

MINT_WINDOW = 3600.0


def _lock_user(s: Session, user_id: str) -> None:
    s.execute(select(User.id).where(User.id == user_id).with_for_update())


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"


def check_pools(s: Session, cfg: PlatformSettings, user_id: str, t: float) -> None:
    """Refuse a new pool past `max_pools_per_user` (deleted pools count during their hold-back).

    Raises:
        Problem: 409 naming the limit.
    """
    _lock_user(s, user_id)
    counted = s.execute(
        select(func.count(), func.count(Pool.deleted_at)).where(
            Pool.owner_id == user_id,
            or_(Pool.deleted_at.is_(None), Pool.deleted_at > t - cfg.address_holdback),
        )
    ).one()
    owned, deleted = int(counted[0]), int(counted[1])
    if owned < cfg.max_pools_per_user:
        return
    also = (
        f" ({deleted} of them deleted: a deleted pool counts for {_hours(cfg.address_holdback)} "
        "while its addresses are held back)"
        if deleted
        else ""
    )
    raise Problem(
        409,
        Conflict(
            "Pool limit reached",
            f"You own {owned} pools{also}; one account may own at most "
            f"{cfg.max_pools_per_user} on this platform. Delete one you no longer need "
            "(kalavai-like pool delete NAME --yes) and try again.",
        ),
    )


def check_devices(s: Session, cfg: PlatformSettings, pool: Pool, user_id: str) -> None:
    """Refuse one more live worker of `user_id` in `pool` past `max_devices_per_user`.

    Raises:
        Problem: 409 naming the limit.
    """
    live = s.scalar(
        select(func.count()).where(
            Device.pool_id == pool.id,
            Device.user_id == user_id,
            Device.role == "worker",
            Device.left_at.is_(None),
        )
    )
    if int(live or 0) < cfg.max_devices_per_user:
        return
    raise Problem(
        409,
        Conflict(
            "Device limit reached",
            f"You have {live} devices in pool '{pool.name}'; one volunteer may have at most "
            f"{cfg.max_devices_per_user} in a pool. Let one of them leave the pool first.",
        ),
    )


def check_mints(s: Session, cfg: PlatformSettings, user_id: str, t: float) -> None:
    """Refuse a join token past `token_mints_per_hour` tokens of this user in the last hour.

    Raises:
        Problem: 429 with Retry-After, naming the limit.
    """
    _lock_user(s, user_id)
    counted = s.execute(
        select(func.count(), func.min(JoinTokenRow.created_at)).where(
            JoinTokenRow.created_by == user_id, JoinTokenRow.created_at > t - MINT_WINDOW
        )
    ).one()
    minted, oldest = int(counted[0]), counted[1]
    if minted < cfg.token_mints_per_hour:
        return
    retry = max(1, math.ceil(oldest + MINT_WINDOW - t))
    raise Problem(
        429,
        Conflict(
            "Too many join tokens",
            f"You made {minted} join tokens in the last hour; one account may make at most "
            f"{cfg.token_mints_per_hour} per hour. Wait {retry} seconds, or give one token "
            "several uses (kalavai-like pool token --uses N).",
        ),
        {"Retry-After": str(retry)},
    )
