"""Helpers the tests share: waiting, stopping processes, a Secret Service, the real CLI, loopback
HTTP, the platform's API and pages, the pool and overlay simulators, fakes for the agent,
recorded runners. Fixtures built on them live in the conftest.py files; test modules import
shared helpers from here, never from another test module or a conftest."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
