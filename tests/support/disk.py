"""A full disk, simulated: os.write and os.fsync fail with ENOSPC for files under one directory
(what the agent's state writes and its lock use), everything else writes as usual."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest


class FullDisk:
    """While `full` (from the start), writes to files under `under` fail with ENOSPC."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, under: Path) -> None:
        self.under = str(under)
        self.full = True
        real_write, real_fsync = os.write, os.fsync

        def write(fd: int, data: Any) -> int:
            self._check(fd)
            return real_write(fd, data)

        def fsync(fd: Any) -> None:
            self._check(fd if isinstance(fd, int) else fd.fileno())
            real_fsync(fd)

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fsync", fsync)

    def _check(self, fd: int) -> None:
        if not self.full:
            return
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return
        if target.startswith(self.under):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
