"""Worker containers: the runtime layer (podman/docker CLI), cgroup usage, crash supervision,
a fake runtime for tests, and the pool templates (dask, boinc, generic)."""

from __future__ import annotations

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
