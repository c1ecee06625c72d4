"""`pool stop --finish` inside a Dask worker: on SIGUSR1 the worker retires gracefully.

Loaded with `--preload kalavai_finish` in every worker (never the scheduler); the agent copies
this file (standalone: it imports nothing of kalavai_like) next to the certificates and the
guard, as it copies the guard. On the signal the worker calls `close_gracefully`: it asks the
scheduler to retire it (`retire_workers` for its own address, which the guard allows), so the
scheduler sends it no new task and copies the results only it holds to other workers; then it
closes and the process exits. A task it was still running is run again elsewhere: none is lost.
SIGUSR1 because Dask itself handles SIGINT and SIGTERM (close at once) and not SIGUSR1.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

log = logging.getLogger("kalavai_finish")

SIGNAL = signal.SIGUSR1
REASON = "kalavai-finish"


async def retire(worker: Any) -> None:
    """Retire gracefully; when the scheduler cannot retire it (unreachable), close anyway: the
    volunteer asked to leave, and the scheduler runs its tasks elsewhere once it notices."""
    try:
        await worker.close_gracefully(reason=REASON)
    except Exception:
        log.exception("kalavai_finish: graceful retirement failed: closing")
        await worker.close(reason=REASON)


def install(worker: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Retire `worker` when the process gets SIGUSR1 (once; again is a no-op)."""
    started: list[asyncio.Task[Any]] = []

    def finish() -> None:
        if started:
            return
        log.info("kalavai_finish: finishing: %s retires gracefully", worker.address)
        started.append(loop.create_task(retire(worker)))

    loop.add_signal_handler(SIGNAL, finish)


async def dask_setup(worker: Any) -> None:  # the `--preload` entry point
    if hasattr(worker, "add_worker"):  # a scheduler: nothing to finish there
        return
    install(worker, asyncio.get_running_loop())
    log.info("kalavai_finish: SIGUSR1 retires this worker gracefully")
