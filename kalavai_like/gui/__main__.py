"""`python -m kalavai_like.gui`: the tray (what the autostart entry runs)."""

from kalavai_like.gui.app import run

run()
