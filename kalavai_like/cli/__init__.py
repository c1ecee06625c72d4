"""The `kalavai-like` command line: a thin client of the core and the agent's LocalAPI."""
