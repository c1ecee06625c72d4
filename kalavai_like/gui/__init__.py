"""The PySide6 tray app: a thin client of the agent's LocalAPI and the platform.
Imports client, errors, tokens and units; never the CLI."""
