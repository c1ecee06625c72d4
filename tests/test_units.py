"""People's notation for sizes, durations and percentages: one grammar that accepts what each
of the three it replaced accepted (preferences, `pool join --memory`, headless
KALAVAI_LIKE_MEMORY), and errors that say what is wrong."""

from __future__ import annotations

import pytest

from kalavai_like.errors import InvalidInput
from kalavai_like.units import (
    UnitError,
    format_duration,
    format_size,
    parse_duration,
    parse_percent,
    parse_size,
)

GIB = 2**30


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4 * GIB), ("4g", 4 * GIB), ("512m", 512 * 2**20), ("512M", 512 * 2**20),
     ("1.5GiB", int(1.5 * GIB)), ("2gb", 2 * GIB), ("4 G", 4 * GIB), (" 2g ", 2 * GIB),
     ("1024", 1024), ("1T", 2**40), ("8KiB", 8192), ("512b", 512), (".5G", GIB // 2),
     ("1e3", 1000), ("0", 0)],
)  # fmt: skip
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["4X", "lots", "", "-1G", "G", "nan", "inf", "1.2.3G", "4 GG"])
def test_bad_sizes_say_what_a_size_is(bad: str) -> None:
    with pytest.raises(UnitError) as err:
        parse_size(bad)
    assert err.value.title == "Invalid size"
    assert "is not a size" in str(err.value) and "512M, 4G or 1.5GiB" in err.value.message


def test_a_unit_error_is_both_invalid_input_and_a_value_error() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_duration("soon")
    assert err.value.exit_code == 2 and isinstance(err.value, ValueError)
    assert str(err.value) == err.value.message  # the words alone, for a caller's own title


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("1h 30m", 5400),
     ("1H30M", 5400), ("7d", 7 * 86400), ("1w", 604800), ("1.5h", 5400), ("45s", 45)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_bare_number_takes_the_default_unit() -> None:
    assert parse_duration("90", "m") == 5400


@pytest.mark.parametrize("bad", ["1h30", "soon", "", "h", "-5m", "1y"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(UnitError) as err:
        parse_duration(bad)
    assert err.value.title == "Invalid duration" and "is not a duration" in err.value.message


def test_percentages() -> None:
    assert parse_percent("50%") == 50.0 and parse_percent(" 80 ") == 80.0
    with pytest.raises(UnitError, match="between 1% and 100%"):
        parse_percent("150%", "cpu")
    with pytest.raises(UnitError, match="is not a percentage"):
        parse_percent("half", "cpu")


def test_formatting() -> None:
    assert [format_size(n) for n in (23.4 * GIB, 64 * GIB, 1.5 * GIB, 512 * 2**20, 100)] == [
        "23G", "64G", "1.5G", "512M", "100",
    ]  # fmt: skip
    assert [format_duration(s) for s in (5400, 300, 45, 0)] == ["1h30m", "5m", "45s", "0s"]


def test_ages_and_cores_read_as_people_say_them():
    from kalavai_like.cli.console import ago
    from kalavai_like.units import format_age, format_cores

    assert [format_age(s) for s in (None, 9, 300, 3 * 3600, 5 * 86400)] == [
        "never", "9 s ago", "5 min ago", "3 h ago", "5 days ago"
    ]  # fmt: skip
    assert [format_cores(n) for n in (1, 0.5, 2)] == ["1 core", "0.5 cores", "2 cores"]
    heartbeat = "2026-12-02T00:45:09.718261Z"  # as `pool workers` gets it from the platform
    assert ago(heartbeat, 1796172309.718261 + 42) == "42 s ago"
    assert ago(None, 0) == "never"


def test_small_amounts_never_read_as_zero() -> None:
    from kalavai_like.units import format_amount

    assert [format_amount(v) for v in (0.004, 0.0042, 0.5, 1.256, 1234.5, 0.0)] == [
        "0.004", "0.0042", "0.50", "1.26", "1,234", "0.00"
    ]  # fmt: skip
    assert format_amount(0.00004, 4) == "0.00004"  # the CLI's four places, still not 0.0000
