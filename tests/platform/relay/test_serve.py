"""`kalavai-like relay serve` and the relay `platform serve --relay-port` runs: they start only
on a platform's database, and the platform's relay does not outlive its platform."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from kalavai_like.net.wireguard import pid_alive
from kalavai_like.platform.local import start_local_platform
from tests.support.waiting import wait_for


def test_relay_serve_needs_a_platform_database(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "kalavai_like", "relay", "serve", "--port", "0",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 2
    assert "No platform database" in r.stderr and "--data-dir" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_platforms_relay_ends_with_it_even_when_it_is_killed(tmp_path: Path) -> None:
    platform = start_local_platform(tmp_path / "p", relay_port=0)
    try:
        (relay,) = psutil.Process(platform.pid).children()
        os.kill(platform.pid, signal.SIGKILL)  # no chance to stop its child itself
        platform.process.wait(10)
        wait_for(lambda: not pid_alive(relay.pid), what="the relay to end with its platform")
    finally:
        platform.stop()
