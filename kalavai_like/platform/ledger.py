"""A device's credit ledger: no credit without a witness.

Per device and resource (CPU, RAM, GPU; in seconds: core-s, GiB-s, GPU-s):
- measured: what its heartbeats' cumulative counters add up to;
- claimed: measured, within its declared hardware over the time it measured (`claim`);
- granted: no more than claimed, nor than what the pool's head witnessed (`settle`): CPU up to
  the witnessed compute, RAM up to the witnessed connected time x declared memory, GPU up to
  the witnessed compute x declared GPUs (none without declared GPUs), each x (1 +
  `witness_allowance`) for the skew between the device's sampler and the head's clock;
- unverified: claimed but not witnessed within `witness_window` of its heartbeat, or claimed
  in a pool whose template has no witness (generic); it stays unverified;
- pending: claimed, neither granted nor unverified yet; clamped: measured beyond claimed.
So measured = granted + pending + unverified + clamped. Granting runs when either side
arrives (a heartbeat, a witness report): granted = min(claimed - unverified, witnessed), never
less than before. A suspended user's devices are granted nothing while suspended.

Hardware caps are cumulative over the device's session (since it enrolled or rejoined), over
the time it measured: its own sample times (`Counters.sampled_at`), never more than the server's
clock allows since the session began. A late or reordered heartbeat therefore loses nothing,
a later one carries what an early cap deferred, and a lying clock cannot gain.

Granted credit is at the pool's weights; the leaderboard's at the platform's standard rates
(`std_recent_avg` is the recent average at those rates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kalavai_like.platform import credit, reliability
from kalavai_like.platform.schemas import Counters, Totals, Witnessed, WitnessKind
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.units import GIB

RESOURCES = ("cpu", "ram", "gpu")
# Templates whose work is witnessed: a Dask pool's head, a BOINC pool's project (its validated
# host credit, reported by the seed: kalavai_like.agent.boinc_witness).
WITNESSED_TEMPLATES = frozenset({"dask", "boinc"})
Triple = tuple[float, float, float]
_ZERO: Triple = (0.0, 0.0, 0.0)
# Column names per kind, built once: the heartbeat path reads and writes them on every request.
_KEYS = {
    kind: (f"{kind}_cpu", f"{kind}_ram", f"{kind}_gpu")
    for kind in (
        "base",
        "measured",
        "session",
        "claimed",
        "granted",
        "unverified",
        "mark",
        "clamped",
    )
}


@dataclass(frozen=True)
class Rules:
    """The settings the ledger follows (PlatformSettings)."""

    tolerance: float
    allowance: float
    window: float
    standard: credit.Weights

    @classmethod
    def of(cls, cfg: PlatformSettings) -> Rules:
        return cls(
            cfg.clamp_tolerance,
            cfg.witness_allowance,
            cfg.witness_window,
            credit.Weights.of(cfg.default_weights),
        )


def witness_kind(template: str, trusted: bool) -> WitnessKind:
    """Who backs a pool's granted credit: a trusted pool's head, its owner's, or nobody."""
    if template not in WITNESSED_TEMPLATES:
        return "none"
    return "trusted" if trusted else "owner"


def of(d: Mapping[str, Any], kind: str) -> Triple:
    """The CPU, RAM and GPU columns of one kind (`claimed` ...) of row `d`."""
    cpu, ram, gpu = _KEYS[kind]
    return d[cpu], d[ram], d[gpu]


def named(kind: str, values: Triple) -> dict[str, float]:
    """`values` as the CPU, RAM and GPU columns of one kind."""
    cpu, ram, gpu = _KEYS[kind]
    return {cpu: values[0], ram: values[1], gpu: values[2]}


def minus(a: Triple, b: Triple) -> Triple:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _span(d: Mapping[str, Any], t: float, sampled_at: float | None) -> tuple[float, float | None]:
    """The session's time measured over, and the device clock's reading at the session's start.

    The device's span runs from that reading to its latest sample; the first sample's reading
    is placed as if it had arrived at once. Never beyond the server's span, never shrinking.
    """
    server = t - d["session_at"]
    origin = d["sample_origin"]
    device = server
    if sampled_at is not None:
        if origin is None:
            origin = sampled_at - server
        device = sampled_at - origin
    return max(d["session_span"], min(server, device)), origin


def claim(d: Mapping[str, Any], counters: Counters, t: float, rules: Rules) -> dict[str, Any]:
    """The device's measured, session and claimed columns after a heartbeat's `counters` at `t`.

    A counter below the previous one (the agent's ledger started over) adds nothing and is the
    new baseline.
    """
    now_c = (counters.cpu_seconds, counters.ram_gb_seconds, counters.gpu_seconds)
    base, before = of(d, "base"), of(d, "session")
    deltas = _clip(minus(now_c, base))
    session = _plus(before, deltas)
    span, origin = _span(d, t, counters.sampled_at)
    hw = {"cores": d["cores"], "memory_bytes": d["memory_bytes"], "gpus": d["gpus"]}
    old_caps = credit.caps(d["session_span"], tolerance=rules.tolerance, **hw)
    new_caps = credit.caps(span, tolerance=rules.tolerance, **hw)
    # what this session may claim: its usage up to its hardware over its span, so far
    more = _clip(minus(_lower(session, new_caps), _lower(before, old_caps)))
    weights = credit.Weights(d["w_cpu"], d["w_ram"], d["w_gpu"])
    return {
        **named("base", now_c),
        **named("session", session),
        **named("claimed", _plus(of(d, "claimed"), more)),
        **named("measured", _plus(of(d, "measured"), deltas)),
        "measured_credit": d["measured_credit"] + weights.credit(*deltas),
        "session_span": span,
        "sample_origin": origin,
    }


def _plus(a: Triple, b: Triple) -> Triple:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _clip(a: Triple) -> Triple:
    """Each at least 0."""
    return (max(0.0, a[0]), max(0.0, a[1]), max(0.0, a[2]))


def _lower(a: Triple, b: Triple) -> Triple:
    return (min(a[0], b[0]), min(a[1], b[1]), min(a[2], b[2]))


def _higher(a: Triple, b: Triple) -> Triple:
    return (max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]))


def allowed(d: Mapping[str, Any], rules: Rules) -> Triple:
    """The most the device's witness backs: CPU, RAM and GPU seconds."""
    f = 1.0 + rules.allowance
    compute = d["witnessed_cpu"] * f
    ram = d["witnessed_connected"] * d["memory_bytes"] / GIB * f
    return compute, ram, compute * d["gpus"] if d["gpus"] > 0 else 0.0


def overdue(d: Mapping[str, Any], t: float) -> Triple:
    """The claimed level no witness can back any more at `t` (the mark's, or all claims once
    a window passed since the last claim)."""
    level = _ZERO
    if d["mark_due"] and t >= d["mark_due"]:
        level = of(d, "mark")
    if d["claim_due"] and t >= d["claim_due"]:
        level = of(d, "claimed")
    return level


@dataclass(frozen=True)
class Settled:
    """What one event changed: the device's new ledger columns, and what it adds to its day."""

    values: dict[str, Any]
    day: dict[str, float] = field(default_factory=dict)


def _granted(
    old: Mapping[str, Any], cur: Mapping[str, Any], t: float, rules: Rules
) -> tuple[Triple, Triple]:
    """The new granted and unverified levels: in a pool without a witness all claims are
    unverified; else first what is overdue turns unverified (final), then what the witness
    backs of the rest is granted (nothing while the user is suspended)."""
    claimed, granted, unverified = of(cur, "claimed"), of(old, "granted"), of(old, "unverified")
    if cur["template"] not in WITNESSED_TEMPLATES:
        return granted, minus(claimed, granted)
    new_u = _higher(unverified, minus(overdue(old, t), granted))
    if cur["suspended_at"] is not None:
        return granted, new_u
    return _higher(granted, _lower(minus(claimed, new_u), allowed(cur, rules))), new_u


def settle(old: Mapping[str, Any], cur: Mapping[str, Any], t: float, rules: Rules) -> Settled:
    """Grant what the witness backs, and write off what is overdue, at `t`.

    `old` is the device row as read, with its pool's `template` and weights (`w_cpu`, `w_ram`,
    `w_gpu`) and its user's `suspended_at`; `cur` is the same with this event's claims or
    witness applied.
    """
    claimed, granted, unverified = of(cur, "claimed"), of(old, "granted"), of(old, "unverified")
    new_g, new_u = _granted(old, cur, t, rules)
    values: dict[str, Any] = {**named("granted", new_g), **named("unverified", new_u)}
    if t >= old["mark_due"]:  # the mark moves on: what is claimed now is due a window later
        values.update(named("mark", claimed), mark_due=t + rules.window)
    else:
        values.update(named("mark", of(old, "mark")), mark_due=old["mark_due"])
    dg, du = minus(new_g, granted), minus(new_u, unverified)
    weights = credit.Weights(cur["w_cpu"], cur["w_ram"], cur["w_gpu"])
    gc, uc = weights.credit(*dg), weights.credit(*du)
    start = cur["created_at"]
    avg, avg_time = credit.update_average(t, start, gc, old["recent_avg"], old["recent_avg_time"])
    std = rules.standard.credit(*dg)
    std_avg, _ = credit.update_average(t, start, std, old["std_recent_avg"], old["recent_avg_time"])
    values.update(
        credit=old["credit"] + gc, recent_avg=avg, recent_avg_time=avg_time, std_recent_avg=std_avg
    )
    day = {"cpu": dg[0], "ram": dg[1], "gpu": dg[2], "credit": gc, **named("unverified", du)}
    day["unverified_credit"] = uc
    return Settled(values, day)


@dataclass
class Split:
    """One device's or many devices' usage, split: granted (witnessed), pending, unverified,
    clamped (beyond the hardware) and measured. Each bucket is (cpu, ram, gpu, credit) in
    seconds; `recent` is the granted recent average decayed to the time of reading."""

    granted: list[float] = field(default_factory=lambda: [0.0] * 4)
    pending: list[float] = field(default_factory=lambda: [0.0] * 4)
    unverified: list[float] = field(default_factory=lambda: [0.0] * 4)
    clamped: list[float] = field(default_factory=lambda: [0.0] * 4)
    measured: list[float] = field(default_factory=lambda: [0.0] * 4)
    recent: float = 0.0

    def add(self, d: Mapping[str, Any], weights: credit.Weights, t: float) -> None:
        """Add device row `d` (its pool's weights `weights`) as of `t`."""
        claimed, granted, measured = of(d, "claimed"), of(d, "granted"), of(d, "measured")
        owed = minus(claimed, granted)
        unverified = _lower(owed, _higher(of(d, "unverified"), minus(overdue(d, t), granted)))
        pending = minus(owed, unverified)
        _add(self.granted, granted, d["credit"])
        _add(self.pending, pending, weights.credit(*pending))
        _add(self.unverified, unverified, weights.credit(*unverified))
        clamped = minus(measured, claimed)
        _add(self.clamped, clamped, weights.credit(*clamped))
        _add(self.measured, measured, d["measured_credit"])
        self.recent += credit.decayed(d["recent_avg"], d["recent_avg_time"], t)

    def hours(self, bucket: str) -> dict[str, float]:
        """One bucket as the API's Totals fields (a plain dict)."""
        cpu, ram, gpu, cr = getattr(self, bucket)
        return credit.hours(cpu, ram, gpu, cr, self.recent if bucket == "granted" else 0.0)

    def totals(self, bucket: str) -> Totals:
        return Totals(**self.hours(bucket))


def _add(bucket: list[float], usage: Triple, cr: float) -> None:
    bucket[0] += usage[0]
    bucket[1] += usage[1]
    bucket[2] += usage[2]
    bucket[3] += cr


def split(d: Mapping[str, Any], weights: credit.Weights, t: float) -> Split:
    """One device's split as of `t`."""
    one = Split()
    one.add(d, weights, t)
    return one


def witnessed_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    """What the head witnessed of device `d`, and its ratio to the CPU the device measured
    (the fields of Witnessed, as a plain dict)."""
    measured = d["measured_cpu"]
    return {
        "tasks": d["witnessed_tasks"],
        "compute_seconds": d["witnessed_cpu"],
        "connected_seconds": d["witnessed_connected"],
        "ratio": d["witnessed_cpu"] / measured if measured > 0 else None,
        "results": reliability.of(d),
    }


def witnessed(d: Mapping[str, Any]) -> Witnessed:
    return Witnessed(**witnessed_fields(d))


def new_session(d: Any, t: float) -> None:
    """Start ORM Device `d`'s session at `t` (enrolment or rejoin; its counters restart at 0)."""
    d.session_at, d.sample_origin, d.session_span = t, None, 0.0
    d.session_cpu = d.session_ram = d.session_gpu = 0.0


def row(d: Any) -> dict[str, Any]:
    """An ORM Device as the mapping the functions above read."""
    return {c.key: getattr(d, c.key) for c in d.__table__.columns}
