"""A device's reliability record: the results of redundant work (kalavai_redundancy on the
pool's Dask cluster) its pool's head judged valid, invalid or in error, and the compute of its
invalid results, which is never granted (the head's witness keeps it out of compute_seconds).
Sums over the head's epochs, as witness reports carry them (platform/witness.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

# Device columns -> the wire's names (WitnessReport has the wire's names).
COLUMNS = {
    "results_valid": "valid",
    "results_invalid": "invalid",
    "results_error": "errors",
    "invalid_cpu": "invalid_compute_seconds",
}


class Reliability(BaseModel):
    """Results judged by the pool's head, and the CPU seconds of the invalid ones."""

    valid: int = 0
    invalid: int = 0
    errors: int = 0
    invalid_compute_seconds: float = 0.0


def of(d: Mapping[str, Any]) -> dict[str, Any]:
    """The reliability record of device row `d`, as a plain dict."""
    return {wire: d[column] for column, wire in COLUMNS.items()}


class Witnessed(BaseModel):
    """What the pool's head witnessed of a device, and that against what it measured."""

    tasks: int = 0
    compute_seconds: float = 0.0
    connected_seconds: float = 0.0
    ratio: float | None = None  # witnessed compute / measured CPU (None: nothing measured)
    results: Reliability = Reliability()
