"""Where the tray's icons come from: one function that finds a file under `assets/`, whether the
app runs from a source checkout, an installed share directory or a PyInstaller bundle
(`sys._MEIPASS`), after vorta's `utils.get_asset`.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from kalavai_like.errors import SystemProblem

ICON_STATES = ("logged-out", "idle", "joining", "contributing", "paused", "error")


def _roots() -> list[Path]:
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle) / "assets")
    roots.append(Path(__file__).resolve().parents[2] / "assets")  # source checkout / editable
    roots.append(Path(sys.prefix) / "share" / "kalavai-like" / "assets")  # installed data
    return roots


def asset(relative: str) -> Path:
    """The path of `assets/<relative>`.

    Raises:
        SystemProblem: the file is in none of the places an install puts it.
    """
    for root in _roots():
        path = root / relative
        if path.is_file():
            return path
    where = ", ".join(str(r) for r in _roots())
    raise SystemProblem(
        "Missing tray asset", f"assets/{relative} was not found (looked in {where}): reinstall."
    )


@cache
def icon_path(state: str) -> Path:
    """The SVG icon of a tray state (one of ICON_STATES) or "app"."""
    if state != "app" and state not in ICON_STATES:
        raise ValueError(f"unknown icon state {state!r}")
    return asset(f"icons/{state}.svg")
