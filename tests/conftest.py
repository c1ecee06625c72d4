"""Shared test setup. Qt must be told to run offscreen before anything imports it.

Fixtures used across folders: the real platform on loopback, tiny failing HTTP servers, and a
real Secret Service as the keyring backend (helpers in tests/support)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.support.http import TinyServer, start_tiny_server
from tests.support.platform_api import TEST_SIGNUPS_PER_HOUR
from tests.support.secret_service import as_keyring


@pytest.fixture(scope="session")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """The real platform server (`kalavai-like platform serve`) on a loopback port."""
    data = tmp_path_factory.mktemp("platform")
    with start_local_platform(data, signups_per_hour=TEST_SIGNUPS_PER_HOUR) as platform:
        yield platform


@pytest.fixture
def tiny_server() -> Iterator[Callable[[str], TinyServer]]:
    """Start loopback HTTP servers that answer as tests/support/http.py's CANNED says."""
    servers: list[TinyServer] = []

    def start(kind: str) -> TinyServer:
        servers.append(start_tiny_server(kind))
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def real_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The real Secret Service (gnome-keyring) on a private D-Bus, as the keyring backend."""
    with as_keyring(tmp_path / "kr", monkeypatch):
        yield tmp_path


@pytest.fixture
def real_secret_service(real_keyring: Path) -> Path:
    """The same as `real_keyring` (the name the keystore tests use)."""
    return real_keyring
