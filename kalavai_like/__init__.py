"""kalavai-like: volunteer computing pools on a private WireGuard overlay."""

from __future__ import annotations

__version__ = "0.1.0"
