"""The `kalavai-like` command line: a thin client of the agent's LocalAPI and the platform.
Imports client, errors, tokens and units; its entry commands alone start the agent, the
platform and the demo."""
