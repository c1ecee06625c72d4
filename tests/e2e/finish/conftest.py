"""A simulated Dask pool for `pool stop --finish`: the real platform, a seed whose head runs
the Dask scheduler over mutual TLS, and two volunteers. Everything is named `kf9...` and
removed by name/PID at the end, even on failure.

The owner's job runs as the owner's would, with `pool run` on the seed; its output is read
line by line while it runs, so a test acts when the job is mid-way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kalavai_like.devtools.simulator import Simulator
from tests.support.simulator import FAST, Pool, simulated, start_hosts

PREFIX = "kf9"
VOLUNTEERS = ("v1", "v2")


class Job:
    """The owner's script running under `pool run` on the seed, its output read as it comes."""

    def __init__(self, sim: Simulator, script: str) -> None:
        seed = sim.hosts["seed"]
        path = seed.home / "job.py"
        path.write_text(script)
        argv = ["nsenter", f"--net=/run/netns/{seed.netns}", "--", sys.executable, "-m",
                "kalavai_like", "--home", str(seed.home), "pool", "run", str(path)]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, **sim.env})  # fmt: skip
        self.lines: list[str] = []

    def read_until(self, prefix: str) -> str:
        """Read the job's output up to its first line starting with `prefix`."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return line
        raise AssertionError("the job ended early:\n" + "\n".join(self.lines[-40:]))

    def result(self, timeout: float = 300) -> dict[str, Any]:
        """The last line the job printed (JSON), once it exited 0."""
        assert self.proc.stdout is not None
        self.lines += [ln.rstrip("\n") for ln in self.proc.stdout]
        code = self.proc.wait(timeout)
        assert code == 0, "\n".join(self.lines[-40:])
        return json.loads(self.lines[-1])  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture(scope="package")
def pool() -> Iterator[Pool]:
    with simulated(PREFIX, FAST, start_hosts("seed", *VOLUNTEERS)) as sim:
        seed = sim.hosts["seed"]
        sim.cli(seed, "pool", "start", "finishing", "--template", "dask",
                "--endpoint", f"{seed.address}:51820")  # fmt: skip
        p = Pool(sim)
        for vol in VOLUNTEERS:
            p.join(vol)
        yield p
