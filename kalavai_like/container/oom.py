"""Tells whether the kernel's OOM killer struck inside a container, from the kernel log.

conmon does not notice OOM kills on hybrid cgroup v1 hosts (podman reports OOMKilled=false for a
container killed at its memory limit), and the cgroup is gone by the time we look. The kernel's
`oom-kill:` record names the memory cgroup, which carries the container id, so the log is the
reliable witness. Reading it needs root; without access the answer is simply "not seen".
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

KMSG = Path("/dev/kmsg")


class KernelOomLog:
    """Searches the kernel log for OOM kills in a given container's cgroup."""

    def __init__(self, path: Path = KMSG) -> None:
        self._path = path

    def killed_in(self, container_id: str) -> bool:
        """True when the log holds an OOM kill whose memory cgroup names `container_id`."""
        if len(container_id) < 12:
            return False
        for line in self._lines():
            if "oom-kill:" in line and container_id in line:
                return True
        return False

    def _lines(self) -> list[str]:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return []
        chunks: list[bytes] = []
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.EPIPE:  # a record was overwritten while reading
                        continue
                    break
                if not data:
                    break
                chunks.append(data if data.endswith(b"\n") else data + b"\n")
        finally:
            os.close(fd)
        return b"".join(chunks).decode(errors="replace").splitlines()
