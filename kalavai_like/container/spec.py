"""What a worker container is: its spec (validated, hardened by default), its observed state and
its measured usage. Plain dataclasses, no I/O; the runtime turns a spec into CLI arguments.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from kalavai_like.errors import InvalidInput

MEMBERSHIP_LABEL = "kalavai-like.membership"
POOL_LABEL = "kalavai-like.pool"
ROLE_LABEL = "kalavai-like.role"
# Where a spec's `secrets_dir` (certificates, read-only) is mounted.
SECRETS_MOUNT = "/run/kalavai-tls"

# podman refuses less than 6 MiB of memory.
MIN_MEMORY_BYTES = 6 * 1024 * 1024
MAX_MEMORY_BYTES = 2**50
MAX_CPUS = 1024
MAX_GPUS = 64
# A disk limit below this cannot hold a BOINC client's own files, let alone a task.
MIN_DISK_BYTES = 64 * 1024 * 1024

State = Literal["running", "paused", "exited", "missing"]

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_LABEL_KEY = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_./-]{0,127}$")
_USER = re.compile(r"^[0-9]{1,10}:[0-9]{1,10}$")
_VOLUME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]{0,255}$")
_HOSTNAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TMPFS = re.compile(r"^/[A-Za-z0-9_./-]{0,255}(:[A-Za-z0-9=,]{1,64})?$")


@dataclass(frozen=True)
class Limits:
    """The volunteer's limits for one worker: cores, bytes of memory, GPUs (0 = none) and
    bytes of disk for the worker's persistent data (0 = no limit of ours).

    kalavai_like.volunteer.prefs computes them from the preferences; the runtime applies them.
    """

    cpus: float
    memory_bytes: int
    gpus: int = 0
    disk_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Check each limit is a number in range (NaN and infinity are not); they may come
        from a command line or another process.

        Raises:
            InvalidInput: naming the limit and its range.
        """
        if not _number(self.cpus, float) or not 0 < self.cpus <= MAX_CPUS:
            raise InvalidInput(
                "Bad CPU limit", f"{self.cpus!r} cores: give a number above 0, at most {MAX_CPUS}."
            )
        if not _number(self.memory_bytes, int) or not (
            MIN_MEMORY_BYTES <= self.memory_bytes <= MAX_MEMORY_BYTES
        ):
            raise InvalidInput(
                "Bad memory limit", f"{self.memory_bytes!r} bytes: give at least 6 MiB (6291456)."
            )
        if not _number(self.gpus, int) or not 0 <= self.gpus <= MAX_GPUS:
            raise InvalidInput("Bad GPU count", f"{self.gpus!r}: give 0 to {MAX_GPUS}.")
        if not _number(self.disk_bytes, int) or not (
            self.disk_bytes == 0 or MIN_DISK_BYTES <= self.disk_bytes <= MAX_MEMORY_BYTES
        ):
            raise InvalidInput(
                "Bad disk limit", f"{self.disk_bytes!r} bytes: give at least 64 MiB, or none."
            )


def _number(value: object, kind: type) -> bool:
    """An int (for `kind` int) or an int or float (for float) that is finite; never a bool."""
    allowed = (int, float) if kind is float else (int,)
    return isinstance(value, allowed) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ContainerSpec:
    """A worker or head container. Defaults are the hardened ones; `validate()` checks them."""

    name: str
    image: str
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict, repr=False)  # BOINC keys, passwords
    labels: dict[str, str] = field(default_factory=dict)
    netns_path: str | None = None
    cpus: float = 1.0
    memory_bytes: int = 512 * 1024 * 1024
    pids_limit: int = 256
    gpus: int = 0
    user: str = "1000:1000"
    read_only: bool = True
    data_volume: str | None = None
    secrets_dir: str | None = None  # a host directory mounted read-only at SECRETS_MOUNT
    tmpfs: list[str] = field(default_factory=lambda: ["/tmp"])  # noqa: S108 (inside the container)
    workdir: str | None = None
    hostname: str | None = None  # a BOINC worker's: its device id, which the project then sees

    def validate(self) -> None:
        """Check every field before it reaches a command line.

        Raises:
            InvalidInput: a field is malformed or out of range.
        """
        if not _NAME.match(self.name):
            raise InvalidInput("Bad container name", f"{self.name!r} is not a valid name.")
        if not _IMAGE.match(self.image):
            raise InvalidInput("Bad image name", f"{self.image!r} is not a valid image reference.")
        if not all(isinstance(a, str) and "\0" not in a for a in self.command):
            raise InvalidInput("Bad command", "Every command argument must be a string.")
        for key, value in self.env.items():
            if not _ENV_KEY.match(key) or "\n" in value or "\0" in value:
                raise InvalidInput("Bad environment variable", f"{key!r} cannot be passed.")
        for key, value in self.labels.items():
            if not _LABEL_KEY.match(key) or "\n" in value or "\0" in value or len(value) > 256:
                raise InvalidInput("Bad label", f"Label {key!r} is not valid.")
        if self.netns_path is not None and not _PATH.match(self.netns_path):
            raise InvalidInput("Bad network namespace", f"{self.netns_path!r} is not a path.")
        Limits(self.cpus, self.memory_bytes, self.gpus).check()
        if not 1 <= self.pids_limit <= 1_000_000:
            raise InvalidInput("Bad process limit", f"{self.pids_limit}: give at least 1.")
        if not _USER.match(self.user) or self.user.split(":")[0] == "0":
            raise InvalidInput("Bad user", "Workers run as a non-root uid:gid such as 1000:1000.")
        if self.data_volume is not None:
            ok = _VOLUME.match(self.data_volume) or _PATH.match(self.data_volume)
            if not ok or ".." in self.data_volume:
                raise InvalidInput("Bad data volume", f"{self.data_volume!r} is not usable.")
        if self.secrets_dir is not None and (
            not _PATH.match(self.secrets_dir) or ".." in self.secrets_dir
        ):
            raise InvalidInput("Bad secrets directory", f"{self.secrets_dir!r} is not a path.")
        for t in self.tmpfs:
            if not _TMPFS.match(t) or ".." in t:
                raise InvalidInput("Bad tmpfs mount", f"{t!r} is not an absolute path.")
        if self.hostname is not None and not _HOSTNAME.match(self.hostname):
            raise InvalidInput("Bad host name", f"{self.hostname!r} is not a host name.")
        if self.workdir is not None and not _PATH.match(self.workdir):
            raise InvalidInput("Bad working directory", f"{self.workdir!r} is not a path.")

    @property
    def membership_id(self) -> str | None:
        """The membership this container works for, from its labels."""
        return self.labels.get(MEMBERSHIP_LABEL)


@dataclass(frozen=True)
class ContainerInfo:
    """What the runtime reports about one container."""

    id: str
    name: str
    state: State
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: str | None = None
    restart_count: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    pid: int = 0

    def describe_exit(self) -> str:
        """One line a person can read about why the container is not running."""
        if self.state == "missing":
            return "the worker container is gone"
        if self.oom_killed:
            return f"ran out of memory (exit code {self.exit_code})"
        if self.state == "exited":
            return f"exit code {self.exit_code}"
        return self.state


@dataclass(frozen=True)
class Usage:
    """Cumulative CPU time of the container's cgroup and its memory in use now."""

    cpu_seconds: float
    memory_bytes: int


def missing(ident: str) -> ContainerInfo:
    """The info for a container that does not exist."""
    return ContainerInfo(id=ident, name=ident, state="missing")


def check_signal(signal: str) -> None:
    """A signal's name as the engine takes it (USR1, TERM): nothing else reaches its command.

    Raises:
        InvalidInput: it is not one.
    """
    if not (signal.isascii() and signal.isalnum() and signal.isupper() and len(signal) <= 8):
        raise InvalidInput("Bad signal", f"{signal!r}: give a name such as USR1 or TERM.")
