"""The usage history the contributions chart shows: the ledger's cumulative rows turned into
average rates (CPU cores, GiB of memory, GPUs) over fixed steps, without Qt.

Each interval between two consecutive rows spreads its counter deltas over the steps it overlaps,
in proportion to time. A step's rate is what was given divided by the seconds of it the ledger
covered, so a paused step reads 0 and a step the agent was down for gets no point at all: an
interval longer than `max_gap` (the agent was not sampling) counts as a gap, not as a fake
average over the outage.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from kalavai_like.client.records import UsagePoint
from kalavai_like.errors import InvalidInput
from kalavai_like.usage.ledger import LedgerRow

MAX_POINTS = 500
MIN_STEP = 1.0
DEFAULT_MAX_GAP = 120.0  # seconds between samples beyond which the agent is taken as down


def check_request(since: float, step: float, now: float) -> None:
    """Refuse a history request that is malformed or would give more than MAX_POINTS points.

    Raises:
        InvalidInput: `since` or `step` is not a finite number, `step` is below MIN_STEP, or
            the range holds more than MAX_POINTS steps.
    """
    if not (isinstance(since, int | float) and math.isfinite(since)):
        raise InvalidInput("Bad history request", "since must be a time in seconds since 1970.")
    if not (isinstance(step, int | float) and math.isfinite(step)) or step < MIN_STEP:
        raise InvalidInput("Bad history request", f"step must be at least {MIN_STEP:g} second.")
    if (now - since) / step > MAX_POINTS:
        raise InvalidInput(
            "History request too large",
            f"{now - since:.0f} s in steps of {step:g} s is more than {MAX_POINTS} points; "
            "ask for a larger step or a shorter range.",
        )


def usage_points(
    rows: Sequence[LedgerRow],
    since: float,
    step: float,
    now: float,
    *,
    max_gap: float = DEFAULT_MAX_GAP,
) -> list[UsagePoint]:
    """Average rates per `step` from `since` to `now`, oldest first (see the module docstring).

    `rows` are one membership's rows in sequence order; the one just before `since` should be
    included so the first step has its start. Steps are aligned to multiples of `step`.
    """
    check_request(since, step, now)
    if now <= since:
        return []
    origin = math.floor(since / step) * step
    n = max(1, math.ceil((now - origin) / step))
    covered = [0.0] * n
    given = [[0.0, 0.0, 0.0] for _ in range(n)]
    last_at = [0.0] * n
    for a, b in itertools.pairwise(rows):
        span = b.wall - a.wall
        if span <= 0 or span > max_gap or b.wall <= since or a.wall >= now:
            continue
        d = b.counters - a.counters
        delta = (max(0.0, d.cpu_seconds), max(0.0, d.ram_gb_seconds), max(0.0, d.gpu_seconds))
        lo, hi = max(a.wall, since), min(b.wall, now)
        first = int((lo - origin) // step)
        for k in range(max(0, first), n):
            start, end = origin + k * step, origin + (k + 1) * step
            overlap = min(hi, end) - max(lo, start)
            if start >= hi:
                break
            if overlap <= 0:
                continue
            share = overlap / span
            covered[k] += overlap
            for i in range(3):
                given[k][i] += delta[i] * share
            last_at[k] = max(last_at[k], min(hi, end))
    out = []
    for k in range(n):
        if covered[k] > 0:
            cpu, ram, gpu = (x / covered[k] for x in given[k])
            out.append(UsagePoint(last_at[k], cpu, ram, gpu))
    return out
