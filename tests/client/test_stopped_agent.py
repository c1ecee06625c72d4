"""A client finding no agent says why when the agent left word: stopped, and its worker frozen."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kalavai_like.client.local import NodeClient, stopped_path
from kalavai_like.errors import AgentUnavailable


def test_status_says_the_agent_was_stopped_and_the_worker_is_frozen(tmp_path: Path) -> None:
    sock = tmp_path / "agent.sock"
    stopped_path(sock).write_text(json.dumps({"stopped_at": time.time(), "frozen_pool": "demo"}))
    with pytest.raises(AgentUnavailable) as info:
        NodeClient(sock).status()
    assert "worker of pool demo is frozen" in info.value.message
    assert "Start it with" in info.value.message


def test_without_word_from_the_agent_it_is_just_not_running(tmp_path: Path) -> None:
    sock = tmp_path / "agent.sock"
    stopped_path(sock).write_text("{damaged")
    with pytest.raises(AgentUnavailable) as info:
        NodeClient(sock).status()
    assert "frozen" not in info.value.message and "stopped at" not in info.value.message
