"""`--start-agent` starts a real agent process in the background for the home the CLI uses."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kalavai_like.agent.store import holder_pid
from kalavai_like.home.paths import under
from tests.support.waiting import wait_for


@pytest.mark.skipif(os.geteuid() != 0, reason="the agent runs as root")
def test_status_with_start_agent_starts_the_agent_and_reports_idle(tmp_path: Path) -> None:
    home = tmp_path / "kt12-home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.toml").write_text('[network]\nprefix = "kt12"\n')
    run = [sys.executable, "-m", "kalavai_like", "--home", str(home), "pool", "status"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
    pid = None
    try:
        without = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
        assert without.returncode != 0 and "--start-agent" in without.stderr
        out = subprocess.run(
            [*run, "--start-agent"], capture_output=True, text=True, env=env, timeout=60
        )
        found = re.search(r"Started the agent in the background \(PID (\d+)\)", out.stderr)
        pid = int(found.group(1)) if found else holder_pid(under(home).run / "agent.lock")
        assert out.returncode == 0, out.stderr
        assert found is not None, out.stderr
        assert re.search(r"State\s+idle \(not in a pool\)", out.stdout), out.stdout
        again = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
        assert again.returncode == 0 and "Started the agent" not in again.stderr  # it stayed up
    finally:
        if pid is not None:
            stop(pid, under(home).run / "agent.lock")


def stop(pid: int, lock: Path) -> None:
    """SIGTERM the agent by its PID; wait until it released its home's lock (SIGKILL at last)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: holder_pid(lock) is None, 20, "the agent to stop")
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        raise
