"""Stopping a process the test started, by its handle: SIGTERM, then SIGKILL if it lingers."""

from __future__ import annotations

import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any] | None, timeout: float = 10) -> None:
    """Terminate `process` (if still running) and reap it; kill it after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
