"""What a pool says about itself on its public page: the owner's words (a description, what
the pool computes, who runs it), bounded here, and the page's one count of its own (active
volunteers). The texts are stored on the pool (models.Pool) and shown autoescaped."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kalavai_like.platform.models import Device

DESCRIPTION_MAX, COMPUTES_MAX, RUN_BY_MAX = 2000, 200, 120
# A volunteer is active while one of their devices runs and heartbeats within this window.
ACTIVE_WINDOW = 900.0

# Paragraphs may hold newlines and tabs; no other control character, no NUL.
Prose = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=DESCRIPTION_MAX,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
    ),
]
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
Computes = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=COMPUTES_MAX, pattern=_ONE_LINE)
]
RunBy = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=RUN_BY_MAX, pattern=_ONE_LINE)
]

# What a form field gets told when its text breaks the bounds (never the pattern itself).
LIMITS = {
    "description": f"A description is at most {DESCRIPTION_MAX} characters of plain text.",
    "computes": f"Say what it computes in one line of at most {COMPUTES_MAX} characters.",
    "run_by": f"Say who runs it in one line of at most {RUN_BY_MAX} characters.",
}


class PoolAbout(BaseModel):
    """A pool's own words for its public page; empty strings where the owner gave none."""

    model_config = ConfigDict(extra="ignore")

    description: Prose = ""
    computes: Computes = ""
    run_by: RunBy = ""


def active_volunteers(s: Session, pool_id: str, t: float) -> int:
    """People with a worker of the pool that runs and heartbeated within ACTIVE_WINDOW."""
    d = Device
    n = s.scalar(
        select(func.count(func.distinct(d.user_id))).where(
            d.pool_id == pool_id,
            d.role == "worker",
            d.left_at.is_(None),
            d.state == "running",
            d.last_heartbeat_at >= t - ACTIVE_WINDOW,
        )
    )
    return int(n or 0)
