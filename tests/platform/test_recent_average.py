"""The recent average credit (BOINC's update_average, 7-day half-life)."""

from __future__ import annotations

import math

import pytest

from kalavai_like.platform.credit import DAY, HALF_LIFE, decayed, update_average

T0 = 1_800_000_000.0


def test_first_work_moments_after_enrolment_is_not_blown_up():
    # 0.002 credit earned 0.05 s after the device enrolled: a rate, not 3,456 credit/day.
    avg, at = update_average(T0 + 0.05, T0, 0.002, 0.0, 0.0)
    assert at == T0 + 0.05
    assert avg == pytest.approx(0.002 * math.log(2) * DAY / HALF_LIFE, rel=1e-3)


def test_steady_work_converges_to_the_daily_rate():
    avg, at = 0.0, 0.0
    start = T0
    for hour in range(1, 24 * 60):  # 60 days of 1 credit per hour
        avg, at = update_average(T0 + hour * 3600, start, 1.0, avg, at)
    assert avg == pytest.approx(24.0, rel=0.01)


def test_half_life_is_seven_days():
    avg, at = 0.0, 0.0
    for hour in range(1, 24 * 60):
        avg, at = update_average(T0 + hour * 3600, T0, 1.0, avg, at)
    assert decayed(avg, at, at + 7 * DAY) == pytest.approx(avg / 2, rel=1e-9)


def test_two_heartbeats_at_the_same_instant_add_without_decay():
    avg, at = update_average(T0 + DAY, T0, 1.0, 0.0, 0.0)
    again, _ = update_average(at, T0, 1.0, avg, at)
    assert again == pytest.approx(avg + math.log(2) * DAY / HALF_LIFE)
