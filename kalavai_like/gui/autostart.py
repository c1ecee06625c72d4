""" "Start at login": the XDG autostart entry ($XDG_CONFIG_HOME/autostart/*.desktop, per the
freedesktop Desktop Application Autostart spec) that launches the tray when the user logs in.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from kalavai_like.client.instance import write_text
from kalavai_like.errors import SystemProblem

FILE_NAME = "kalavai-like-tray.desktop"


def entry_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the entry lives: $XDG_CONFIG_HOME/autostart, else ~/.config/autostart."""
    environ = os.environ if env is None else env
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "autostart" / FILE_NAME


def command(home: Path | None) -> str:
    """The Exec line: this Python running the tray (with --home when the instance has one)."""
    argv = [sys.executable, "-m", "kalavai_like.gui"]
    if home is not None:
        argv += ["--home", str(home)]
    # The spec's Exec quoting: double quotes around arguments that need them.
    return " ".join(f'"{a}"' if shlex.quote(a) != a else a for a in argv)


def entry(home: Path | None, icon: str) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=kalavai-like\n"
        "Comment=Lend this computer to volunteer computing pools\n"
        f"Exec={command(home)}\n"
        f"Icon={icon}\n"
        "Terminal=false\n"
        "Categories=Network;\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def enabled(env: Mapping[str, str] | None = None) -> bool:
    return entry_path(env).is_file()


def set_enabled(
    on: bool, home: Path | None, icon: str, env: Mapping[str, str] | None = None
) -> Path:
    """Write or remove the entry; returns its path.

    Raises:
        SystemProblem: the autostart directory cannot be written.
    """
    path = entry_path(env)
    try:
        if on:
            write_text(path, entry(home, icon))
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise SystemProblem(
            "Cannot change start at login", f"{path}: {exc.strerror or exc}."
        ) from None
    return path
