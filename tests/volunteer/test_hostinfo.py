"""Host sources: idle time from logind (recorded outputs), power, non-pool CPU load, hardware."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kalavai_like.volunteer.hostinfo import Host, LoadMeter, hardware, idle_seconds, power
from tests.support.nvml import FakeGpu, FakeNVML

RECORDED = Path(__file__).parent / "recorded"
IDLE_SINCE = 1709558400.0  # IdleSinceHint in loginctl_session_2_idle.txt


def recorded(session2: str, *, with_local: bool = True):
    """A runner answering loginctl from the recorded files."""

    def run(args: list[str]) -> str | None:
        if args[:2] == ["loginctl", "list-sessions"]:
            text = (RECORDED / "loginctl_list_sessions.txt").read_text()
            return text if with_local else "      7 1000 alice\n"
        if args[:2] == ["loginctl", "show-session"]:
            name = f"loginctl_session_{session2}.txt" if args[2] == "2" else None
            name = name or f"loginctl_session_{args[2]}.txt"
            return (RECORDED / name).read_text()
        raise AssertionError(args)

    return run


def test_idle_desktop_session() -> None:
    assert idle_seconds(recorded("2_idle"), now=lambda: IDLE_SINCE + 420) == 420


def test_active_desktop_session_is_in_use_and_beats_idle_ssh() -> None:
    assert idle_seconds(recorded("2_active"), now=lambda: IDLE_SINCE) == 0


def test_only_a_remote_session_counts_when_no_local_one() -> None:
    assert idle_seconds(recorded("2_idle", with_local=False), now=lambda: IDLE_SINCE) == 0


def test_no_logind_means_unknown() -> None:
    assert idle_seconds(lambda args: None) is None
    assert idle_seconds(lambda args: "") is None


def test_power_sources() -> None:
    battery = SimpleNamespace(percent=42.0, secsleft=3600, power_plugged=False)
    p = power(lambda: battery)
    assert (p.on_battery, p.percent) == (True, 42.0)
    assert (
        power(lambda: SimpleNamespace(percent=80, secsleft=-2, power_plugged=True)).on_battery
        is False
    )
    assert power(lambda: None).on_battery is False  # a desktop without a battery

    def broken():
        raise OSError("no sysfs")

    assert power(broken).on_battery is False


def test_load_meter_subtracts_the_worker() -> None:
    clock = {"t": 0.0, "host": 100.0}
    meter = LoadMeter(lambda: clock["host"], cores=4, mono=lambda: clock["t"])
    assert meter.update(50.0) is None
    clock["t"], clock["host"] = 10.0, 100.0 + 30.0  # 30 core-seconds busy in 10 s on 4 cores
    assert meter.update(50.0 + 20.0) == pytest.approx(25.0)  # the worker used 20 of them
    clock["t"], clock["host"] = 20.0, 130.0 + 5.0
    assert meter.update(2.0) == pytest.approx(7.5)  # worker restarted: 2 s of the 5 were its
    clock["t"], clock["host"] = 30.0, 135.0 + 40.0
    assert meter.update(None) == pytest.approx(100.0)  # no worker, all busy


def test_real_host_sources_do_not_raise() -> None:
    hw = hardware(FakeNVML([FakeGpu()]))
    assert hw.cores >= 1 and hw.memory_bytes > 2**28 and hw.gpus == 1
    assert hardware(FakeNVML(driver=False)).gpus == 0
    host = Host()
    assert host.inputs(None).load_percent is None
    second = host.inputs(None)
    assert second.load_percent is not None and 0 <= second.load_percent <= 100
