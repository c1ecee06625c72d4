"""Headless mode against the real thing: the real platform, a seed running a Dask pool and a
volunteer host whose agent is started as `kalavai-like agent --join-from-env` with the token
and the account key in files (as a Kubernetes Secret mounts them), in simulated hosts with
real namespaces, wireguard-go and podman. It joins, serves /metrics, survives restarts without
redeeming the token again (the platform's use count stays at 1 of 5), and after a `pool stop`
a restart does not rejoin with the same token."""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kalavai_like.devtools.simulator import Simulator
from tests.support.simulator import needs_root_tools, simulated
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip
PREFIX = "kph"
METRICS_PORT = 9464


@pytest.fixture
def sim() -> Iterator[Simulator]:
    settings = {"sample_interval": 1.0, "heartbeat_interval": 1.0,
                "check_interval": 2.0, "handshake_timeout": 5.0}  # fmt: skip
    with simulated(PREFIX, settings) as s:
        yield s


def used(sim: Simulator, seed, token_id: str) -> int:
    (tok,) = [t for t in sim.cli_json(seed, "pool", "tokens", "--pool", "demo")
              if t["id"] == token_id]  # fmt: skip
    return int(tok["used"])


def scrape(host) -> dict[str, float]:
    url = f"http://{host.address}:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:  # the test's own namespace
        text = resp.read().decode()
    return {
        s.name + json.dumps(s.labels, sort_keys=True): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(samples: dict[str, float], name: str, **labels: str) -> float | None:
    for key, v in samples.items():
        if key.startswith(name + "{") and all(f'"{k}": "{lv}"' in key for k, lv in labels.items()):
            return v
    return None


def test_headless_agent_joins_once_from_files_and_serves_metrics(
    sim: Simulator, tmp_path: Path
) -> None:
    seed, vol = sim.add_host("seed"), sim.add_host("vol")
    sim.start_platform()
    sim.start_agent(seed)
    sim.signup(seed)
    sim.cli(seed, "pool", "start", "demo", "--template", "dask",
            "--endpoint", f"{seed.address}:51820")  # fmt: skip
    made = sim.cli_json(seed, "pool", "token", "--pool", "demo", "--uses", "5")
    sim.signup(vol)
    key = sim.cli_json(vol, "account-key", "create", "headless")["key"]
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "token").write_text(made["token"] + "\n")
    (secrets / "account-key").write_text(key + "\n")
    sim.env = {
        "KALAVAI_LIKE_TOKEN_FILE": str(secrets / "token"),
        "KALAVAI_LIKE_ACCOUNT_KEY_FILE": str(secrets / "account-key"),
        "KALAVAI_LIKE_CPUS": "1", "KALAVAI_LIKE_MEMORY": "512M",
        "KALAVAI_LIKE_DEVICE_NAME": "headless-1",
    }  # fmt: skip
    sim.agent_args = ["--join-from-env", "--metrics", f"{vol.address}:{METRICS_PORT}"]
    sim.start_agent(vol)

    def worker() -> dict | None:
        st = sim.cli_json(vol, "pool", "status")
        w = st.get("worker")
        return w if w and w["acked_seq"] >= 1 and st["state"] == "running" else None

    first = wait_for(worker, 120, "the headless join")
    assert first["pool_name"] == "demo"
    assert used(sim, seed, made["id"]) == 1
    samples = wait_for(lambda: scrape(vol), 20, "/metrics")
    assert value(samples, "kalavai_like_state", state="running") == 1.0
    assert value(samples, "kalavai_like_contributed_cpu_seconds_total", pool="demo") is not None
    # nothing secret in the files the agent keeps about the headless join
    record = vol.home / "state" / "agent" / "headless.json"
    assert made["token"] not in record.read_text() and key not in record.read_text()

    # restart (SIGTERM, then kill -9): the membership is restored, the token not redeemed
    for sig in (signal.SIGTERM, signal.SIGKILL):
        sim.kill_agent(vol, sig)
        sim.start_agent(vol)
        again = wait_for(worker, 60, "the restored worker")
        assert again["device_id"] == first["device_id"] and again["address"] == first["address"]
        assert used(sim, seed, made["id"]) == 1
        assert value(wait_for(lambda: scrape(vol), 20, "/metrics"), "kalavai_like_state",
                     state="running") == 1.0  # fmt: skip
    devices = [d for d in sim.cli_json(seed, "pool", "workers") if d["name"] == "headless-1"]
    assert len(devices) == 1

    # after the volunteer leaves, a restart with the same token does not join again
    sim.cli(vol, "pool", "stop")
    sim.kill_agent(vol)
    sim.start_agent(vol)
    wait_for(lambda: "not redeeming" in (vol.home / "logs" / "agent.log").read_text()
             or "left the pool" in (vol.home / "logs" / "agent.log").read_text(),
             30, "the headless decision")  # fmt: skip
    assert sim.cli_json(vol, "pool", "status")["state"] == "idle"
    assert used(sim, seed, made["id"]) == 1
