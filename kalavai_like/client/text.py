"""Text from elsewhere (a join token, the platform, the agent) made safe to show a person.

Anyone can build a token and a platform may be a stranger's, so a pool name or a message may
carry an escape sequence that clears or rewrites a terminal, or a bidi override that reorders
what a person reads. The CLI (cli/console.py) and the tray (gui/menu.py) show text only
through `printable`.
"""

from __future__ import annotations

_CONTROLS = [c for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\n\t"]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_VISIBLE = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}


def printable(text: str) -> str:
    """`text` with control and bidi characters shown as escapes (`\\x1b`); lines and tabs kept."""
    return text.translate(_VISIBLE)
