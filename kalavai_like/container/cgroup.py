"""Reads a container's CPU time and memory in use straight from its cgroup files, on cgroup v1
(cpuacct.usage, memory.usage_in_bytes) and v2 (cpu.stat usage_usec, memory.current), both minus
inactive file cache for memory. Locating the files costs a few reads; reading them afterwards is
two or three small reads, cheap enough for every second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kalavai_like.container.spec import Usage


class CgroupGone(Exception):
    """The cgroup (or the process it was found from) no longer exists."""


@dataclass(frozen=True)
class CgroupFiles:
    """Where one container's counters live."""

    version: int
    cpu: Path
    memory: Path
    memory_stat: Path
    freezer: Path | None = None


@dataclass(frozen=True)
class _Mount:
    root: str
    point: Path
    fstype: str
    options: frozenset[str]


class CgroupReader:
    """Finds a process's cgroup files (`locate`) and reads usage from them (`read`)."""

    def __init__(self, proc: Path = Path("/proc"), mountinfo: Path | None = None) -> None:
        self._proc = proc
        self._mountinfo = mountinfo or proc / "self" / "mountinfo"
        self._mounts: list[_Mount] | None = None

    def locate(self, pid: int) -> CgroupFiles:
        """The cgroup files of the process `pid` (a container's main process).

        Raises:
            CgroupGone: the process is gone or its cgroup cannot be found.
        """
        try:
            lines = (self._proc / str(pid) / "cgroup").read_text().splitlines()
        except OSError as exc:
            raise CgroupGone(f"process {pid} is gone") from exc
        v1: dict[str, str] = {}
        unified: str | None = None
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                unified = path
            for c in controllers.split(","):
                v1[c] = path
        cpuacct = self._v1_dir("cpuacct", v1.get("cpuacct"))
        memory = self._v1_dir("memory", v1.get("memory"))
        if cpuacct is not None and memory is not None:
            freezer = self._v1_dir("freezer", v1.get("freezer"))
            return CgroupFiles(
                1,
                cpuacct / "cpuacct.usage",
                memory / "memory.usage_in_bytes",
                memory / "memory.stat",
                freezer / "freezer.state" if freezer is not None else None,
            )
        if unified is not None:
            for m in self._all_mounts():
                if m.fstype == "cgroup2":
                    d = _join(m, unified)
                    if d is not None and (d / "cpu.stat").exists():
                        return CgroupFiles(
                            2,
                            d / "cpu.stat",
                            d / "memory.current",
                            d / "memory.stat",
                            d / "cgroup.freeze",
                        )
        raise CgroupGone(f"no cgroup files found for process {pid}")

    def read(self, files: CgroupFiles) -> Usage:
        """Cumulative CPU seconds and memory in use (minus inactive file cache).

        Raises:
            CgroupGone: the cgroup was removed (the container stopped).
        """
        try:
            cpu_text = files.cpu.read_text()
            mem = int(files.memory.read_text())
            stat = files.memory_stat.read_text()
        except (OSError, ValueError) as exc:
            raise CgroupGone(str(exc)) from exc
        if files.version == 1:
            cpu_seconds = int(cpu_text) / 1e9
            inactive = _stat_value(stat, "total_inactive_file")
            if inactive is None:
                inactive = _stat_value(stat, "inactive_file") or 0
        else:
            cpu_seconds = (_stat_value(cpu_text, "usage_usec") or 0) / 1e6
            inactive = _stat_value(stat, "inactive_file") or 0
        return Usage(cpu_seconds=cpu_seconds, memory_bytes=max(0, mem - inactive))

    def freeze(self, files: CgroupFiles, frozen: bool) -> bool:
        """Freeze or thaw the cgroup by writing its freezer, as the engine's pause does.

        False when there is no freezer or it cannot be written (cgroup gone, no permission).
        """
        if files.freezer is None:
            return False
        value = ("FROZEN" if frozen else "THAWED") if files.version == 1 else str(int(frozen))
        try:
            files.freezer.write_text(value)
        except OSError:
            return False
        return True

    def frozen(self, files: CgroupFiles) -> bool | None:
        """Whether the cgroup is frozen (or freezing); None when that cannot be read."""
        if files.freezer is None:
            return None
        try:
            text = files.freezer.read_text().strip()
        except OSError:
            return None
        return text in ("FROZEN", "FREEZING") if files.version == 1 else text == "1"

    def _v1_dir(self, controller: str, path: str | None) -> Path | None:
        if path is None:
            return None
        for m in self._all_mounts():
            if m.fstype == "cgroup" and controller in m.options:
                d = _join(m, path)
                if d is not None and d.is_dir():
                    return d
        return None

    def _all_mounts(self) -> list[_Mount]:
        if self._mounts is None:
            self._mounts = []
            for line in self._mountinfo.read_text().splitlines():
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
                    continue
                opts = frozenset(tail[2].split(","))
                self._mounts.append(_Mount(fields[3], Path(fields[4]), tail[0], opts))
        return self._mounts


def _join(mount: _Mount, path: str) -> Path | None:
    """The directory of cgroup `path` under `mount`, allowing for a mount of a sub-tree."""
    root = mount.root.rstrip("/")
    if root and not (path == root or path.startswith(root + "/")):
        return None
    rel = path[len(root) :].lstrip("/")
    return mount.point / rel if rel else mount.point


def _stat_value(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None
