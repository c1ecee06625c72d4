"""PyInstaller entry script of the `kalavai-like-tray` windowed executable.

The tray's autostart entry and "Start agent" re-run `sys.executable -m MODULE ...`; in a
bundle that is this program: it runs the tray for `-m kalavai_like.gui` and hands anything else
to its sibling, the console executable (which has the CLI and the agent).
"""

import os
import sys
from pathlib import Path

if len(sys.argv) > 2 and sys.argv[1] == "-m":
    if sys.argv[2] == "kalavai_like.gui":
        sys.argv = [sys.argv[0], *sys.argv[3:]]
    else:
        console = str(Path(sys.executable).with_name("kalavai-like"))
        os.execv(console, [console, *sys.argv[1:]])  # noqa: S606 (our own sibling program)

from kalavai_like.gui.app import run

run()
