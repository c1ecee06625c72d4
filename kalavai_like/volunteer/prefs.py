"""Volunteer preferences: what the pool may use, and when, with validation a person can act on.

`Prefs` is a frozen dataclass. The CLI's `prefs set KEY VALUE` / `prefs reset [KEY]` go through
`Prefs.set` / `Prefs.reset`, which parse people's notation (sizes 4G, durations 1h30m and
percentages 50% as kalavai_like.units reads them, on/off, weekly schedules
"mon-fri 18:00-08:00, sat-sun all", pause until 15:00) and raise InvalidInput naming the key
("memory cap 64G exceeds this machine's 23G").
`to_toml` / `from_toml` give a hand-editable TOML table. Sizes use GiB (2**30), like podman.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from kalavai_like.container.spec import Limits
from kalavai_like.errors import InvalidInput
from kalavai_like.units import (
    OFF_WORDS,
    ON_WORDS,
    format_duration,
    format_size,
    parse_duration,
    parse_percent,
    parse_size,
    parse_until,
)
from kalavai_like.volunteer.schedule import Schedule

_TRUE, _FALSE = ON_WORDS, OFF_WORDS
MIN_MEMORY = 128 * 2**20


@dataclass(frozen=True)
class Hardware:
    """What this machine has (kalavai_like.volunteer.hostinfo.hardware() measures it)."""

    cores: int
    memory_bytes: int
    gpus: int = 0


@dataclass(frozen=True)
class Amount:
    """A CPU or memory amount: absolute (cores, bytes) or a percentage of the machine."""

    value: float
    percent: bool = False

    def of(self, total: float) -> float:
        return total * self.value / 100 if self.percent else self.value


@dataclass(frozen=True)
class Profile:
    """Limits for one situation (computer in use, or idle)."""

    cpu: Amount
    memory: Amount
    gpu: bool

    def limits(self, hw: Hardware) -> Limits:
        """These limits on `hw`, never above what it has and never below a workable minimum."""
        cpus = max(0.01, min(self.cpu.of(hw.cores), float(hw.cores)))
        memory = int(min(self.memory.of(hw.memory_bytes), hw.memory_bytes))
        return Limits(round(cpus, 2), max(memory, MIN_MEMORY), hw.gpus if self.gpu else 0)


@dataclass(frozen=True)
class Prefs:
    """A volunteer's preferences (see `KEYS` for each field's meaning)."""

    in_use: Profile = Profile(Amount(50, True), Amount(25, True), gpu=False)
    idle: Profile = Profile(Amount(100, True), Amount(50, True), gpu=True)
    idle_only: bool = False
    idle_after: float = 300.0
    load_pause: float | None = None
    load_pause_after: float = 30.0
    load_resume_after: float = 60.0
    battery_pause: bool = True
    battery_resume: float | None = None
    schedule: Schedule = field(default_factory=lambda: Schedule.parse(""))
    paused_until: dt.datetime | None = None
    run_anyway: dt.datetime | None = None  # rules set aside until then (UNTIL_PAUSED: no end)

    # -- the CLI's key/value view ----------------------------------------------------------
    def set(
        self, key: str, value: str, hardware: Hardware | None = None, now: dt.datetime | None = None
    ) -> Prefs:
        """A copy with `key` set from the text `value`, validated against `hardware`.

        Raises:
            InvalidInput: unknown key, value that does not parse, or beyond this machine.
        """
        key = _canonical(key)
        text = value.strip()
        try:
            new: Prefs = _SETTERS[key](self, text, now or dt.datetime.now().astimezone())
        except ValueError as exc:
            raise InvalidInput(f"Invalid value for {key}", str(exc)) from None
        if hardware is not None:
            new.validate(hardware)
        return new

    def reset(self, key: str | None = None) -> Prefs:
        """A copy with `key` (or everything) back to its default."""
        if key is None:
            return Prefs()
        key = _canonical(key)
        default = Prefs()
        if "." not in key and hasattr(default, key):
            return replace(self, **{key: getattr(default, key)})
        sections = ("in_use", "idle") if "." not in key else (key.partition(".")[0],)
        attr = key.rpartition(".")[2]
        changes = {
            s: replace(getattr(self, s), **{attr: getattr(getattr(default, s), attr)})
            for s in sections
        }
        return replace(self, **changes)

    def get(self, key: str) -> str:
        """The current value of `key` as people write it."""
        key = _canonical(key)
        flat = self.to_flat()
        if key in ("cpu", "memory", "gpu"):
            in_use, idle = flat[f"in_use.{key}"], flat[f"idle.{key}"]
            return in_use if in_use == idle else f"{in_use} in use, {idle} idle"
        return flat[key]

    def to_flat(self) -> dict[str, str]:
        """Every key with its value as text (what `prefs show` prints)."""
        until = self.paused_until.isoformat(timespec="seconds") if self.paused_until else "off"
        return {
            "in_use.cpu": _fmt_cpu(self.in_use.cpu),
            "in_use.memory": _fmt_mem(self.in_use.memory),
            "in_use.gpu": _fmt_bool(self.in_use.gpu),
            "idle.cpu": _fmt_cpu(self.idle.cpu),
            "idle.memory": _fmt_mem(self.idle.memory),
            "idle.gpu": _fmt_bool(self.idle.gpu),
            "idle_only": _fmt_bool(self.idle_only),
            "idle_after": format_duration(self.idle_after),
            "load_pause": "off" if self.load_pause is None else f"{self.load_pause:g}%",
            "load_pause_after": format_duration(self.load_pause_after),
            "load_resume_after": format_duration(self.load_resume_after),
            "battery_pause": _fmt_bool(self.battery_pause),
            "battery_resume": "off" if self.battery_resume is None else f"{self.battery_resume:g}%",
            "schedule": self.schedule.text,
            "paused_until": until,
            "run_anyway": _fmt_anyway(self.run_anyway),
        }

    def to_toml(self) -> dict[str, Any]:
        """A TOML-ready table (strings for amounts, so the file reads like the CLI)."""
        flat = self.to_flat()
        out: dict[str, Any] = {"in_use": {}, "idle": {}}
        for key, text in flat.items():
            section, _, name = key.rpartition(".")
            (out[section] if section else out)[name] = text
        return out

    @classmethod
    def from_toml(cls, data: dict[str, Any], hardware: Hardware | None = None) -> Prefs:
        """Prefs from a TOML table (missing keys take defaults).

        Raises:
            InvalidInput: a key is unknown or a value is invalid (the message names it).
        """
        prefs = cls()
        now = dt.datetime.now().astimezone()
        for key, value in data.items():
            if isinstance(value, dict) and key in ("in_use", "idle"):
                for sub, v in value.items():
                    prefs = prefs.set(f"{key}.{sub}", _toml_text(v), None, now)
            else:
                prefs = prefs.set(key, _toml_text(value), None, now)
        if hardware is not None:
            prefs.validate(hardware)
        return prefs

    def validate(self, hw: Hardware) -> None:
        """Raises InvalidInput if a limit is beyond what this machine has."""
        for name, profile in (("in_use", self.in_use), ("idle", self.idle)):
            if not profile.cpu.percent and profile.cpu.value > hw.cores:
                raise InvalidInput(
                    f"Invalid value for {name}.cpu",
                    f"cpu {profile.cpu.value:g} exceeds this machine's {hw.cores} cores",
                )
            if not profile.memory.percent and profile.memory.value > hw.memory_bytes:
                raise InvalidInput(
                    f"Invalid value for {name}.memory",
                    f"memory cap {format_size(profile.memory.value)} exceeds this machine's "
                    f"{format_size(hw.memory_bytes)}",
                )


KEYS: dict[str, str] = {
    "cpu": "CPU the pool may use, in use and idle: cores (2) or a share (50%)",
    "memory": "memory cap, in use and idle: a size (4G) or a share (50%)",
    "gpu": "let the pool use the GPUs, in use and idle: on/off",
    "in_use.cpu": "CPU while you use the computer",
    "in_use.memory": "memory cap while you use the computer",
    "in_use.gpu": "GPUs while you use the computer (off keeps games smooth)",
    "idle.cpu": "CPU while the computer is idle",
    "idle.memory": "memory cap while the computer is idle",
    "idle.gpu": "GPUs while the computer is idle",
    "idle_only": "compute only when the computer is idle: on/off",
    "idle_after": "no keyboard/mouse input for this long means idle (5m)",
    "load_pause": "pause when other programs use more CPU than this (80%), or off",
    "load_pause_after": "... for this long (30s)",
    "load_resume_after": "resume after the load stayed below for this long (1m)",
    "battery_pause": "pause on battery: on/off",
    "battery_resume": "on battery, compute anyway above this charge (90%), or off",
    "schedule": 'allowed hours, e.g. "mon-fri 18:00-08:00, sat-sun all" (all = always)',
    "paused_until": "pause until a time (15:00, tomorrow 08:00) or for a while (1h), or off",
    "run_anyway": "compute anyway, setting the rules above aside, for a while (1h), until a "
    "time (15:00), until you pause (on), or off",
}


def _canonical(key: str) -> str:
    k = key.strip().lower().replace("-", "_")
    if k not in KEYS:
        raise InvalidInput(f"Unknown preference {key!r}", f"Known keys: {', '.join(KEYS)}.")
    return k


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


# -- parsing people's notation (sizes, durations, percentages: kalavai_like.units) -------
def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE | _FALSE:
        return t in _TRUE
    raise ValueError(f"{text!r} is not on or off")


def _cpu(text: str) -> Amount:
    if text.endswith("%"):
        return Amount(parse_percent(text, "cpu"), True)
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"cpu {text!r} is not a number of cores or a share (2, 50%)") from None
    if v < 0.1:
        raise ValueError(f"cpu {text} is too small (at least 0.1 core)")
    return Amount(v)


def _mem(text: str) -> Amount:
    if text.endswith("%"):
        return Amount(parse_percent(text, "memory"), True)
    n = parse_size(text)
    if n < MIN_MEMORY:
        raise ValueError(f"memory cap {text} is too small (at least {format_size(MIN_MEMORY)})")
    return Amount(n)


# "Until you pause": an end that never comes (a pause of the volunteer's own ends it).
UNTIL_PAUSED = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
_UNTIL_PAUSED_WORDS = ("until paused", "until i pause", "until you pause")


def _anyway(text: str, now: dt.datetime) -> dt.datetime | None:
    t = text.strip().lower()
    if t in ON_WORDS or t in _UNTIL_PAUSED_WORDS or t == UNTIL_PAUSED.isoformat():
        return UNTIL_PAUSED
    return _whole(parse_until(text, now))


def _fmt_anyway(at: dt.datetime | None) -> str:
    if at is None:
        return "off"
    return "until you pause" if at == UNTIL_PAUSED else at.isoformat(timespec="seconds")


def _whole(at: dt.datetime | None) -> dt.datetime | None:
    return at.replace(microsecond=0) if at else None


def _fmt_cpu(a: Amount) -> str:
    return f"{a.value:g}%" if a.percent else f"{a.value:g}"


def _fmt_mem(a: Amount) -> str:
    return f"{a.value:g}%" if a.percent else format_size(a.value)


def _fmt_bool(b: bool) -> str:
    return "on" if b else "off"


def _profile(field_name: str, parse: Any, which: tuple[str, ...]) -> Any:
    def setter(p: Prefs, text: str, _now: dt.datetime) -> Prefs:
        value = parse(text)
        changes = {w: replace(getattr(p, w), **{field_name: value}) for w in which}
        return replace(p, **changes)

    return setter


def _optional_percent(name: str) -> Any:
    def parse(text: str) -> float | None:
        return None if text.lower() in _FALSE else parse_percent(text, name)

    return parse


def _simple(name: str, parse: Any) -> Any:
    return lambda p, text, _now: replace(p, **{name: parse(text)})


_SETTERS: dict[str, Any] = {
    "cpu": _profile("cpu", _cpu, ("in_use", "idle")),
    "memory": _profile("memory", _mem, ("in_use", "idle")),
    "gpu": _profile("gpu", parse_bool, ("in_use", "idle")),
    "in_use.cpu": _profile("cpu", _cpu, ("in_use",)),
    "in_use.memory": _profile("memory", _mem, ("in_use",)),
    "in_use.gpu": _profile("gpu", parse_bool, ("in_use",)),
    "idle.cpu": _profile("cpu", _cpu, ("idle",)),
    "idle.memory": _profile("memory", _mem, ("idle",)),
    "idle.gpu": _profile("gpu", parse_bool, ("idle",)),
    "idle_only": _simple("idle_only", parse_bool),
    "idle_after": _simple("idle_after", lambda t: parse_duration(t, "m")),
    "load_pause": _simple("load_pause", _optional_percent("load_pause")),
    "load_pause_after": _simple("load_pause_after", parse_duration),
    "load_resume_after": _simple("load_resume_after", parse_duration),
    "battery_pause": _simple("battery_pause", parse_bool),
    "battery_resume": _simple("battery_resume", _optional_percent("battery_resume")),
    "schedule": _simple("schedule", Schedule.parse),
    "paused_until": lambda p, text, now: replace(p, paused_until=_whole(parse_until(text, now))),
    "run_anyway": lambda p, text, now: replace(p, run_anyway=_anyway(text, now)),
}
