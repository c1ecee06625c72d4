"""Fixtures for overlay tests: a simulated pool (hub host + worker hosts) in namespaces
(tests/support/overlay_pool.py builds it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.overlay_pool import Pool, build_pool


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    yield from build_pool("p", ("h1", "h2", "h3"))


@pytest.fixture(scope="module")
def two_spokes(pool: Pool) -> Pool:
    """s1 on h1 and s2 on h2, both up and known to the hub."""
    s1 = pool.member("h1", "s1", 2)
    s2 = pool.member("h2", "s2", 3)
    pool.publish()
    s1.host.up_spoke(s1.cfg)
    s2.host.up_spoke(s2.cfg)
    return pool
