"""Worker containers: the runtime layer (podman/docker CLI), cgroup usage, crash supervision,
a fake runtime for tests, and the pool templates (dask, boinc, generic). May import errors only.

Its names load on first use, so importing `container.spec` (the volunteer's `Limits`) does not
load the runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalavai_like.container.config import RuntimeConfig
    from kalavai_like.container.engine import Runner, RunResult, subprocess_runner
    from kalavai_like.container.runtime import ContainerRuntime
    from kalavai_like.container.spec import (
        MEMBERSHIP_LABEL,
        ContainerInfo,
        ContainerSpec,
        Limits,
        Usage,
    )

_HOME = {
    "MEMBERSHIP_LABEL": "spec",
    "ContainerInfo": "spec",
    "ContainerRuntime": "runtime",
    "ContainerSpec": "spec",
    "Limits": "spec",
    "RunResult": "engine",
    "Runner": "engine",
    "RuntimeConfig": "config",
    "Usage": "spec",
    "subprocess_runner": "engine",
}
__all__ = [
    "MEMBERSHIP_LABEL",
    "ContainerInfo",
    "ContainerRuntime",
    "ContainerSpec",
    "Limits",
    "RunResult",
    "Runner",
    "RuntimeConfig",
    "Usage",
    "subprocess_runner",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
