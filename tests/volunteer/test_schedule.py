"""The weekly schedule reads hours the way people write them, and says how it read them."""

from __future__ import annotations

import datetime as dt

import pytest

from kalavai_like.volunteer.schedule import Schedule

MONDAY = dt.datetime(2024, 3, 4)


def allowed_at(schedule: Schedule, day: int, hour: int) -> bool:
    return schedule.allows(MONDAY + dt.timedelta(days=day, hours=hour))


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("weekdays 9-5", "weekdays 09:00-17:00"),  # nine to five, not overnight
        ("mon-fri 8-6", "mon-fri 08:00-18:00"),
        ("9am-5pm", "daily 09:00-17:00"),
        ("sun 10pm-6am", "sun 22:00-06:00"),
        ("mon 22-6", "mon 22:00-06:00"),  # a start after noon: the window runs past midnight
        ("Mon-Fri 18:00-08:00; Sat-Sun all", "mon-fri 18:00-08:00, sat-sun all"),
        ("daily 0-24", "daily 00:00-24:00"),
    ],
)
def test_hours_are_read_as_people_mean_them_and_echoed(written: str, read: str) -> None:
    assert Schedule.parse(written).text == read


def test_nine_to_five_computes_in_office_hours_only() -> None:
    office = Schedule.parse("weekdays 9-5")
    assert allowed_at(office, 0, 10) and allowed_at(office, 4, 16)
    assert not allowed_at(office, 0, 3) and not allowed_at(office, 0, 20)
    assert not allowed_at(office, 5, 10)  # Saturday


@pytest.mark.parametrize("bad", ["weekdays 13pm-5pm", "mon 9-9", "funday 9-5", "mon 25:00-26:00"])
def test_what_cannot_be_read_is_refused_in_words(bad: str) -> None:
    with pytest.raises(ValueError, match="schedule item"):
        Schedule.parse(bad)
