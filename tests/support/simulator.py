"""The pool simulator as the end-to-end tests (and bench/) use it: `simulated()` starts one in
/run/kalavai-like/test-PREFIX and, however the test ends, closes it and fails if anything named
PREFIX is left behind; `start_hosts` is the usual start (platform, hosts whose agents are
signed up). `Pool` and `Burn` are what the lifecycle and credit tests need to know about theirs."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.client.records import RuleReason, WorkerStatus
from kalavai_like.container.config import RuntimeConfig
from kalavai_like.container.runtime import ContainerRuntime
from kalavai_like.devtools.simulator import SimHost, Simulator
from kalavai_like.devtools.system import containers as _containers
from tests.support.waiting import wait_for

ROOT_TOOLS = ("nsenter", "ip", "podman", "wireguard-go", "wg")
# quick samples, heartbeats and checks, so the tests see effects within seconds
FAST = {
    "sample_interval": 1.0, "heartbeat_interval": 1.0, "check_interval": 2.0,
    "handshake_timeout": 3.0,
}  # fmt: skip


def needs_root_tools() -> pytest.MarkDecorator:
    ok = os.geteuid() == 0 and all(shutil.which(t) for t in ROOT_TOOLS)
    return pytest.mark.skipif(not ok, reason="needs root, podman, wireguard-go")


def runtime() -> ContainerRuntime:
    """The host's podman, as the agents in the simulated hosts use it."""
    return ContainerRuntime(RuntimeConfig.detect("podman", probe=False))


def traces(node_prefix: str) -> list[str]:
    """What a membership of this node leaves on the machine: namespaces, wg sockets,
    wireguard-go processes and containers carrying its prefix (the hub is `-hub`)."""
    stem = f"{node_prefix}-wk"
    found = [f"netns {n}" for n in os.listdir("/run/netns") if n.startswith(stem)]
    if os.path.isdir("/var/run/wireguard"):
        found += [f"sock {s}" for s in os.listdir("/var/run/wireguard") if s.startswith(stem)]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"wireguard-go") and any(a.startswith(stem.encode()) for a in argv):
            found.append(f"wireguard-go {pid}")
    found += [f"container {c}" for c in _containers(node_prefix) if c.startswith(stem)]
    return found


def _here(fn: Callable[[], Any]) -> Any:
    return fn()


@contextmanager
def simulated(
    prefix: str,
    settings: dict[str, float],
    setup: Callable[[Simulator], None] = Simulator.start_network,
    run: Callable[[Callable[[], Any]], Any] = _here,
    base: Path | None = None,
) -> Iterator[Simulator]:
    """A simulator named `prefix` with `[agent]` `settings`, started by `setup`; a run that was
    interrupted earlier is closed first. `run` calls each step (a test may need another thread).
    Its files go to `base` (default /run/kalavai-like/test-PREFIX)."""
    base = base or Path(f"/run/kalavai-like/test-{prefix}")
    stale = Simulator.load(base)
    if stale is not None:  # an interrupted earlier run
        run(stale.close)
    sim = Simulator(prefix, base)
    sim.agent_settings = settings
    try:
        run(lambda: setup(sim))
        yield sim
    finally:
        run(sim.close)
        left = run(sim.leftovers)
        assert not left, f"left behind: {left}"


def start_hosts(*shorts: str) -> Callable[[Simulator], None]:
    """A setup: the network, hosts named `shorts`, the platform, and on each host an agent whose
    account is signed up."""

    def setup(sim: Simulator) -> None:
        sim.start_network()
        hosts = [sim.add_host(h) for h in shorts]
        sim.start_platform()
        for h in hosts:
            sim.start_agent(h)
            sim.signup(h)

    return setup


def set_agent(host: SimHost, **values: object) -> None:
    """Change `[agent]` settings of a host (read when its agent starts)."""
    path = host.home / "config" / "settings.toml"
    lines = path.read_text().splitlines()
    for key, value in values.items():
        text = f'"{value}"' if isinstance(value, str) else str(value)
        lines = [ln for ln in lines if not ln.startswith(f"{key} =")]
        at = lines.index("[agent]") + 1
        lines.insert(at, f"{key} = {text}")
    path.write_text("\n".join(lines) + "\n")


class Pool:
    """The lifecycle tests' simulator plus what they need to know about it."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.token = ""
        self.broken_token = ""

    def host(self, short: str) -> Any:
        return self.sim.hosts[short]

    def fresh_token(self, seed: str = "seed") -> str:
        out = self.sim.cli_json(self.host(seed), "pool", "token", "--uses", "1")
        return str(out["token"])

    def join(self, vol: str, token: str | None = None, check: bool = True) -> Any:
        h = self.host(vol)
        return self.sim.cli(
            h, "pool", "join", "-", "--cpus", "1", "--memory", "512m", "--name", vol,
            input=(token or self.fresh_token()) + "\n", check=check,
        )  # fmt: skip

    def devices(self, seed: str = "seed") -> list[dict[str, Any]]:
        out = self.sim.cli_json(self.host(seed), "pool", "workers", "--all")
        return out  # type: ignore[no-any-return]

    def device(self, name: str, seed: str = "seed") -> dict[str, Any]:
        found = [d for d in self.devices(seed) if d["name"] == name]
        return sorted(found, key=lambda d: d["created_at"])[-1]


class Burn:
    """The credit tests' simulator (workers that burn CPU) plus what they need to know about it."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def host(self, short: str) -> SimHost:
        return self.sim.hosts[short]

    def join(self, vol: str, cpus: str = "0.5") -> None:
        token = self.sim.cli_json(self.host("seed"), "pool", "token", "--uses", "1")["token"]
        self.sim.cli(self.host(vol), "pool", "join", "-", "--cpus", cpus, "--memory", "256m",
                     "--name", vol, input=token + "\n")  # fmt: skip

    def worker(self, vol: str) -> WorkerStatus:
        w = self.sim.client(self.host(vol)).status().worker
        assert w is not None, f"{vol} has no worker"
        return w  # type: ignore[no-any-return]

    def reasons(self, vol: str) -> list[RuleReason]:
        """The worker's active reasons ([] while the agent is still restoring it)."""
        w = self.sim.client(self.host(vol)).status().worker
        return list(w.reasons) if w is not None else []

    def container_id(self, vol: str) -> str:
        return runtime().state(f"{self.host(vol).node_prefix}-wk").id

    def device(self, vol: str) -> dict[str, Any]:
        devices = self.sim.cli_json(self.host("seed"), "pool", "workers")
        found = [d for d in devices if d["name"] == vol and not d.get("left_at")]
        return sorted(found, key=lambda d: d["created_at"])[-1]  # type: ignore[no-any-return]

    def settle(self, vol: str) -> float:
        """Pause the worker (its cgroup counter stops), wait until the platform acknowledged
        everything; returns the cgroup's own CPU seconds (the ground truth)."""
        client = self.sim.client(self.host(vol))
        wait_for(lambda: client.status().worker is not None, what="worker restored")
        self.sim.cli(self.host(vol), "pool", "pause")
        cid = self.container_id(vol)
        wait_for(lambda: self.worker(vol).container_state == "paused", what="frozen")
        truth = runtime().usage(cid).cpu_seconds
        seen: list[WorkerStatus] = []

        def acknowledged() -> bool:
            seen.append(self.worker(vol))
            return seen[-1].pending.cpu_seconds == 0.0

        try:
            wait_for(acknowledged, timeout=60, what="every sample acknowledged")
        except AssertionError:
            raise AssertionError(f"not acknowledged: {seen[-1]}") from None
        return truth

    def credential(self, vol: str) -> str:
        state = self.host(vol).home / "state" / "agent" / "node.json"
        return str(json.loads(state.read_text())["membership"]["credential"])

    def ledger_row(self, vol: str, seq: int) -> dict[str, Any]:
        path = self.host(vol).home / "state" / "agent" / "ledger.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            r = db.execute(
                "SELECT state, cpu_seconds, ram_gb_seconds, gpu_seconds FROM rows WHERE seq=?",
                (seq,),
            ).fetchone()
        return {"seq": seq, "state": r[0], "counters": {"cpu_seconds": r[1],
                "ram_gb_seconds": r[2], "gpu_seconds": r[3]}}  # fmt: skip

    def set_agent(self, vol: str, **values: object) -> None:
        set_agent(self.host(vol), **values)
