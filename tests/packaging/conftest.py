"""Shared fixtures of the packaging tests: the PyInstaller bundle, built once per source state
(packaging/pyinstaller/build keeps it in a cache keyed by the hash of the sources), and a
throwaway user."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO


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


@pytest.fixture
def user() -> Iterator[str]:
    """A throwaway user: the one who ran `sudo install.sh`, or any user of the machine."""
    name = f"klpkg{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True)  # fmt: skip
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)
