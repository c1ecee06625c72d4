"""HTTP routers of the platform, one module per resource, and what they share: the id path
parameter and revoking a row (an account key, a join token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path
from sqlalchemy.orm import Session

from kalavai_like.platform.models import now
from kalavai_like.platform.problems import not_found

HexId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
"""A row's id in a path: 32 lowercase hex digits."""


def revoke(
    s: Session, model: type[Any], row_id: str, what: str, mine: Callable[[Any], bool]
) -> None:
    """Mark the row `row_id` of `model` revoked; revoking it again changes nothing.

    Raises:
        Problem: 404 naming `what`, if there is no such row or `mine(row)` is false.
    """
    row = s.get(model, row_id)
    if row is None or not mine(row):
        raise not_found(what)
    if row.revoked_at is None:
        row.revoked_at = now()
