"""The tray's words and menu as pure functions of a snapshot (no Qt)."""

from __future__ import annotations

import dataclasses
import sys
import time

import pytest

from kalavai_like.gui.menu import (
    Snapshot,
    headline,
    icon_state,
    menu_model,
    notice,
    pause_seconds,
    tooltip,
)
from tests.support.tray_states import EMAIL, TODAY, snapshots, status, worker

SNAPS = snapshots()


def enabled(snap: Snapshot) -> set[str]:
    return {i.key for i in menu_model(snap) if i.enabled and i.key and i.key != "status"}


def texts(snap: Snapshot) -> list[str]:
    return [i.text for i in menu_model(snap) if not i.separator]


def test_the_menu_module_needs_no_qt() -> None:
    import subprocess

    code = "import sys, kalavai_like.gui.menu; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("name", "icon"),
    [
        ("logged-out", "logged-out"),
        ("idle", "idle"),
        ("joining", "joining"),
        ("contributing", "contributing"),
        ("paused-by-you", "paused"),
        ("paused-in-use", "paused"),
        ("error", "error"),
        ("agent-down", "error"),
    ],
)
def test_each_state_has_its_icon(name: str, icon: str) -> None:
    assert icon_state(SNAPS[name]) == icon


def test_every_menu_has_the_fixed_entries_in_order() -> None:
    for snap in SNAPS.values():
        keys = [i.key for i in menu_model(snap) if i.key and i.key != "status"]
        account = ["logout"] if snap.account else ["login", "signup"]
        tail = ["join", "pause_1h", "pause_3h", "pause_tomorrow", "pause", "resume", "anyway_1h",
                "anyway", "leave", "contributions", "preferences", *account, "quit"]  # fmt: skip
        assert keys[-len(tail) :] == tail
        assert menu_model(snap)[0].key == "status"


def test_logged_out_offers_log_in_and_no_join() -> None:
    snap = SNAPS["logged-out"]
    assert enabled(snap) == {"preferences", "login", "signup", "quit"}
    assert headline(snap) == "Not logged in"
    assert "Log in (or sign up) to join a pool." in tooltip(snap)


def test_idle_offers_join() -> None:
    snap = SNAPS["idle"]
    assert enabled(snap) == {"join", "contributions", "preferences", "logout", "quit"}
    assert f"Log out ({EMAIL})" in texts(snap)
    assert headline(snap) == "Not in a pool"


def test_joining_offers_nothing_that_would_race_the_join() -> None:
    assert enabled(SNAPS["joining"]) == {"contributions", "preferences", "logout", "quit"}


def test_contributing_shows_pool_address_and_today() -> None:
    snap = SNAPS["contributing"]
    assert enabled(snap) == {"pause_1h", "pause_3h", "pause_tomorrow", "pause", "leave",
                             "contributions", "preferences", "logout", "quit"}  # fmt: skip
    status_lines = [i.text for i in menu_model(snap) if i.key == "status"]
    assert status_lines == [
        "Contributing to pool demo",
        "Address 10.42.0.5",
        "Today: 1.25 CPU core-h, 0.50 RAM GiB-h, 1.50 credit granted",
    ]
    assert tooltip(snap).splitlines()[0] == "kalavai-like: Contributing to pool demo"


def test_a_little_today_does_not_read_as_zero() -> None:
    little = {"cpu_core_hours": 0.003, "ram_gb_hours": 0.0004, "gpu_hours": 0.0, "credit": 0.003}
    snap = dataclasses.replace(SNAPS["contributing"], today=little)
    line = [i.text for i in menu_model(snap) if i.key == "status"][-1]
    assert line == "Today: 0.003 CPU core-h, 0.0004 RAM GiB-h, 0.003 credit granted"


def test_today_says_what_is_pending_and_unverified_besides_granted() -> None:
    credit = {"cpu_core_hours": 0.0, "ram_gb_hours": 0.0, "gpu_hours": 0.0, "recent_average": 0}
    today = {**TODAY, "pending": {**credit, "credit": 0.25}, "unverified": {**credit, "credit": 0}}
    snap = dataclasses.replace(SNAPS["contributing"], today=today)
    line = "Today: 1.25 CPU core-h, 0.50 RAM GiB-h, 1.50 credit granted (pending 0.25)"
    assert [i.text for i in menu_model(snap) if i.key == "status"][-1] == line
    today["unverified"] = {**credit, "credit": 0.5}
    assert tooltip(snap).splitlines()[-1] == (
        "Today: 1.25 CPU core-h, 0.50 RAM GiB-h, 1.50 credit granted "
        "(pending 0.25, unverified 0.50)"
    )


def test_paused_by_you_says_until_when() -> None:
    snap = SNAPS["paused-by-you"]
    assert "resume" in enabled(snap)
    expected_clock = time.strftime("%H:%M", time.localtime(snap.status.worker.paused_until))
    word = headline(snap)
    assert word.startswith("Paused by you until ")
    assert word.endswith(expected_clock)


@pytest.mark.parametrize(
    ("name", "words"),
    [("paused-in-use", "Paused: computer in use"), ("paused-battery", "Paused: on battery")],
)
def test_paused_by_a_rule_says_why(name: str, words: str) -> None:
    snap = SNAPS[name]
    assert headline(snap) == words
    assert tooltip(snap).startswith(f"kalavai-like: {words}\n")
    assert "Pool demo" in [i.text for i in menu_model(snap) if i.key == "status"]


def test_a_finishing_worker_says_so_and_when_it_leaves() -> None:
    from kalavai_like.agent.node.shared import FINISHING

    snap = Snapshot(status("running", FINISHING, worker()), time.time(), account=EMAIL)
    words = "Finishing in pool demo: leaving once the current work is done"
    assert headline(snap) == words
    assert tooltip(snap).startswith(f"kalavai-like: {words}\n")


def test_platform_unreachable_is_said_in_the_tooltip_and_menu() -> None:
    snap = SNAPS["platform-unreachable"]
    assert "Platform unreachable" in tooltip(snap)
    assert "Platform unreachable" in texts(snap)
    assert tooltip(snap).count("Platform unreachable") == 1


def test_error_shows_the_reason_and_still_lets_you_leave() -> None:
    snap = SNAPS["error"]
    assert headline(snap) == "Error: WireGuard interface gone: repair failed"
    assert "leave" in enabled(snap)
    assert "pause_1h" not in enabled(snap)


def test_dead_agent_offers_start_agent_and_disables_agent_actions() -> None:
    snap = SNAPS["agent-down"]
    assert headline(snap) == "Agent not running"
    assert enabled(snap) == {"start_agent", "contributions", "preferences", "logout", "quit"}
    assert "Use “Start agent” in the menu." in tooltip(snap)


def test_a_first_start_without_an_agent_is_no_error_and_offers_to_start_it() -> None:
    first = dataclasses.replace(SNAPS["agent-down"], agent_seen=False)
    assert icon_state(first) == "idle" and headline(first) == "Agent not started yet"
    assert "start_agent" in enabled(first)
    assert icon_state(SNAPS["agent-down"]) == "error"  # one that went away is a failure


def test_connecting_is_not_called_an_error() -> None:
    snap = Snapshot(None, time.time(), account=EMAIL)
    assert headline(snap) == "Connecting to the agent…"
    assert icon_state(snap) == "idle"
    assert "start_agent" not in enabled(snap)


def test_quit_says_the_agent_keeps_running() -> None:
    assert texts(SNAPS["contributing"])[-1] == "Quit (the agent keeps running)"


def test_busy_disables_actions_until_done() -> None:
    snap = Snapshot(
        SNAPS["contributing"].status, time.time(), account=EMAIL, busy="Leaving pool demo…"
    )
    assert headline(snap) == "Leaving pool demo…"
    assert "leave" not in enabled(snap) and "pause" not in enabled(snap)


def test_pause_durations() -> None:
    now = time.mktime((2025, 3, 10, 14, 30, 0, 0, 0, -1))
    assert pause_seconds("pause_1h", now) == 3600
    assert pause_seconds("pause_3h", now) == 3 * 3600
    assert pause_seconds("pause", now) is None
    tomorrow = pause_seconds("pause_tomorrow", now)
    assert time.localtime(now + tomorrow)[:5] == (2025, 3, 11, 8, 0)
    # after midnight "tomorrow" is the coming morning, not 31 hours away
    night = time.mktime((2025, 3, 11, 0, 50, 0, 0, 0, -1))
    assert time.localtime(night + pause_seconds("pause_tomorrow", night))[:5] == (2025, 3, 11, 8, 0)


def _with(state: str, reason: str, w=None) -> Snapshot:
    return Snapshot(status(state, reason, w), time.time(), account=EMAIL, today=TODAY)


def test_notifications_only_on_changes() -> None:
    idle, running = _with("idle", "not in a pool"), _with("running", "contributing", worker())
    assert notice(None, running) is None
    assert notice(running, running) is None
    joined = notice(_with("joining", "joining a pool"), running)
    assert joined is not None and joined.title == "Joined pool demo"
    assert "10.42.0.5" in joined.text
    left = notice(running, idle)
    assert left is not None and left.title == "Left pool demo"
    rule = notice(running, SNAPS["paused-in-use"])
    assert rule is not None and rule.title == "Paused by a rule" and "computer in use" in rule.text
    assert notice(running, SNAPS["paused-by-you"]) is None  # you did it: no news
    err = notice(running, SNAPS["error"])
    assert err is not None and err.level == "error"
    gone = notice(running, SNAPS["agent-down"])
    assert gone is not None and gone.title == "Agent stopped"


def test_control_characters_never_reach_the_tray() -> None:
    """A pool name or reason from a hostile platform shows as visible escapes everywhere."""
    evil = "demo\x1b[2J\u202e\r"
    snap = Snapshot(
        status("running", "contributing", worker(pool_name=evil)), time.time(), account=EMAIL
    )
    shown = [tooltip(snap), *(i.text + i.tip for i in menu_model(snap))]
    left = notice(snap, Snapshot(status("error", evil), time.time(), account=EMAIL))
    assert left is not None
    shown += [left.title, left.text]
    assert "demo\\x1b[2J\\u202e\\x0d" in tooltip(snap)
    for text in shown:
        assert not any(c in text for c in "\x1b\u202e\r"), text


def test_the_menu_shows_the_devices_reliability_record_once_results_were_judged() -> None:
    from kalavai_like.client.records import Witnessed

    record = Witnessed(tasks=9, compute_seconds=4.0, valid=6, invalid=2, errors=1,
                       invalid_compute_seconds=1.5)  # fmt: skip
    snap = Snapshot(status("running", "contributing", worker(witnessed=record)), time.time(),
                    account=EMAIL, today=TODAY)  # fmt: skip
    lines = [i.text for i in menu_model(snap) if i.key == "status"]
    assert lines[-1] == "Results 6 valid, 2 invalid (1.5 core-s not granted), 1 error"
    plain = worker(witnessed=Witnessed(tasks=9, compute_seconds=4.0))
    snap = Snapshot(status("running", "contributing", plain), time.time(), account=EMAIL)
    assert not any("Results" in i.text for i in menu_model(snap))


def test_a_boinc_worker_shows_its_task_and_an_unreachable_project() -> None:
    task = {
        "name": "kn_wu_1_0", "project_url": "http://p/", "state": "running",
        "fraction_done": 0.35, "elapsed_seconds": 7.0, "cpu_seconds": 7.0, "deadline": 2e9,
    }  # fmt: skip
    project = {"url": "http://p/", "name": "Stand-in", "unreachable": False, "message": ""}
    boinc = {"projects": [project], "tasks": [task]}
    running = status("running", "contributing", worker(boinc=boinc))
    snap = dataclasses.replace(SNAPS["contributing"], status=running)
    assert "BOINC: kn_wu_1_0 35% (running)" in tooltip(snap).splitlines()
    assert "BOINC: kn_wu_1_0 35% (running)" in [i.text for i in menu_model(snap)]
    down = {**project, "unreachable": True, "last_try": 1796310545.0}
    boinc = {"projects": [down], "tasks": []}
    snap = dataclasses.replace(snap, status=status("running", "contributing", worker(boinc=boinc)))
    assert "BOINC: project unreachable (last try 2026-12-03 15:09:05Z)" in tooltip(snap)
