"""`kalavai-like-tray` entry point (the tray app lands with its own issue)."""

from __future__ import annotations

import sys


def run() -> None:
    print(
        "kalavai-like-tray: the tray app is not built yet; use the kalavai-like CLI.",
        file=sys.stderr,
    )
    sys.exit(1)
