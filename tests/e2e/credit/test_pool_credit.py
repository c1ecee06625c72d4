"""Measured usage, exactly-once credit and the volunteer's live preferences, end to end: the
real platform, agents in simulated hosts, real WireGuard and podman workers that burn CPU."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kalavai_like.client.credit import read_daily_csv
from kalavai_like.client.platform import PlatformClient
from kalavai_like.client.records import LimitsNow
from kalavai_like.devtools.simulator import SimHost
from kalavai_like.platform.local import start_local_platform
from tests.support.simulator import Burn, needs_root_tools, runtime
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip


def cpu_rate(cid: str, seconds: float = 4.0) -> float:
    """Cores the container used over a window, from its cgroup's own counter."""
    rt = runtime()
    c0, t0 = rt.usage(cid).cpu_seconds, time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:  # a measuring window, not a wait for a condition
        time.sleep(0.2)
    return (rt.usage(cid).cpu_seconds - c0) / (time.monotonic() - t0)


def restart_agent(burn: Burn, vol: str, sig: int = signal.SIGTERM) -> None:
    burn.sim.kill_agent(burn.host(vol), sig)
    burn.sim.start_agent(burn.host(vol))
    saved = burn.host(vol).home / "state" / "agent" / "node.json"
    if saved.exists() and json.loads(saved.read_text()).get("membership"):
        client = burn.sim.client(burn.host(vol))
        wait_for(lambda: client.status().worker is not None, what="worker restored")


@contextmanager
def joined(
    burn: Burn, vol: str, cpus: str = "0.5", *, reset_prefs: bool = False
) -> Iterator[SimHost]:
    """Join `vol` to the pool; on the way out put its preferences back (if asked) and leave."""
    v = burn.host(vol)
    burn.join(vol, cpus=cpus)
    try:
        yield v
    finally:
        if reset_prefs:
            burn.sim.cli(v, "prefs", "reset", check=False)
        burn.sim.cli(v, "pool", "stop", check=False)


def test_lowering_the_cpu_cap_cuts_measured_cpu_without_a_restart(burn: Burn) -> None:
    with joined(burn, "v1", cpus="0.5", reset_prefs=True) as v:
        cid = burn.container_id("v1")
        before = cpu_rate(cid)
        out = burn.sim.cli(v, "prefs", "set", "cpu", "0.25")
        assert "applied now" in out.stderr
        assert burn.container_id("v1") == cid  # the same container: no restart
        after = cpu_rate(cid)
        assert after <= 0.25 * 1.1, after  # the cgroup enforces the new cap
        assert after < before * 0.75, (before, after)
        res = burn.sim.cli_json(v, "pool", "resources")
        assert res["worker"]["limits"]["cpus"] == 0.25
        assert res["worker"]["declared"]["cpus"] == 0.5
        shown = burn.sim.cli_json(v, "prefs", "show")
        assert shown["in_use.cpu"] == "0.25" and shown["idle.cpu"] == "0.25"
        bad = burn.sim.cli(v, "prefs", "set", "memory", "64G", check=False)
        assert bad.returncode != 0 and "exceeds this machine's" in bad.stderr


def test_a_schedule_that_excludes_now_pauses_and_pool_status_says_why(burn: Burn) -> None:
    with joined(burn, "v1", reset_prefs=True) as v:
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(dt.date.today().weekday() + 3) % 7]
        burn.sim.cli(v, "prefs", "set", "schedule", f"{day} 00:00-01:00")
        assert runtime().state(burn.container_id("v1")).state == "paused"
        out = burn.sim.cli(v, "pool", "status").stdout
        assert "paused (outside your schedule" in out, out
        assert "Why" in out and "outside your schedule (resumes" in out, out
        wait_for(lambda: burn.device("v1")["state"] == "paused", what="platform sees paused")
        assert "schedule" in (burn.device("v1")["reason"] or "")
        burn.sim.cli(v, "prefs", "reset", "schedule")
        assert runtime().state(burn.container_id("v1")).state == "running"
        assert burn.worker("v1").reasons == []


def test_a_timed_pause_survives_an_agent_restart_with_its_countdown(burn: Burn) -> None:
    with joined(burn, "v1") as v:
        burn.sim.cli(v, "pool", "pause", "--for", "1h")
        cid = burn.container_id("v1")
        restart_agent(burn, "v1", signal.SIGKILL)
        wait_for(lambda: burn.reasons("v1"), what="reasons after the restart")
        assert runtime().state(cid).state == "paused" and burn.container_id("v1") == cid
        out = burn.sim.cli(v, "pool", "status").stdout
        assert "paused by you until" in out and "min left)" in out, out
        (reason,) = burn.worker("v1").reasons
        left = dt.datetime.fromisoformat(reason.until or "").timestamp() - time.time()
        assert 3000 < left <= 3600


def test_metrics_endpoint_parses_and_carries_the_contribution(burn: Burn) -> None:
    v = burn.host("v1")
    burn.set_agent("v1", metrics=f"{v.address}:9464")
    restart_agent(burn, "v1")
    with joined(burn, "v1"):
        wait_for(lambda: burn.worker("v1").acked_seq >= 3, what="heartbeats acknowledged")
        url = f"http://{v.address}:9464/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = resp.read().decode()
        samples = {
            (s.name, s.labels.get("state", "")): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }
        for name in ("contributed_cpu_seconds_total", "contributed_ram_seconds_total",
                     "contributed_gpu_seconds_total", "credit", "credit_recent_average",
                     "handshake_age_seconds", "heartbeat_lag_seconds"):  # fmt: skip
            assert (f"kalavai_like_{name}", "") in samples, name
        assert samples[("kalavai_like_contributed_cpu_seconds_total", "")] > 0
        assert samples[("kalavai_like_credit", "")] == 0  # a pool with no witness grants none
        assert samples[("kalavai_like_state", "running")] == 1.0
        assert samples[("kalavai_like_state", "paused")] == 0.0
        assert 0 <= samples[("kalavai_like_heartbeat_lag_seconds", "")] < 30


def test_credits_csv_export_round_trips_the_json(burn: Burn, tmp_path: Path) -> None:
    with joined(burn, "v1") as v:
        wait_for(lambda: burn.device("v1")["unverified"]["cpu_core_hours"] > 0, what="usage")
        path = v.home / "credits.csv"
        out = json.loads(burn.sim.cli(v, "credits", "--days", "7", "--json", "--csv",
                                      str(path)).stdout)  # fmt: skip
        assert read_daily_csv(path) == out["daily"]
        assert len(out["daily"]) >= 1 and out["not_acknowledged"] is not None
        assert sum(r["cpu_core_hours"] for r in out["daily"]) == pytest.approx(
            out["granted"]["cpu_core_hours"], rel=1e-6
        )
        # a pool without a witness (generic): what it measured is unverified, nothing granted
        assert out["granted"]["cpu_core_hours"] == 0 and out["unverified"]["cpu_core_hours"] > 0
        human = burn.sim.cli(v, "credits").stdout
        assert "CPU core-hours" in human and "Granted per day" in human


def test_kill9_between_a_sample_and_a_heartbeat_loses_and_doubles_nothing(burn: Burn) -> None:
    v = burn.host("v2")
    burn.set_agent("v2", heartbeat_interval=60.0)  # samples every second, heartbeats rarely
    restart_agent(burn, "v2")
    with joined(burn, "v2"):
        acked = burn.worker("v2").acked_seq
        wait_for(lambda: burn.worker("v2").pending.cpu_seconds > 1.0, what="unsent samples")
        assert burn.worker("v2").acked_seq == acked  # sampled, not yet sent
        burn.sim.kill_agent(v, signal.SIGKILL)
        burn.set_agent("v2", heartbeat_interval=1.0)
        burn.sim.start_agent(v)
        truth = burn.settle("v2")
        counted = burn.device("v2")["unverified"]["cpu_core_hours"] * 3600  # no witness: all here
        assert counted == pytest.approx(truth, rel=0.01)
        assert burn.worker("v2").totals.cpu_seconds == pytest.approx(truth, rel=0.001)


def test_a_device_claiming_64_cores_on_a_2_core_host_is_clamped_for_the_owner(burn: Burn) -> None:
    v = burn.host("v2")
    burn.join("v2", cpus="64")
    try:
        assert burn.device("v2")["cores"] == 2  # the agent declares no more than the host has
        assert (burn.worker("v2").limits or LimitsNow(0, 0, 0)).cpus <= 2
        wait_for(lambda: burn.worker("v2").acked_seq >= 3, what="heartbeats")
        start = time.monotonic()
        burn.sim.kill_agent(v)  # the device now speaks for itself: it claims 64 cores
        last = burn.device("v2")
        with PlatformClient(burn.sim.platform.url, burn.credential("v2")) as dev:
            claim = last["unverified"]["cpu_core_hours"] * 3600 + 64 * 60.0
            body = {
                "seq": 10**6,
                "state": "running",
                "counters": {"cpu_seconds": claim, "ram_gb_seconds": 0.0, "gpu_seconds": 0.0},
            }
            reply = dev.request("POST", "/device/heartbeat", json=body)
        assert reply["duplicate"] is False
        seen = burn.device("v2")
        gained = (
            seen["unverified"]["cpu_core_hours"] - last["unverified"]["cpu_core_hours"]
        ) * 3600
        since_last = time.monotonic() - start + 2.0  # the agent beat every second until killed
        assert gained <= 2 * since_last * 1.05
        assert seen["clamped"]["cpu_core_hours"] * 3600 >= 64 * 60.0 - 2 * since_last * 1.05
        pool_credit = burn.sim.cli_json(burn.host("seed"), "pool", "workers")
        assert any(d["id"] == seen["id"] and d["clamped"]["cpu_core_hours"] > 1.0
                   for d in pool_credit)  # fmt: skip
    finally:
        burn.sim.start_agent(v)
        burn.sim.cli(v, "pool", "stop", check=False)


def test_exactly_once_across_two_minutes_without_the_platform(burn: Burn) -> None:
    sim = burn.sim
    with joined(burn, "v3", cpus="0.25") as v:
        wait_for(lambda: burn.worker("v3").acked_seq >= 3, what="heartbeats")
        old = sim.platform
        port = int(old.url.rsplit(":", 1)[1])
        old.stop()
        down_at = time.monotonic()
        while time.monotonic() - down_at < 120:  # the outage lasts two minutes
            time.sleep(2)
        w = burn.worker("v3")
        assert "platform_unreachable" in [c.code for c in sim.client(v).status().conditions]
        assert w.pending.cpu_seconds > 120 * 0.25 * 0.5  # kept locally meanwhile
        sim.platform = start_local_platform(old.data_dir, host=sim.gateway, port=port,
                                            address_holdback=0)  # fmt: skip
        truth = burn.settle("v3")
        dev = burn.device("v3")
        assert dev["unverified"]["cpu_core_hours"] * 3600 == pytest.approx(truth, rel=0.01)
        # replaying a batch the platform already took changes nothing
        acked = burn.worker("v3").acked_seq
        with PlatformClient(sim.platform.url, burn.credential("v3")) as client:
            reply = client.request("POST", "/device/heartbeat", json=burn.ledger_row("v3", acked))
        assert reply["duplicate"] is True
        after = burn.device("v3")
        assert after["unverified"] == dev["unverified"] and after["totals"] == dev["totals"]
