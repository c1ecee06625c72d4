"""Helpers the tests share: waiting, processes, a Secret Service, the real CLI, the platform's
HTTP API, the pool simulator, fakes for the agent, recorded runners. Fixtures built on them live
in the conftest.py files; test modules import helpers from here, never from each other."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
