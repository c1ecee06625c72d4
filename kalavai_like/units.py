"""People's notation for amounts: sizes (512M, 4G, 1.5GiB), durations (90, 30m, 1h30m, 2d, 1w),
percentages (50%) and moments (15:00, tomorrow 08:00), parsed and written back the one way every
part of kalavai-like uses.

Sizes are powers of 1024 (K, M, G, T, like podman); a trailing B or iB is allowed and any case.
A parse error is a `UnitError`: an InvalidInput (title "Invalid size" ...) that frontends show
as it is, and a ValueError whose text is the message, for parsers that add their own title.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from kalavai_like.errors import InvalidInput

SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
# Memory is binary everywhere (sizes, rates, RAM-hours): what podman's 4g and the agent's
# counters mean. The platform's JSON keeps its historical names (`ram_gb_hours`, GiB-hours).
GIB = 2**30
MEMORY_UNIT = "GiB"
RAM_HOURS = "GiB-h"  # RAM over time, the unit of `ram_gb_hours`
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NUMBER = r"\+?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:e[+-]?\d+)?"
_SIZE = re.compile(rf"\s*({_NUMBER})\s*([kmgt]?)(?:i?b)?\s*", re.I)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


class UnitError(InvalidInput, ValueError):
    """Text that is not a size, a duration or a percentage; `str()` is the message alone."""

    def __str__(self) -> str:
        return self.message


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_size(text: str) -> int:
    """Bytes in "512M", "4g", "1.5GiB", "2gb", "1024" (K/M/G/T are powers of 1024).

    Raises:
        UnitError: anything else.
    """
    m = _SIZE.fullmatch(text)
    value = _number(m[1]) if m else None
    if m is None or value is None:
        raise UnitError(
            "Invalid size",
            f"{text!r} is not a size: give a number with K, M, G or T after it, "
            "e.g. 512M, 4G or 1.5GiB",
        )
    return int(value * SIZE_UNITS[m[2].upper()])


def format_amount(value: float, digits: int = 2) -> str:
    """An amount (hours, credit) that never reads as zero when it is not: `digits` decimals
    from 1 up ("1.25", "1,234"), two significant digits below ("0.004", "0.00042")."""
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return f"{v:.{digits}f}" if v == 0 else str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.{digits}f}"
    places = max(digits, 1 - math.floor(math.log10(abs(v))))
    if places > 9:
        return f"{v:.2g}"
    text = f"{v:.{places}f}"
    while places > digits and text.endswith("0"):  # 0.0040 -> 0.004, 0.50 stays
        text, places = text[:-1], places - 1
    return text


def format_size(n: float) -> str:
    """Bytes as people write them: 23G, 1.5G, 512M."""
    for unit in ("T", "G", "M", "K"):
        v = n / SIZE_UNITS[unit]
        if v >= 1:
            return f"{int(v)}{unit}" if v >= 10 else f"{round(v, 1):g}{unit}"
    return f"{int(n)}"


def parse_duration(text: str, default_unit: str = "s") -> float:
    """Seconds in "1h30m", "1h 30m", "45s", "2d", "1w", "1.5h", or "90" (in `default_unit`).

    Raises:
        UnitError: anything else.
    """
    t = re.sub(r"\s+", "", text).lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t) * DURATION_UNITS[default_unit]
    parts = _DURATION_PART.findall(t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise UnitError(
            "Invalid duration",
            f"{text!r} is not a duration: use a number with s, m, h, d or w after it, "
            "e.g. 30s, 5m, 1h30m or 7d",
        )
    return sum(float(n) * DURATION_UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """Seconds as 1h30m, 5m, 45s."""
    s = round(seconds)
    out = "".join(
        f"{v}{u}" for v, u in ((s // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")) if v
    )
    return out or "0s"


def parse_percent(text: str, what: str = "value") -> float:
    """50.0 from "50%" or "50": a share between 1 and 100.

    Raises:
        UnitError: not a number, or outside 1-100.
    """
    value = _number(text.strip().rstrip("%").strip())
    if value is None:
        raise UnitError("Invalid percentage", f"{what} {text!r} is not a percentage (use e.g. 50%)")
    if not 1 <= value <= 100:
        raise UnitError("Invalid percentage", f"{what} must be between 1% and 100%, not {text}")
    return value


# ---- moments: when a timed pause ends, said and read the way people do ----------------

ON_WORDS = frozenset({"on", "yes", "true", "1", "enabled"})
OFF_WORDS = frozenset({"off", "no", "false", "0", "disabled", "none"})
MORNING = 8  # "tomorrow" with no time: 08:00
NIGHT_ENDS = 5  # until 05:00, "tomorrow" is the day that has just begun


def parse_until(text: str, now: dt.datetime) -> dt.datetime | None:
    """'off' -> None; '1h' -> now + 1h; '15:00' -> next 15:00; 'tomorrow [08:00]'; ISO time.

    Raises:
        ValueError: none of these (the text says what is accepted).
    """
    t = text.strip().lower()
    if t in OFF_WORDS:
        return None
    tomorrow = t.startswith("tomorrow")
    if tomorrow:
        t = t.removeprefix("tomorrow").strip() or f"{MORNING:02d}:00"
    if re.fullmatch(r"\d{1,2}:\d{2}", t):
        h, m = map(int, t.split(":"))
        if h > 23 or m > 59:
            raise ValueError(f"{text!r} is not a time of day")
        at = now.replace(hour=h, minute=m, second=0, microsecond=0)
        # Before dawn "tomorrow" is the day that has just begun: at 00:50, "until tomorrow"
        # means this morning, not the one after it.
        if tomorrow and now.hour >= NIGHT_ENDS:
            at += dt.timedelta(days=1)
        return at if at > now else at + dt.timedelta(days=1)
    if tomorrow:
        raise ValueError(f"{text!r}: use tomorrow HH:MM")
    try:
        return now + dt.timedelta(seconds=parse_duration(t))
    except ValueError:
        pass
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time (use 15:00, tomorrow 08:00, 1h or off)") from None
    return at if at.tzinfo else at.replace(tzinfo=now.tzinfo)


def format_when(at: dt.datetime, now: dt.datetime) -> str:
    """'15:00' today, 'tomorrow 08:00', 'Mon 18:00' within a week, else the date."""
    days = (at.date() - now.date()).days
    hhmm = at.strftime("%H:%M")
    if days == 0:
        return hhmm
    if days == 1:
        return f"tomorrow {hhmm}"
    if 0 < days < 7:
        return f"{at.strftime('%a')} {hhmm}"
    return at.strftime("%Y-%m-%d %H:%M")


def format_age(seconds: float | None) -> str:
    """How long ago: "9 s ago", "3 min ago", "5 h ago", "2 days ago"; "never" for None."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s ago"
    if s < 2 * 3600:
        return f"{s // 60} min ago"
    if s < 2 * 86400:
        return f"{s // 3600} h ago"
    return f"{s // 86400} days ago"


def format_cores(n: float) -> str:
    """'1 core', '0.5 cores', '2 cores'."""
    return f"{n:g} core" + ("" if n == 1 else "s")
