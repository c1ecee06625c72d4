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


def dask_compute(
    config: RuntimeConfig, head: str, address: str
) -> subprocess.CompletedProcess[str]:
    """Run a Dask client inside the head container `head`: it waits for one worker, computes,
    and prints `square 144`, `total 5050` and the workers' names."""
    client = (
        "from distributed import Client\n"
        f"c = Client('tcp://{address}:8786', timeout=60)\n"
        "c.wait_for_workers(1, timeout=90)\n"
        "print('square', c.submit(lambda x: x * x, 12).result())\n"
        "print('total', sum(c.gather(c.map(lambda x: x + 1, range(100)))))\n"
        "print('workers', list(w['name'] for w in c.scheduler_info()['workers'].values()))\n"
    )
    return engine(config, "exec", head, "python3", "-c", client)
