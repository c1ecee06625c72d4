"""`kalavai-like platform serve`: bad options are refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def serve(
    data_dir: Path, port: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`kalavai-like platform serve --port PORT --data-dir DATA_DIR`, as a person runs it."""
    argv = ["platform", "serve", "--port", port, "--data-dir", str(data_dir)]
    return subprocess.run(
        [sys.executable, "-m", "kalavai_like", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_bad_port_is_refused(port: str, tmp_path: Path) -> None:
    r = serve(tmp_path, port)
    assert r.returncode == 2
    assert "Bad port" in r.stderr and "1-65535" in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    r = serve(
        tmp_path,
        "0",
        env={
            "KALAVAI_LIKE_DATABASE_URL": "postgresql://root@/nodb?host=/nonexistent",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert r.returncode == 4
    assert "Database unavailable" in r.stderr
    assert "Traceback" not in r.stderr
