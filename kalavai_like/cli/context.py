"""The global options of one CLI run (`--home`, `--debug`) and the instance they select.

The root callback calls `configure`; commands call `home()` for the instance (paths, settings,
keystore, platform client). Sub-apps in other modules use the same functions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalavai_like.home.instance import Home

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
        from kalavai_like.home.instance import Home

        _home = Home.open(_home_dir)
    return _home
