"""The weekly schedule of hours when a volunteer allows computing.

Written the way people say it: "mon-fri 18:00-08:00, sat-sun all". Each item is a day or day
range (mon, mon-fri, fri-mon, weekdays, weekends, daily) and a time range or `all`; a time range
whose end is not after its start runs past midnight into the next day (Friday 18:00-08:00 ends
Saturday 08:00, Sunday's ends Monday: the week wraps). An empty schedule or "all" allows always.
Times are the local wall-clock fields of the datetime given.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = 7 * 1440
_ALIASES = {
    "daily": (0, 6),
    "all": (0, 6),
    "everyday": (0, 6),
    "weekdays": (0, 4),
    "weekends": (5, 6),
    "weekend": (5, 6),
}
_ALWAYS = ("", "all", "always", "any", "anytime")


def minute_of_week(when: dt.datetime) -> int:
    """Minutes since Monday 00:00 of `when`'s week, from its wall-clock fields."""
    return when.weekday() * 1440 + when.hour * 60 + when.minute


def _clock(text: str, item: str, end: bool) -> tuple[int, bool]:
    """Minutes after midnight of '18:00', '9', '5pm'; and whether it was a bare hour ('9')."""
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", text)
    if not m:
        raise ValueError(f"schedule item {item!r}: {text!r} is not a time (use HH:MM)")
    h, mi, half = int(m[1]), int(m[2] or 0), m[3]
    if half:
        if not 1 <= h <= 12:
            raise ValueError(f"schedule item {item!r}: {text!r} is not a time of day")
        h = h % 12 + (12 if half == "pm" else 0)
    if mi > 59 or h > 24 or (h == 24 and (mi or not end)):
        raise ValueError(f"schedule item {item!r}: {text!r} is not a time of day")
    return h * 60 + mi, not (m[2] or half)


def _hours(text: str, item: str) -> tuple[int, int]:
    """A time range as [start, end) minutes; an end not after its start runs past midnight.
    Bare hours are read the way people say them: "9-5" is nine to five, 09:00-17:00."""
    span = text.split("-")
    if len(span) != 2:
        raise ValueError(f"schedule item {item!r}: {text!r} is not HH:MM-HH:MM")
    (start, bare_start), (end, bare_end) = _clock(span[0], item, False), _clock(span[1], item, True)
    if bare_start and bare_end and end < start <= 12 * 60 and end <= 12 * 60:
        end += 12 * 60  # "9-5", "8-6": office hours, not an overnight window
    if start == end:
        raise ValueError(f"schedule item {item!r}: the window is empty")
    return start, end if end > start else end + 1440


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60 % 24 if minutes != 1440 else 24:02d}:{minutes % 60:02d}"


def _days(text: str, item: str) -> list[int]:
    if text in _ALIASES:
        first, last = _ALIASES[text]
    else:
        ends = text.split("-")
        if len(ends) > 2:
            raise ValueError(f"schedule item {item!r}: {text!r} is not a day range")
        for d in ends:
            if d[:3] not in DAYS:
                raise ValueError(
                    f"schedule item {item!r} has an unknown day {d!r} (use mon, tue, ... sun)"
                )
        first, last = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
    return [(first + i) % 7 for i in range((last - first) % 7 + 1)]


@dataclass(frozen=True)
class Schedule:
    """Allowed windows as [start, end) minutes of the week; `end` may pass the week's end."""

    text: str
    windows: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parses a schedule; raises ValueError saying which item is wrong and why."""
        canonical = ", ".join(p.strip() for p in re.split(r"[,;]", text.strip()) if p.strip())
        if canonical.lower() in _ALWAYS:
            return cls("all", ((0, _WEEK),))
        windows: list[tuple[int, int]] = []
        read: list[str] = []  # each item as it was understood, to echo back
        for item in canonical.lower().split(", "):
            words = item.split()
            if len(words) == 1 and words[0][:1].isdigit():
                words = ["daily", *words]  # "22:00-06:00" means every day
            if len(words) == 1:
                words.append("all")
            if len(words) != 2:
                raise ValueError(f"schedule item {item!r}: use DAYS HH:MM-HH:MM or DAYS all")
            days, hours = words
            day_list = _days(days, item)
            start, end = (0, 1440) if hours == "all" else _hours(hours, item)
            for d in day_list:
                windows.append((d * 1440 + start, d * 1440 + end))
            read.append(f"{days} all" if hours == "all" else
                        f"{days} {_hhmm(start)}-{_hhmm(end % 1440 or 1440)}")  # fmt: skip
        return cls(", ".join(read), tuple(sorted(windows)))

    @property
    def always(self) -> bool:
        return self.next_change(dt.datetime(2024, 1, 1)) is None

    def _allows_minute(self, m: int) -> bool:
        m %= _WEEK
        return any(s <= m < e or s <= m + _WEEK < e for s, e in self.windows)

    def allows(self, when: dt.datetime) -> bool:
        """Whether computing is allowed at `when`."""
        return self._allows_minute(minute_of_week(when))

    def next_change(self, when: dt.datetime) -> dt.datetime | None:
        """When `allows` next flips after `when` (None if it never does)."""
        now = minute_of_week(when)
        allowed = self._allows_minute(now)
        edges = sorted({(b - now - 1) % _WEEK + 1 for w in self.windows for b in w})
        for offset in edges:
            if self._allows_minute(now + offset) != allowed:
                start = when.replace(second=0, microsecond=0)
                return start + dt.timedelta(minutes=offset)
        return None
