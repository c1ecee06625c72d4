"""docs/DEPLOY.md's walkthrough for five machines, followed to the letter on six fresh simulated
hosts (the platform, a seed, four volunteers; real namespaces, wireguard-go and podman), named
`kd5...` and removed by name/PID at the end: it ends with `pool workers` listing four."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from typing import Any

import httpx
import pytest

from kalavai_like.devtools.simulator import PASSWORD, SimHost, Simulator
from tests.support import walkthrough as doc
from tests.support.simulator import FAST, needs_root_tools, simulated
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              pytest.mark.timeout(1200), needs_root_tools()]  # fmt: skip

PREFIX = "kd5"
VOLUNTEERS = ("v1", "v2", "v3", "v4")


def fresh_hosts(sim: Simulator) -> None:
    """Six hosts with nothing of kalavai-like running: no platform, no agent, no account. A
    host's settings say only what a real machine has (a file keystore for want of a desktop
    keyring, its host name) and the tests' quick intervals."""
    sim.start_network()
    for short in ("platform", "seed", *VOLUNTEERS):
        host = sim.add_host(short)
        conf = host.home / "config"
        conf.mkdir(parents=True)
        agent = "".join(f"{k} = {v}\n" for k, v in FAST.items())
        (conf / "settings.toml").write_text(
            f'keystore = "file"\n\n[agent]\n{agent}device_name = "{PREFIX}-{short}"\n'
        )


class Walk:
    """Runs the document's commands on the simulated hosts."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.token = ""
        self.platform: subprocess.Popen[bytes] | None = None
        self.outputs: list[str] = []

    def argv(self, host: SimHost, line: str) -> list[str]:
        words = {doc.PLATFORM_ADDRESS: self.sim.hosts["platform"].address,
                 doc.SEED_ADDRESS: self.sim.hosts["seed"].address,
                 doc.VOLUNTEER_EMAIL: host.email, doc.TOKEN: self.token}  # fmt: skip
        args = shlex.split(line)
        assert args[0] == "kalavai-like", f"not a kalavai-like command: {line}"
        args = [words.get(a, a) for a in args[1:]]
        args = [a.replace(doc.PLATFORM_ADDRESS, words[doc.PLATFORM_ADDRESS]) for a in args]
        args = [a.replace(doc.SEED_ADDRESS, words[doc.SEED_ADDRESS]) for a in args]
        return ["nsenter", f"--net=/run/netns/{host.netns}", "--",
                sys.executable, "-m", "kalavai_like", "--home", str(host.home), *args]  # fmt: skip

    def run(self, host: SimHost, line: str) -> None:
        if line == doc.AGENT_START:
            self.sim.start_agent(host)
        elif line.startswith("kalavai-like platform serve"):
            self.serve(host, line)
        else:
            # A session of its own (no terminal): signup reads its password prompts from stdin.
            proc = subprocess.run(
                self.argv(host, line), input=f"{PASSWORD}\n{PASSWORD}\n", capture_output=True,
                text=True, timeout=300, start_new_session=True, env=self.env(),
            )  # fmt: skip
            assert proc.returncode == 0, f"{host.short}: {line}\n{proc.stderr}{proc.stdout}"
            self.outputs.append(proc.stdout)
            if " pool token " in f" {line} ":
                self.token = next(w for w in proc.stdout.split() if w.startswith("kl1_"))

    def serve(self, host: SimHost, line: str) -> None:
        log = open(host.home / "platform.out", "ab")
        self.platform = subprocess.Popen(
            self.argv(host, line), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, env=self.env(),
        )  # fmt: skip
        log.close()
        self.sim.platform_pid = self.platform.pid  # close() ends it (its process group) by PID
        url = f"http://{host.address}:8700/healthz"
        wait_for(lambda: _answers(url), timeout=60, what=f"the platform at {url}")

    def env(self) -> dict[str, str]:
        import os

        keep = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
        return {**keep, "COLUMNS": "200"}

    def follow(self) -> None:
        for step in doc.steps():
            shorts = VOLUNTEERS if step.where == "each volunteer" else (step.where,)
            for short in shorts:
                for line in step.commands:
                    self.run(self.sim.hosts[short], line)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_deploy_walkthrough_ends_with_pool_workers_listing_four() -> None:
    assert [s.where for s in doc.steps()] == ["platform", "seed", "each volunteer", "seed"]
    with simulated(PREFIX, FAST, fresh_hosts) as sim:
        walk = Walk(sim)
        walk.follow()
        listed = walk.outputs[-1]  # the last step: `pool workers science` on the seed
        for short in VOLUNTEERS:
            rows = [ln for ln in listed.splitlines() if f"{PREFIX}-{short} " in f"{ln} "]
            assert len(rows) == 1 and "running" in rows[0], listed
        seed = sim.hosts["seed"]
        out = sim.cli(seed, "pool", "workers", "science", "--json").stdout
        workers: list[dict[str, Any]] = [d for d in json.loads(out) if d["role"] == "worker"]
        assert sorted(d["name"] for d in workers) == [f"{PREFIX}-{v}" for v in VOLUNTEERS]
        assert {d["state"] for d in workers} == {"running"}
