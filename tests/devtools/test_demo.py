"""`kalavai-like demo` as a test: two volunteers complete a Dask job whose tasks ran on both
(from the scheduler's record), a pause and resume the platform sees, and nothing left behind."""

from __future__ import annotations

import pytest

from kalavai_like.devtools.demo import run_demo
from tests.support.simulator import needs_root_tools

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip


def test_demo_runs_dask_on_both_volunteers_and_leaves_nothing() -> None:
    lines: list[str] = []
    observed = run_demo(prefix="kt6d", say=lines.append)
    assert observed["per_volunteer"].get("alice", 0) > 0
    assert observed["per_volunteer"].get("bob", 0) > 0
    assert sum(observed["per_volunteer"].values()) == 40
    assert observed["sum"] == sum(i * i for i in range(40))
    assert observed["paused_state"] == "paused" and observed["resumed_state"] == "running"
    assert all(t["cpu_seconds"] > 0 for t in observed["totals"].values())
    assert all(c["credit"] > 0 for c in observed["credit"].values())
    assert all(w["tasks"] > 0 for w in observed["witnessed"].values())  # backed by the head
    for name in ("alice", "bob"):
        assert any(line.startswith(f"{name}: contributed ") and
                   "witnessed by the pool's head: " in line for line in lines)  # fmt: skip
    assert any("pool status" in line for line in lines)
    assert lines[-1] == "Nothing left behind."
    assert any("pool workers" in line for line in lines)
