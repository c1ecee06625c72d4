"""What an install touched: every path under some directories (with link targets) and the user
and group databases, so a test can check that an uninstall or a purge left nothing behind."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

DATABASES = ["/etc/group", "/etc/gshadow", "/etc/passwd", "/etc/shadow"]


def snapshot(watched: Iterable[str], root: str = "/", only: str = "") -> dict[str, str]:
    """Paths under `watched` (below `root`) mapped to their link targets ("" for the rest), and
    the user databases' contents. With `only`, just the paths that contain it (for shared
    directories such as /usr/bin, where other software comes and goes)."""
    found: dict[str, str] = {}
    for top in watched:
        base = Path(root) / top.lstrip("/")
        if not base.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if only in str(p):
                    found[str(p)] = os.readlink(p) if p.is_symlink() else ""
    for db in DATABASES:
        found[db] = Path(db).read_text()
    return found


def differences(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """What appeared, went or changed between two snapshots (empty lists: nothing)."""
    return {
        "appeared": sorted(k for k in after if k not in before),
        "went": sorted(k for k in before if k not in after),
        "changed": sorted(k for k in before if k in after and before[k] != after[k]),
    }
