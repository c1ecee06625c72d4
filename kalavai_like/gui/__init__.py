"""The PySide6 tray app: a thin client of the agent's LocalAPI."""
