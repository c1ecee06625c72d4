"""The agent's files: one agent per home (lock), the 0600 state file, rotating logs."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from kalavai_like.agent.store import AgentLock, JsonStore, holder_pid, setup_logging
from kalavai_like.errors import Conflict


def test_second_agent_for_a_home_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    first = AgentLock(tmp_path / "run" / "agent.lock").acquire()
    try:
        with pytest.raises(Conflict) as info:
            AgentLock(tmp_path / "run" / "agent.lock").acquire()
        import os

        assert str(os.getpid()) in info.value.message
        assert holder_pid(tmp_path / "run" / "agent.lock") == os.getpid()
    finally:
        first.release()
    assert holder_pid(tmp_path / "run" / "agent.lock") is None
    AgentLock(tmp_path / "run" / "agent.lock").acquire().release()


def test_state_file_holding_secrets_is_private(tmp_path: Path) -> None:
    store = JsonStore(tmp_path / "agent" / "node.json")
    assert store.load() is None
    store.save({"membership": {"credential": "kld_secret"}})
    assert stat.S_IMODE((tmp_path / "agent" / "node.json").stat().st_mode) == 0o600
    assert store.load() == {"membership": {"credential": "kld_secret"}}


def test_logs_rotate(tmp_path: Path) -> None:
    handler = setup_logging(tmp_path / "agent.log")
    try:
        log = logging.getLogger("kt6.rotate")
        for _ in range(12_000):
            log.info("x" * 100)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert (tmp_path / "agent.log.1").exists()
    assert (tmp_path / "agent.log").stat().st_size <= 1_000_000
