"""Fixtures for the relay tests: the REAL platform with its relay (`platform serve
--relay-port 0`) on SQLite and on PostgreSQL, bridges in real processes, and stand-ins for
WireGuard's UDP sockets. The `api` fixture of tests/platform/conftest.py works on this
folder's `platform`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.support.platform_api import TEST_SIGNUPS_PER_HOUR
from tests.support.relay import Bridges, WireGuardEnd


@pytest.fixture(scope="session")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LocalPlatform]:
    """One platform with its relay per backend for the session."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    data_dir = tmp_path_factory.mktemp(f"relay-platform-{backend}")
    with start_local_platform(
        data_dir, database_url=url, relay_port=0, signups_per_hour=TEST_SIGNUPS_PER_HOUR
    ) as server:
        yield server


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[Bridges]:
    made = Bridges(tmp_path)
    try:
        yield made
    finally:
        made.stop_all()


@pytest.fixture
def wg() -> Iterator[Callable[[], WireGuardEnd]]:
    """Makes stand-ins for WireGuard's UDP socket."""
    made: list[WireGuardEnd] = []

    def make() -> WireGuardEnd:
        made.append(WireGuardEnd())
        return made[-1]

    try:
        yield make
    finally:
        for end in made:
            end.close()
