"""The global options of one CLI run (`--home`, `--debug`) and what they select: the instance
(`home()`, `paths()`) and its agent (`node()`).

The root callback calls `configure`; commands in every sub-app use these functions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalavai_like.client.instance import Home, Paths
    from kalavai_like.client.local import NodeClient

_home_dir: str | None = None
_debug = False
_home: Home | None = None


def configure(home_dir: str | None, debug: bool) -> None:
    """Record the global options (the root callback calls this once per run)."""
    global _home_dir, _debug, _home
    _home_dir, _debug, _home = home_dir, debug, None
    if home_dir:
        # Children (the agent, the platform for the demo) see the same home.
        os.environ["KALAVAI_LIKE_HOME"] = home_dir


def debug() -> bool:
    return _debug


def home() -> Home:
    """This run's instance (settings loaded once).

    Raises:
        InvalidInput: bad --home or a bad value in settings.toml.
    """
    global _home
    if _home is None:
        from kalavai_like.client.instance import Home

        _home = Home.open(_home_dir)
    return _home


def paths() -> Paths:
    """This run's instance directories, without reading its settings.

    Raises:
        InvalidInput: bad --home.
    """
    from kalavai_like.client import instance

    return instance.paths(_home_dir)


def node(start_agent: bool = False, timeout: float = 120.0) -> NodeClient:
    """The client of this instance's agent; with `start_agent`, one that does not answer is
    started in the background first (and the user told its PID).

    Raises:
        AgentUnavailable: `start_agent` was asked and the agent did not come up.
    """
    from kalavai_like.cli import console
    from kalavai_like.client.local import NodeClient

    def started(pid: int) -> None:
        console.note(f"Started the agent in the background (PID {pid}).")

    return NodeClient.for_home(home(), timeout=timeout, start=start_agent, on_started=started)
