"""Redundant computing on a pool's Dask cluster, BOINC style: results you can trust from
strangers' machines.

`run_redundant(client, fn, inputs, Redundancy(min_quorum=2, target_nresults=3))` runs `fn` on
each input (a workunit) as several results on distinct volunteers, compares their outputs and
returns, per workunit, the canonical output and its state. Placement and retries are Dask's:
each result is a task restricted (`workers=`, `allow_other_workers=False`) to the workers of
one volunteer that has no other result of that workunit, with the workunit's `priority=`.
A volunteer is a user, not a machine: workers are grouped by the user the pool head's witness
names for them (the `kalavai_identities` handler of kalavai_witness), or by `identity()`.

With `adaptive=True` (BOINC's adaptive replication) a workunit whose first result goes to a
trusted volunteer (`trusted_after` consecutive results that others' results agreed with) is
sent once and taken as it comes back, except for a `spot_check` share replicated as usual; an
invalid or failed result ends that trust. Pass the same `trust` dict to later runs to keep it.

Outcomes (valid / invalid / error per result's task key) go to the head's witness (the
`kalavai_outcomes` handler), which credits valid results and keeps invalid ones uncredited.

Pure Python over `distributed`, shipped in the kalavai-like dask image next to
kalavai_witness; nothing else of kalavai-like is needed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from distributed import get_worker

log = logging.getLogger("kalavai_redundancy")

KEY_PREFIX = "kalavai-redundant-"  # the witness holds such tasks' credit until validated
DONE = "done"
IN_PROGRESS = "in progress"
TOO_MANY_ERRORS = "too many errors"
TOO_MANY_RESULTS = "too many results"
NO_CONSENSUS = "no consensus"
NOT_SENDABLE = "not sendable"
WAITING = "waiting for volunteers"  # fewer eligible volunteers than the workunit needs


@dataclass(frozen=True)
class Redundancy:
    """BOINC's workunit attributes (defaults: BOINC's create_work, delay_bound aside).

    `when_short`: what a workunit does when it needs a result and no volunteer without one of
    its results is connected: "wait" (for one to join, at most `send_timeout` s, None: for
    ever) or "error" (at once); both end "not sendable". `buffer`: results outstanding per
    thread of a volunteer; `delay_bound` counts from when a result was sent to its volunteer.
    """

    min_quorum: int = 1
    target_nresults: int | None = None
    max_error_results: int = 3
    max_total_results: int = 10
    max_success_results: int = 6
    delay_bound: float | None = 3600.0
    priority: int = 0
    when_short: str = "wait"
    send_timeout: float | None = None
    buffer: int = 2
    adaptive: bool = False
    trusted_after: int = 10
    spot_check: float = 0.1

    @property
    def target(self) -> int:
        return self.min_quorum if self.target_nresults is None else self.target_nresults

    def check(self) -> None:
        """Raises ValueError naming the first attribute out of range."""
        if self.min_quorum < 1:
            raise ValueError("min_quorum must be at least 1")
        if self.target < self.min_quorum:
            raise ValueError("target_nresults must be at least min_quorum")
        if self.max_total_results < self.target:
            raise ValueError("max_total_results must be at least target_nresults")
        if self.max_success_results < self.min_quorum or self.max_error_results < 0:
            raise ValueError("max_success_results must be >= min_quorum, max_error_results >= 0")
        if self.when_short not in ("wait", "error"):
            raise ValueError('when_short must be "wait" or "error"')
        if self.buffer < 1 or (self.delay_bound is not None and self.delay_bound <= 0):
            raise ValueError("buffer must be at least 1 and delay_bound positive")
        if self.trusted_after < 1 or not 0 <= self.spot_check <= 1:
            raise ValueError("trusted_after must be at least 1 and spot_check within 0..1")


@dataclass
class Result:
    """One instance of a workunit on one volunteer. `outcome`: in progress, success, error,
    timed out, not needed; after validation valid or invalid."""

    key: str
    user: str
    sent: float
    outcome: str = IN_PROGRESS
    worker: str = ""  # the worker's name, as it ran the result
    value: Any = None
    error: str = ""
    received: float | None = None


@dataclass
class Workunit:
    """One input: its results, state (in progress, done, error) and, when done, the canonical
    output and the volunteers whose results agreed."""

    index: int
    arg: Any
    priority: int
    state: str = IN_PROGRESS
    error: str = ""
    canonical: Any = None
    agreed: list[str] = field(default_factory=list)  # users
    results: list[Result] = field(default_factory=list)
    waiting_since: float | None = None
    finished: float | None = None
    single: bool = False  # sent once, to a trusted volunteer (adaptive replication)

    def count(self, *outcomes: str) -> int:
        return sum(r.outcome in outcomes for r in self.results)


@dataclass
class Report:
    """What a redundant run returns: the workunits, in the order of the inputs, and each
    user's count of consecutive results agreed with (adaptive replication's record)."""

    workunits: list[Workunit]
    trust: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(w.state == DONE for w in self.workunits)

    def values(self) -> list[Any]:
        """The canonical outputs (None for a workunit in error)."""
        return [w.canonical for w in self.workunits]


def _call(fn: Callable[[Any], Any], arg: Any) -> tuple[str, Any]:
    """Runs on the worker: the worker's name, and `fn(arg)`."""
    return str(get_worker().name), fn(arg)


def exact(a: Any, b: Any) -> bool:
    """The default comparison: equal outputs (an ambiguous comparison counts as unequal)."""
    try:
        return bool(a == b)
    except Exception:  # numpy arrays and the like: pass your own compare
        return False


def consensus(values: list[Any], compare: Callable[[Any, Any], bool]) -> list[int]:
    """The indices of the largest group of agreeing values, when a strict majority agree."""
    groups: list[list[int]] = []
    for i, v in enumerate(values):
        for g in groups:
            if compare(values[g[0]], v):
                g.append(i)
                break
        else:
            groups.append([i])
    best = max(groups, key=len, default=[])
    return best if 2 * len(best) > len(values) else []


def witness_identities(client: Any) -> Callable[[str, dict[str, Any]], str | None]:
    """Worker -> user from the pool head's witness; without one, each worker is its own
    volunteer (its registered name), which cannot tell one user's machines apart."""
    try:
        known = client.sync(client.scheduler.kalavai_identities)
    except Exception:  # a scheduler without the witness plugin
        log.warning("no witness identities: each worker counts as its own volunteer")
        return lambda address, info: str(info.get("name", address))

    asked = [time.monotonic()]

    def user(address: str, info: dict[str, Any]) -> str | None:
        if address not in known and time.monotonic() - asked[0] > 2.0:  # it may be new
            asked[0] = time.monotonic()
            known.update(client.sync(client.scheduler.kalavai_identities))
        found = known.get(address)
        return str(found["user"]) if found else None  # unknown to the witness: never used

    return user


def run_redundant(
    client: Any,
    fn: Callable[[Any], Any],
    inputs: Iterable[Any],
    policy: Redundancy | None = None,
    *,
    compare: Callable[[Any, Any], bool] = exact,
    identity: Callable[[str, dict[str, Any]], str | None] | None = None,
    report_outcomes: bool = True,
    tick: float = 0.1,
    trust: dict[str, int] | None = None,
) -> Report:
    """Run `fn` over `inputs` redundantly on `client`'s cluster; returns when every workunit
    is done or in error. `identity(address, worker_info)` names a worker's user (None: never
    use it); by default the witness's. `trust` (updated in place): the record adaptive
    replication starts from."""
    from kalavai_redundancy.engine import Engine  # late: the engine imports this module

    p = policy or Redundancy()
    p.check()
    units = [Workunit(i, a, p.priority) for i, a in enumerate(inputs)]
    record = {} if trust is None else trust
    engine = Engine(client, fn, p, compare, identity or witness_identities(client), record)
    engine.prefix = f"{KEY_PREFIX}{uuid.uuid4().hex[:12]}-"
    engine.report = report_outcomes
    engine.run(units, tick)
    return Report(units, record)
