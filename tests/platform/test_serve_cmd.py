"""`kalavai-like platform serve`: bad options are refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_bad_port_is_refused(port: str, tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "kalavai_like",
            "platform",
            "serve",
            "--port",
            port,
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "Bad port" in r.stderr and "1-65535" in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "kalavai_like",
            "platform",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "KALAVAI_LIKE_DATABASE_URL": "postgresql://root@/nodb?host=/nonexistent",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert r.returncode == 4
    assert "Database unavailable" in r.stderr
    assert "Traceback" not in r.stderr
