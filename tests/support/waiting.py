"""`wait_for`: the one way tests wait for something to become true."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition", interval: float = 0.1
) -> Any:
    """Poll `cond` until it returns something true and return that; after `timeout` seconds
    raise AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
