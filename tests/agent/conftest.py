"""Fixtures for the agent tests: a World of fakes to build Nodes on (tests/support/agent_fakes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agent_fakes import World


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)
