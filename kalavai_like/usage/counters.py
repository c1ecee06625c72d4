"""The ledger's values: contributed `Counters`, one sampling interval (`Sample`), one appended
cumulative row (`LedgerRow`) and one day's totals (`DayTotals`). Plain frozen dataclasses.

RAM uses GiB (2**30 bytes), like `podman --memory 4g` and the preference sizes.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

GIB = 2**30


@dataclass(frozen=True)
class Counters:
    """Contributed resources: CPU core-seconds, RAM GiB-seconds and GPU-seconds."""

    cpu_seconds: float = 0.0
    ram_gb_seconds: float = 0.0
    gpu_seconds: float = 0.0

    def __add__(self, other: Counters) -> Counters:
        return self._each(other, operator.add)

    def __sub__(self, other: Counters) -> Counters:
        return self._each(other, operator.sub)

    def _each(self, other: Counters, op: Callable[[float, float], float]) -> Counters:
        return Counters(
            op(self.cpu_seconds, other.cpu_seconds),
            op(self.ram_gb_seconds, other.ram_gb_seconds),
            op(self.gpu_seconds, other.gpu_seconds),
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """One sampling interval, as the sampler hands it to `Ledger.append`.

    `delta` is what was given during the interval that ended at `wall`/`mono`, while in `state`;
    `source_*` and `memory_bytes` are the raw worker readings at its end, kept so that a
    restarted sampler can carry on from the ledger's latest row.
    """

    wall: float
    mono: float
    boot_id: str
    state: str
    delta: Counters
    source_id: str = ""
    source_cpu_seconds: float = 0.0
    memory_bytes: int = 0


@dataclass(frozen=True)
class LedgerRow:
    """One appended row: cumulative `counters` at sample time, with sequence number `seq`."""

    seq: int
    wall: float
    mono: float
    boot_id: str
    state: str
    counters: Counters
    source_id: str = ""
    source_cpu_seconds: float = 0.0
    memory_bytes: int = 0


@dataclass(frozen=True)
class DayTotals:
    """What was given on one local calendar day."""

    day: dt.date
    counters: Counters

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), **self.counters.to_dict()}


EMPTY = LedgerRow(0, 0.0, 0.0, "", "paused", Counters())  # before the first row
