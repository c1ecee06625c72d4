"""Preferences: people's notation, clear errors, reset, TOML round trip; the schedule parser."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest
import tomli_w

from kalavai_like.errors import InvalidInput
from kalavai_like.units import parse_until
from kalavai_like.volunteer.prefs import (
    KEYS,
    Hardware,
    Prefs,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)
from kalavai_like.volunteer.schedule import Schedule

GIB = 2**30
# This machine: 2 cores, 24 GiB of which the kernel reports about 23.4 GiB.
HW = Hardware(cores=2, memory_bytes=int(23.4 * GIB), gpus=0)
NOW = dt.datetime(2024, 3, 4, 14, 20, tzinfo=dt.timezone(dt.timedelta(hours=1)))


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4 * GIB), ("512M", 512 * 2**20), ("1.5GiB", int(1.5 * GIB)), ("2gb", 2 * GIB),
     ("1024", 1024), ("1T", 2**40)],
)  # fmt: skip
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_size_and_duration_formatting() -> None:
    assert [format_size(n) for n in (23.4 * GIB, 64 * GIB, 1.5 * GIB, 512 * 2**20)] == [
        "23G", "64G", "1.5G", "512M",
    ]  # fmt: skip
    assert parse_duration("1h30m") == 5400 and parse_duration("90", "m") == 5400
    assert [format_duration(s) for s in (5400, 300, 45, 0)] == ["1h30m", "5m", "45s", "0s"]
    for bad in ("4X", "lots", ""):
        with pytest.raises(ValueError):
            parse_size(bad)
    with pytest.raises(ValueError):
        parse_duration("1h30")


def test_limits_beyond_this_machine_are_refused_with_a_clear_message() -> None:
    with pytest.raises(InvalidInput) as err:
        Prefs().set("memory", "64G", HW)
    assert err.value.message == "memory cap 64G exceeds this machine's 23G"
    with pytest.raises(InvalidInput) as err:
        Prefs().set("idle.cpu", "8", HW)
    assert err.value.message == "cpu 8 exceeds this machine's 2 cores"
    assert err.value.title == "Invalid value for idle.cpu"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("cpu", "lots", "not a number of cores"),
        ("cpu", "150%", "between 1% and 100%"),
        ("memory", "64M", "too small"),
        ("gpu", "maybe", "not on or off"),
        ("idle_after", "soon", "not a duration"),
        ("load_pause", "0%", "between 1% and 100%"),
        ("schedule", "mon-fry 18:00-08:00", "unknown day 'fry'"),
        ("schedule", "mon 18:00", "not HH:MM-HH:MM"),
        ("schedule", "mon 25:00-26:00", "not a time of day"),
        ("schedule", "mon 10:00-10:00", "empty"),
        ("paused_until", "someday", "not a time"),
    ],
)
def test_bad_values_say_what_is_wrong(key: str, value: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Prefs().set(key, value, HW)
    assert words in err.value.message
    assert key in err.value.title


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as err:
        Prefs().set("cpus", "2")
    assert "idle_only" in err.value.message


def test_set_get_reset() -> None:
    p = Prefs().set("cpu", "1.5", HW).set("idle.memory", "8G", HW).set("in-use.gpu", "on")
    assert p.get("cpu") == "1.5" and p.get("idle.memory") == "8G" and p.in_use.gpu
    p = p.set("idle.cpu", "100%")
    assert p.get("cpu") == "1.5 in use, 100% idle"
    assert p.reset("cpu").get("cpu") == Prefs().get("cpu")
    assert p.reset("idle.memory").get("idle.memory") == "50%"
    assert p.reset("in_use.gpu").in_use.gpu is False
    assert p.reset() == Prefs()
    assert set(Prefs().to_flat()) <= set(KEYS)


def test_pause_until_notation() -> None:
    assert parse_until("1h", NOW) == NOW + dt.timedelta(hours=1)
    assert parse_until("15:00", NOW) == NOW.replace(hour=15, minute=0)
    assert parse_until("09:00", NOW) == NOW.replace(hour=9, minute=0) + dt.timedelta(days=1)
    assert parse_until("tomorrow 08:00", NOW) == NOW.replace(hour=8, minute=0) + dt.timedelta(1)
    assert parse_until("tomorrow", NOW) == NOW.replace(hour=8, minute=0) + dt.timedelta(1)
    night = NOW.replace(hour=0, minute=50)  # after midnight: the coming morning
    assert parse_until("tomorrow", night) == night.replace(hour=8, minute=0)
    assert parse_until("tomorrow 02:00", night) == night.replace(hour=2, minute=0)
    assert parse_until("2024-03-05T10:00", NOW) == NOW.replace(day=5, hour=10, minute=0)
    assert parse_until("off", NOW) is None


def test_toml_round_trip() -> None:
    p = (
        Prefs()
        .set("in_use.cpu", "1")
        .set("idle.memory", "12G")
        .set("schedule", "mon-fri 18:00-08:00; sat-sun all")
        .set("load_pause", "80%")
        .set("battery_resume", "90")
        .set("paused_until", "1h", now=NOW)
    )
    text = tomli_w.dumps(p.to_toml())
    assert 'schedule = "mon-fri 18:00-08:00, sat-sun all"' in text
    assert Prefs.from_toml(tomllib.loads(text), HW) == p
    with pytest.raises(InvalidInput):
        Prefs.from_toml({"idle": {"memory": "64G"}}, HW)
    with pytest.raises(InvalidInput):
        Prefs.from_toml({"colour": "blue"})


def test_schedule_parsing() -> None:
    assert Schedule.parse("").always and Schedule.parse("all").always
    s = Schedule.parse("weekdays 22:00-06:00")
    assert not s.always
    assert Schedule.parse("22:00-06:00").windows[0] == (22 * 60, 30 * 60)  # every day
    assert Schedule.parse("sat").windows == ((5 * 1440, 6 * 1440),)
    assert len(Schedule.parse("fri-mon all").windows) == 4
    assert Schedule.parse("mon 00:00-24:00").windows == ((0, 1440),)
