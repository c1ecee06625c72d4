"""The rule engine, driven by scripted clocks and sources."""

from __future__ import annotations

import datetime as dt
import json
import tomllib

import pytest
import tomli_w

from kalavai_like.volunteer.prefs import Hardware, Prefs
from kalavai_like.volunteer.rules import Inputs, RuleEngine, RuleState, evaluate

TZ = dt.timezone(dt.timedelta(hours=1))
HW = Hardware(cores=4, memory_bytes=16 * 2**30, gpus=1)
# 2024-03-04 is a Monday.
MON = dt.datetime(2024, 3, 4, tzinfo=TZ)


def at(day: int, hhmm: str) -> dt.datetime:
    """Monday=0 ... Sunday=6 of the week of 2024-03-04, at HH:MM."""
    h, m = map(int, hhmm.split(":"))
    return MON + dt.timedelta(days=day, hours=h, minutes=m)


def run(engine: RuleEngine, prefs: Prefs, steps, **fixed) -> list[tuple[str, list[str]]]:
    """Feeds (seconds after MON, {input: value}) steps; returns (desired, reason codes)."""
    out = []
    for offset, values in steps:
        d = engine.decide(Inputs(now=MON + dt.timedelta(seconds=offset), **fixed, **values), prefs)
        out.append((d.desired, [r.code for r in d.pausing]))
    return out


def test_idle_only_transitions_follow_input_with_debounce() -> None:
    prefs = Prefs().set("idle_only", "on").set("idle_after", "5m")
    steps = [
        (0, {"idle_seconds": 600}),  # away for 10 minutes
        (10, {"idle_seconds": 0}),  # someone touches the mouse: stop at once
        (70, {"idle_seconds": 60}),
        (309, {"idle_seconds": 299}),  # still not 5 minutes
        (311, {"idle_seconds": 301}),  # now idle
        (312, {"idle_seconds": 0}),  # a bump of the mouse: in use again, the 5 minutes restart
        (500, {"idle_seconds": 188}),
        (613, {"idle_seconds": 301}),
    ]
    assert run(RuleEngine(HW), prefs, steps) == [
        ("running", []),
        ("paused", ["in_use"]),
        ("paused", ["in_use"]),
        ("paused", ["in_use"]),
        ("running", []),
        ("paused", ["in_use"]),
        ("paused", ["in_use"]),
        ("running", []),
    ]


def test_in_use_and_idle_limits_and_unknown_idle() -> None:
    prefs = Prefs().set("in_use.cpu", "1").set("in_use.memory", "2G").set("idle.memory", "8G")
    d, _ = evaluate(Inputs(MON, idle_seconds=3), prefs, HW)
    assert d.desired == "running" and d.profile == "in_use"
    assert (d.limits.cpus, d.limits.memory_bytes, d.limits.gpus) == (1.0, 2 * 2**30, 0)
    assert [r.text for r in d.reasons] == ["computer in use: running with your in-use limits"]
    assert d.next_check == MON + dt.timedelta(seconds=297)  # when it would turn idle
    d, _ = evaluate(Inputs(MON, idle_seconds=None), prefs, HW)  # no desktop session: idle
    assert d.profile == "idle" and d.reasons == ()
    assert (d.limits.cpus, d.limits.memory_bytes, d.limits.gpus) == (4.0, 8 * 2**30, 1)


def test_load_rule_pauses_after_sustained_load_and_does_not_flap() -> None:
    prefs = Prefs().set("load_pause", "50%").set("load_pause_after", "30s")
    prefs = prefs.set("load_resume_after", "1m")
    loads = [10, 80, 20, 80, 20, 80, 80, 80, 80, 20, 90, 20, 20, 20, 20, 20, 20, 20]
    result = run(
        RuleEngine(HW), prefs, [(i * 10, {"load_percent": v}) for i, v in enumerate(loads)]
    )
    desired = [d for d, _ in result]
    # Alternating spikes never pause; 80% from t=50 to t=80 (30 s) pauses; one dip to 20% and a
    # spike back do not resume; 60 s of calm from t=110 resumes at t=170.
    assert desired == ["running"] * 8 + ["paused"] * 9 + ["running"]
    assert result[8][1] == ["cpu_load"]


def test_load_text_and_disabled_rule() -> None:
    prefs = Prefs().set("load_pause", "50").set("load_pause_after", "0s")
    d, state = evaluate(Inputs(MON, load_percent=87.4), prefs, HW)
    assert [r.text for r in d.pausing] == ["other programs are busy (CPU 87%)"]
    d, state = evaluate(Inputs(MON, load_percent=87.4), prefs.set("load_pause", "off"), HW, state)
    assert d.desired == "running" and not state.load_paused


@pytest.mark.parametrize(
    ("resume", "script"),
    [
        (None, [(True, 100, "paused"), (True, 42, "paused"), (False, 42, "running")]),
        (
            "90%",
            [
                (True, 50, "paused"),
                (True, 89, "paused"),
                (True, 90, "running"),  # at the threshold: compute on battery
                (True, 87, "running"),  # within the 5-point band: no flapping
                (True, 85, "running"),
                (True, 84.9, "paused"),
                (True, 88, "paused"),  # resuming needs the threshold again
                (False, 88, "running"),  # back on AC
                (True, 88, "paused"),  # unplugged below the threshold
            ],
        ),
    ],
)
def test_battery_thresholds(resume, script) -> None:
    prefs = Prefs() if resume is None else Prefs().set("battery_resume", resume)
    engine = RuleEngine(HW)
    for on_battery, pct, expected in script:
        d = engine.decide(Inputs(MON, on_battery=on_battery, battery_percent=pct), prefs)
        assert d.desired == expected, (on_battery, pct)
    assert engine.decide(Inputs(MON, on_battery=True, battery_percent=42), prefs).pausing[
        0
    ].text == (
        "on battery (42%)" if resume is None else "on battery (42%; resumes on AC or at 90%)"
    )
    off = Prefs().set("battery_pause", "off")
    assert (
        evaluate(Inputs(MON, on_battery=True, battery_percent=5), off, HW)[0].desired == "running"
    )


EVENINGS = "mon-fri 18:00-08:00, sat-sun all"


@pytest.mark.parametrize(
    ("schedule", "when", "desired", "text"),
    [
        (EVENINGS, at(0, "09:00"), "paused", "outside your schedule (resumes 18:00)"),
        (EVENINGS, at(4, "17:59"), "paused", "outside your schedule (resumes 18:00)"),
        (EVENINGS, at(4, "18:00"), "running", None),
        (EVENINGS, at(4, "23:59"), "running", None),  # Friday evening past midnight...
        (EVENINGS, at(5, "03:00"), "running", None),  # ...into Saturday
        (EVENINGS, at(6, "23:59"), "running", None),
        # Week wrap: Sunday's "all" ends at Monday 00:00; Monday's window opens at 18:00.
        (EVENINGS, at(0, "03:00"), "paused", "outside your schedule (resumes 18:00)"),
        (EVENINGS, at(1, "07:59"), "running", None),  # Monday 18:00 -> Tuesday 08:00
        ("sun 22:00-06:00", at(6, "23:00"), "running", None),
        ("sun 22:00-06:00", at(0, "05:59"), "running", None),  # Sunday's night wraps the week
        ("sun 22:00-06:00", at(0, "06:00"), "paused", "outside your schedule (resumes Sun 22:00)"),
        ("fri-mon 20:00-02:00", at(1, "01:00"), "running", None),  # Monday night into Tuesday
        (
            "fri-mon 20:00-02:00",
            at(2, "12:00"),
            "paused",
            "outside your schedule (resumes Fri 20:00)",
        ),
        (
            "sat 10:00-12:00",
            at(6, "09:00"),
            "paused",
            "outside your schedule (resumes Sat 10:00)",
        ),
        (
            "mon-fri 18:00-08:00",
            at(6, "12:00"),
            "paused",
            "outside your schedule (resumes tomorrow 18:00)",
        ),
    ],
)
def test_schedule_across_midnight_and_week_wrap(schedule, when, desired, text) -> None:
    d, _ = evaluate(Inputs(when, idle_seconds=None), Prefs().set("schedule", schedule), HW)
    assert d.desired == desired
    assert [r.text for r in d.pausing] == ([text] if text else [])


def test_schedule_next_check_is_the_next_flip() -> None:
    prefs = Prefs().set("schedule", EVENINGS)
    d, _ = evaluate(Inputs(at(5, "12:00")), prefs, HW)
    assert d.next_check == at(7, "00:00")  # Sunday's "all" ends at Monday 00:00
    d, _ = evaluate(Inputs(at(0, "12:30")), prefs, HW)
    assert d.next_check == at(0, "18:00")


def test_timed_pause_survives_an_agent_restart() -> None:
    now = at(2, "14:00")
    prefs = Prefs().set("paused_until", "1h", now=now).set("load_pause", "50%")
    engine = RuleEngine(HW)
    d = engine.decide(Inputs(now, load_percent=90), prefs)
    assert d.desired == "paused"
    assert [r.text for r in d.pausing] == ["paused by you until 15:00"]
    assert d.pausing[0].until == at(2, "15:00")
    assert d.next_check == now + dt.timedelta(seconds=30)  # when the load would pause it

    # The agent stops: preferences go to TOML, the engine's state to its JSON state file.
    saved_prefs = tomli_w.dumps(prefs.to_toml())
    saved_state = json.dumps(engine.state.to_dict())

    prefs2 = Prefs.from_toml(tomllib.loads(saved_prefs))
    engine2 = RuleEngine(HW, RuleState.from_dict(json.loads(saved_state)))
    assert prefs2 == prefs
    later = at(2, "14:40")
    d = engine2.decide(Inputs(later, load_percent=10), prefs2)
    assert [r.text for r in d.pausing] == ["paused by you until 15:00"]
    d = engine2.decide(Inputs(at(2, "15:00"), load_percent=10), prefs2)
    assert d.desired == "running" and d.pause_expired


def test_load_debounce_survives_an_agent_restart() -> None:
    prefs = Prefs().set("load_pause", "50%").set("load_pause_after", "30s")
    engine = RuleEngine(HW)
    engine.decide(Inputs(MON, load_percent=90), prefs)
    engine.decide(Inputs(MON + dt.timedelta(seconds=20), load_percent=90), prefs)
    restored = RuleEngine(HW, RuleState.from_dict(json.loads(json.dumps(engine.state.to_dict()))))
    d = restored.decide(Inputs(MON + dt.timedelta(seconds=30), load_percent=90), prefs)
    assert d.desired == "paused"


def test_combined_reasons_are_all_listed() -> None:
    now = at(0, "09:00")
    prefs = (
        Prefs()
        .set("schedule", EVENINGS)
        .set("paused_until", "tomorrow 08:00", now=now)
        .set("idle_only", "on")
        .set("load_pause", "50%")
        .set("load_pause_after", "0s")
    )
    inputs = Inputs(
        now,
        idle_seconds=12,
        on_battery=True,
        battery_percent=42,
        load_percent=95,
        user_paused=True,
    )
    d, _ = evaluate(inputs, prefs, HW)
    assert d.desired == "paused"
    assert [r.text for r in d.reasons] == [
        "paused by you",
        "paused by you until tomorrow 08:00",
        "computer in use (computes after 5m without input)",
        "on battery (42%)",
        "outside your schedule (resumes 18:00)",
        "other programs are busy (CPU 95%)",
    ]
    assert d.to_dict()["reasons"][1]["until"] == "2024-03-05T08:00:00+01:00"
    # Lift them one by one: only when none is left does the node compute.
    d, _ = evaluate(
        Inputs(at(0, "18:30"), idle_seconds=900, load_percent=1), prefs.reset("paused_until"), HW
    )
    assert d.desired == "running" and d.reasons == ()
