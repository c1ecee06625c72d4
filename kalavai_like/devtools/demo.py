"""`kalavai-like demo`: a whole pool on this machine, shown step by step.

A platform (SQLite), a seed running a `dask` pool, and two volunteers (alice, bob) that sign
up and join, each a simulated host (kalavai_like.devtools.simulator). A real Dask computation is
then submitted from inside the pool's head container; the scheduler's record of which worker holds
which result shows that both volunteers computed, over the overlay. Then bob pauses and
resumes. Once the pool head's witness of the job has reached the platform (the seed reports it
every WITNESS_INTERVAL s), the pool's workers, each volunteer's contributed totals, the credit
the platform granted and the witness that backs it are printed. At the end (or on Ctrl-C, or
on failure) everything is removed; `--keep` leaves it running.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from kalavai_like.client.credit import WITNESS, witnessed_text
from kalavai_like.devtools.simulator import SimHost, Simulator
from kalavai_like.errors import KalavaiError, SystemProblem

Say = Callable[[str], None]
TASKS = 40
VOLUNTEERS = ("alice", "bob")
WITNESS_INTERVAL = 2.0  # the seed's witness reports, every this many seconds (agents: 10)
WITNESS_WAIT = 60.0  # the most the report waits for the witness to be granted

# Runs inside the head container (python3 with distributed), next to the scheduler; with
# mutual TLS it connects with the scheduler's own certificate (a role the guard trusts).
DASK_JOB = """
import json, os, sys, time
from distributed import Client
from distributed.security import Security
d = "/run/kalavai-tls"
if os.path.exists(d + "/scheduler.pem"):
    sec = Security(tls_ca_file=d + "/ca.pem", tls_client_cert=d + "/scheduler.pem",
                   tls_client_key=d + "/scheduler.key", require_encryption=True)
    client = Client("tls://{head}:8786", security=sec, timeout=30)
else:
    client = Client("tcp://{head}:8786", timeout=30)
client.wait_for_workers({workers}, timeout=60)

def work(i):
    import time
    t, n = time.time(), 0
    while time.time() - t < 0.25:
        n += 1
    return i * i

futures = client.map(work, range({tasks}), pure=False)
results = client.gather(futures)
who_has = client.who_has(futures)
names = {{addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}}
per_worker = {{}}
for key, addrs in who_has.items():
    for addr in addrs:
        per_worker[str(names.get(addr, addr))] = per_worker.get(str(names.get(addr, addr)), 0) + 1
print(json.dumps({{"sum": sum(results), "per_worker": per_worker, "workers": names}}))
client.close()
"""


def base_dir(prefix: str) -> Path:
    """Where the demo keeps its homes and platform: under /run, which only root may write."""
    return Path(f"/run/kalavai-like/demo-{prefix}")


def run_dask_job(
    sim: Simulator, seed_head: str, head_address: str, workers: int, tasks: int = TASKS
) -> dict[str, Any]:
    """Submit the demo's Dask job from inside the head container; returns the scheduler's
    record: tasks held per worker name (worker names are the volunteers' device ids).

    Raises:
        SystemProblem: the job failed (with its output).
    """
    from kalavai_like.container.config import RuntimeConfig

    rc = RuntimeConfig.detect("podman", probe=False)
    script = DASK_JOB.format(head=head_address, workers=workers, tasks=tasks)
    import subprocess

    proc = subprocess.run(
        rc.command("exec", "-i", "-e", "HOME=/tmp", seed_head, "python3", "-"),
        input=script, capture_output=True, text=True, timeout=180, env=rc.environ(), check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemProblem("The Dask job failed", (proc.stderr or proc.stdout)[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_demo(prefix: str = "kldemo", keep: bool = False, say: Say = print) -> dict[str, Any]:
    """Run the demo; returns what it observed (used by the end-to-end test).

    Raises:
        KalavaiError: a step failed (everything was removed).
    """
    stale = Simulator.load(base_dir(prefix))
    if stale is not None:
        say("Removing what an earlier demo left running...")
        stale.close()
    sim = Simulator(prefix, base_dir(prefix))
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    ok = False
    try:
        observed = _run(sim, say)
        ok = True
        if keep:
            _explain(sim, say)
        return observed
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not (ok and keep):
            say("Tearing down: agents, containers, namespaces, WireGuard, platform...")
            sim.close()
            left = sim.leftovers()
            say("Nothing left behind." if not left else f"Left behind: {', '.join(left)}")


class _Steps:
    """Says each step with the seconds since the demo began."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.t0 = time.monotonic()

    def __call__(self, text: str) -> None:
        self.say(f"[{time.monotonic() - self.t0:6.1f} s] {text}")


def _run(sim: Simulator, say: Say) -> dict[str, Any]:
    step = _Steps(say)
    seed, vols, out = _start_pool(sim, step)
    device_of = _join(sim, vols, out["token"], step)
    step(f"Submitting a Dask computation of {TASKS} tasks from the pool head...")
    job = run_dask_job(sim, out["head"], out["address"], len(vols))
    per_volunteer = {device_of.get(k, k): n for k, n in job["per_worker"].items()}
    step(f"Result {job['sum']}; tasks per volunteer (scheduler's record): {per_volunteer}")
    missing = [v.short for v in vols if per_volunteer.get(v.short, 0) == 0]
    if missing:
        raise KalavaiError("A volunteer did no work", f"No task ran on {', '.join(missing)}.")
    paused_state, resumed_state = _pause_and_resume(sim, seed, vols[-1], step)
    totals, credit, witness = _report(sim, seed, vols, say)
    step("Demo complete")
    return {
        "per_volunteer": per_volunteer, "sum": job["sum"], "totals": totals, "credit": credit,
        "witnessed": witness, "paused_state": paused_state, "resumed_state": resumed_state,
    }  # fmt: skip


def _start_pool(sim: Simulator, step: _Steps) -> tuple[SimHost, list[SimHost], dict[str, Any]]:
    """The hosts, the platform, an agent signed up on each, and the seed's dask pool."""
    step("Creating simulated hosts: seed, alice, bob (one network namespace each)")
    sim.start_network()
    seed = sim.add_host("seed")
    vols = [sim.add_host(v) for v in VOLUNTEERS]
    sim.agent_settings["witness_interval"] = WITNESS_INTERVAL  # written with the platform's URL
    url = sim.start_platform()
    sim.save()
    step(f"Platform (SQLite) serving at {url}")
    for host in (seed, *vols):
        sim.start_agent(host)
        sim.signup(host)
        step(f"{host.short}: agent running, signed up as {host.email}")
    sim.save()
    out = sim.cli_json(seed, "pool", "start", "demo", "--template", "dask",
                       "--endpoint", f"{seed.address}:51820")  # fmt: skip
    step(f"seed: pool 'demo' started, hub {out['address']} at {out['endpoint']}, "
         f"Dask scheduler in {out['head']}")  # fmt: skip
    return seed, vols, out


def _join(sim: Simulator, vols: list[SimHost], token: str, step: _Steps) -> dict[str, str]:
    """Each volunteer joins with `token`; returns the volunteer's name per device id."""
    device_of: dict[str, str] = {}
    for v in vols:
        step(f"{v.short}: kalavai-like pool join <token> --cpus 1 --memory 1g")
        p = sim.cli(v, "pool", "join", "-", "--cpus", "1", "--memory", "1g", "--name", v.short,
                    input=token + "\n")  # fmt: skip
        for line in p.stdout.splitlines():
            if line.startswith("["):
                step.say(f"           {v.short} | {line}")
        device_of[sim.client(v).status().worker.device_id] = v.short
    return device_of


def _pause_and_resume(sim: Simulator, seed: SimHost, bob: SimHost, step: _Steps) -> tuple[str, str]:
    """bob pauses, then resumes; returns the states the platform saw after each."""
    started = time.monotonic()
    sim.cli(bob, "pool", "pause")
    paused_ms = (time.monotonic() - started) * 1000
    step(f"bob: pool pause -> worker frozen ({paused_ms:.0f} ms as seen by the CLI)")
    paused_state = _platform_state(sim, seed, "bob", "paused")
    step(f"platform sees bob as '{paused_state}'")
    started = time.monotonic()
    sim.cli(bob, "pool", "resume")
    step(f"bob: pool resume ({(time.monotonic() - started) * 1000:.0f} ms)")
    resumed_state = _platform_state(sim, seed, "bob", "running")
    step(f"platform sees bob as '{resumed_state}'")
    return paused_state, resumed_state


Report = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def _report(sim: Simulator, seed: SimHost, vols: list[SimHost], say: Say) -> Report:
    """Once the head's witness is granted: the pool's workers, alice's status and each
    volunteer's totals, granted credit and its witness (returned per volunteer)."""
    names = [v.short for v in vols]
    say("")
    say("Waiting for the pool head's witness of the job to reach the platform...")
    devices = await_witness(lambda: sim.cli_json(seed, "pool", "workers"), names)
    missing = [n for n in names if not witnessed(devices.get(n))]
    if missing:
        say(
            f"No witness of {', '.join(missing)} reached the platform in {WITNESS_WAIT:.0f} s: "
            "their credit below is still pending. The seed's agent reports what the pool's "
            f"head witnessed every {WITNESS_INTERVAL:g} s; see {seed.home / 'agent.out'}."
        )
    say("")
    say("$ kalavai-like pool workers   (on the seed, as the pool owner)")
    say(sim.cli(seed, "pool", "workers").stdout.rstrip())
    say("")
    say("$ kalavai-like pool status   (on alice)")
    say(sim.cli(vols[0], "pool", "status").stdout.rstrip())
    say("")
    totals, credit, witness = {}, {}, {}
    for v in vols:
        st = sim.client(v).status()
        totals[v.short] = st.worker.totals.to_dict()
        witness[v.short] = (devices.get(v.short) or {}).get("witnessed") or {}
        mine = sim.cli_json(v, "credits", "--days", "1")
        credit[v.short] = mine["granted"]
        device = devices.get(v.short) or {}
        say(volunteer_line(v.short, totals[v.short], st.state, mine, device))
    if any((devices.get(n) or {}).get("witness") == "owner" for n in names):
        say(
            f"The platform's operator has not marked the pool 'demo' trusted: its credit is "
            f"{WITNESS['owner']} and counts in the pool, not on the leaderboard."
        )
    return totals, credit, witness


def witnessed(device: dict[str, Any] | None) -> bool:
    """Whether the platform's record of a device shows work its pool's head witnessed, and
    CPU granted for it."""
    if not device:
        return False
    tasks = int((device.get("witnessed") or {}).get("tasks") or 0)
    return tasks > 0 and float((device.get("totals") or {}).get("cpu_core_hours") or 0) > 0


def await_witness(
    read: Callable[[], list[dict[str, Any]]], names: list[str], timeout: float = WITNESS_WAIT,
    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The pool's device records by name (`read`: the owner's `pool workers --json`), once
    each of `names` is `witnessed`, or as last read after `timeout` seconds."""
    deadline = clock() + timeout
    while True:
        by_name = {str(d.get("name")): d for d in read()}
        if all(witnessed(by_name.get(n)) for n in names) or clock() >= deadline:
            return by_name
        sleep(0.5)


def volunteer_line(
    name: str, totals: dict[str, float], state: str, credits: dict[str, Any],
    device: dict[str, Any],
) -> str:  # fmt: skip
    """One volunteer's contribution, the credit granted for it and the witness behind it
    (`credits`: its `credits --json`; `device`: the platform's record of its device)."""

    def credit(part: str) -> str:
        return f"{float((credits.get(part) or {}).get('credit') or 0.0):.6f}"

    return (f"{name}: contributed {totals['cpu_seconds']:.2f} CPU core-seconds, "
            f"{totals['ram_gb_seconds']:.3f} RAM GiB-seconds ({state}); platform granted "
            f"{credit('granted')} credit, {WITNESS['trusted']}: "
            f"{witnessed_text(device.get('witnessed') or {})} (pending {credit('pending')}, "
            f"unverified {credit('unverified')})")  # fmt: skip


def _platform_state(
    sim: Simulator, seed: SimHost, name: str, want: str, timeout: float = 15.0
) -> str:
    """The state the platform records for volunteer `name`, once it is `want` (or timeout)."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        for d in sim.cli_json(seed, "pool", "workers"):
            if d.get("name") == name:
                state = d.get("state", "unknown")
        if state == want:
            break
        time.sleep(0.3)
    return state


def _explain(sim: Simulator, say: Say) -> None:
    seed = sim.hosts["seed"]

    def home(short: str) -> str:
        return f"--home {sim.hosts[short].home}"

    say("")
    say("Left running. Explore (as root):")
    say(f"  kalavai-like {home('alice')} pool status")
    say(f"  kalavai-like {home('bob')} pool pause --for 10m")
    say(f"  nsenter --net=/run/netns/{seed.netns} kalavai-like {home('seed')} pool workers")
    say(f"  podman exec -it {seed.node_prefix}-hub-head python3   # next to the Dask scheduler")
    say(f"  platform: {sim.platform.url if sim.platform else '?'}")
    say("Tear it all down with:")
    say(f"  kalavai-like demo --down --prefix {sim.prefix}")


def tear_down(prefix: str = "kldemo", say: Say = print) -> None:
    """Remove a demo left running with --keep."""
    sim = Simulator.load(base_dir(prefix))
    if sim is None:
        say("No demo is running.")
        return
    sim.close()
    left = sim.leftovers()
    say("Removed the demo." if not left else f"Left behind: {', '.join(left)}")
