"""Shared fixtures of the packaging tests: the PyInstaller bundle, built once per source state
(packaging/pyinstaller/build keeps it in a cache keyed by the hash of the sources)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.client.fixtures import local_platform  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[2]


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `cond` until it returns something true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The bundle directory (kalavai-like, kalavai-like-tray, _internal/)."""
    proc = subprocess.run(
        [str(REPO / "packaging" / "pyinstaller" / "build")],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = Path(proc.stdout.strip().splitlines()[-1])
    done = (path.parents[1] / "done").read_text()
    print(f"\nbundle {path}: {done.split()}")  # build seconds and size, for the report
    return path
