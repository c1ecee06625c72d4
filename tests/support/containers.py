"""What the container tests share: the `kt5-` name prefix, the locally built images, and one
engine command run directly (for checks from outside the runtime layer)."""

from __future__ import annotations

import subprocess

from kalavai_like.container import RuntimeConfig

PREFIX = "kt5-"
BUSYBOX = "localhost/kalavai-like/busybox:latest"
DASK = "localhost/kalavai-like/dask:latest"
BOINC = "localhost/kalavai-like/boinc:latest"


def engine(config: RuntimeConfig, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one engine command directly (for checks from outside the runtime layer)."""
    return subprocess.run(
        config.command(*args), capture_output=True, text=True, env=config.environ(), check=False
    )
