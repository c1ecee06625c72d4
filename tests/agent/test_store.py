"""The agent's files: one agent per home (lock), the 0600 state file, rotating logs, and
where clients find the socket."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from kalavai_like.agent.store import AgentLock, JsonStore, holder_pid, setup_logging
from kalavai_like.client.local import listen_path, socket_path, stopped_path
from kalavai_like.errors import Conflict
from kalavai_like.home.paths import Paths, under


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


def test_agent_log_is_private_from_its_creation_and_after_each_rotation(tmp_path: Path) -> None:
    """The log names pools, devices and addresses: no other local user may read it."""
    import os

    old = tmp_path / "logs" / "agent.log.old"
    old.parent.mkdir()
    old.write_text("an older agent's log\n")
    old.chmod(0o644)
    old.rename(tmp_path / "logs" / "agent.log")  # an existing, world-readable log
    umask = os.umask(0o022)
    try:
        handler = setup_logging(tmp_path / "logs" / "agent.log")
        mode_first = stat.S_IMODE((tmp_path / "logs" / "agent.log").stat().st_mode)
        try:
            for _ in range(12_000):
                logging.getLogger("kt6.private").info("x" * 100)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
        fresh = setup_logging(tmp_path / "new" / "agent.log")
        logging.getLogger().removeHandler(fresh)
        fresh.close()
    finally:
        os.umask(umask)
    assert mode_first == 0o600
    assert (tmp_path / "logs" / "agent.log.1").exists()
    for name in ("agent.log", "agent.log.1"):
        assert stat.S_IMODE((tmp_path / "logs" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new" / "agent.log").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_clients_without_a_home_fall_back_to_the_system_agents_socket(tmp_path: Path) -> None:
    run = tmp_path / "user-run"
    own = Paths(config=run, state=run, data=run, logs=run, run=run)  # no --home: the OS's dirs
    system = tmp_path / "system" / "agent.sock"
    assert socket_path(own, {}, system) == run / "agent.sock"  # no agent anywhere: the own one
    system.parent.mkdir()
    stopped_path(system).write_text('{"stopped_at": 1, "frozen_pool": "demo"}')
    assert socket_path(own, {}, system) == system  # a stopped system agent: its word is there
    system.touch()
    assert socket_path(own, {}, system) == system  # the system-wide agent, no --home needed
    run.mkdir()
    (run / "agent.sock").touch()
    assert socket_path(own, {}, system) == run / "agent.sock"  # the user's own agent first
    home = under(tmp_path / "kt12-home")
    assert socket_path(home, {}, system) == home.run / "agent.sock"  # --home is never overridden
    env = {"KALAVAI_LIKE_AGENT_SOCKET": str(tmp_path / "named.sock")}
    assert socket_path(home, env, system) == listen_path(home, env) == tmp_path / "named.sock"
