"""Which container engine to drive and with which extra flags: `RuntimeConfig`, and `detect()`,
which probes this host and returns a configuration that works on it.

Hosts with hybrid cgroup v1 and a root without CAP_SYS_RESOURCE (CI machines, sandboxes) need
`--runtime runc --cgroup-manager cgroupfs` and a containers.conf without default ulimits; a normal
desktop needs none of that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from kalavai_like.errors import SystemProblem

Engine = Literal["podman", "docker"]

# Bit of CAP_SYS_RESOURCE in /proc/self/status CapEff (linux/capability.h).
_CAP_SYS_RESOURCE = 24


@dataclass(frozen=True)
class RuntimeConfig:
    """How to call the engine: global flags (before the verb), `run` flags, a containers.conf."""

    engine: Engine = "podman"
    extra_global_args: list[str] = field(default_factory=list)
    extra_run_args: list[str] = field(default_factory=list)
    containers_conf: str | None = None

    def command(self, *args: str) -> list[str]:
        """The argv for one engine call."""
        return [self.engine, *self.extra_global_args, *args]

    def environ(self) -> dict[str, str] | None:
        """The environment for engine calls (None: inherit)."""
        if self.containers_conf is None:
            return None
        return {**os.environ, "CONTAINERS_CONF": self.containers_conf}

    @classmethod
    def detect(cls, engine: Engine = "podman", *, probe: bool = True) -> RuntimeConfig:
        """Probe this host and return a configuration that works on it.

        Raises:
            SystemProblem: the engine is missing or does not work, with how to fix it.
        """
        if engine not in ("podman", "docker"):
            raise SystemProblem("Unknown container engine", f"{engine!r}: use podman or docker.")
        if shutil.which(engine) is None:
            how = "apt-get install podman runc" if engine == "podman" else "install Docker Engine"
            raise SystemProblem(f"{engine} is not installed", f"Install it: {how}.")
        config = cls(engine=engine)
        if engine == "podman":
            config = cls(
                engine=engine,
                extra_global_args=_podman_global_args(),
                containers_conf=_containers_conf_if_needed(),
            )
        if probe:
            _probe(config)
        return config


def shipped_containers_conf() -> str:
    """Path of the containers.conf shipped for hosts whose root lacks CAP_SYS_RESOURCE."""
    return str(resources.files("kalavai_like.container").joinpath("containers.conf"))


def cgroup_version(root: Path = Path("/sys/fs/cgroup")) -> int:
    """2 when the unified hierarchy is mounted at the cgroup root, else 1 (v1 or hybrid)."""
    return 2 if (root / "cgroup.controllers").exists() else 1


def _podman_global_args() -> list[str]:
    args: list[str] = []
    v1 = cgroup_version() == 1
    if v1:
        # crun and the systemd manager both fail on hybrid v1 here; runc + cgroupfs work.
        if shutil.which("runc") is None:
            raise SystemProblem(
                "runc is not installed",
                "This machine uses cgroup v1, which podman drives through runc: "
                "apt-get install runc.",
            )
        args += ["--runtime", "runc"]
    if v1 or not Path("/run/systemd/system").is_dir():
        args += ["--cgroup-manager", "cgroupfs"]
    return args


def _containers_conf_if_needed() -> str | None:
    if "CONTAINERS_CONF" in os.environ:
        return os.environ["CONTAINERS_CONF"]
    if os.geteuid() == 0 and not _has_capability(_CAP_SYS_RESOURCE):
        # podman's default ulimits need CAP_SYS_RESOURCE to raise; drop them.
        return shipped_containers_conf()
    return None


def _has_capability(bit: int) -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except OSError:
        pass
    return True


def _probe(config: RuntimeConfig) -> None:
    argv = config.command("info", "--format", "{{json .}}")
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, env=config.environ(), check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SystemProblem(
            f"{config.engine} does not answer", f"`{' '.join(argv)}` failed: {exc}."
        ) from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        fix = (
            "Check that the Docker daemon runs and you may use it (group docker)."
            if config.engine == "docker"
            else "Run `podman info` to see why; reinstall with apt-get install podman runc."
        )
        raise SystemProblem(f"{config.engine} does not work", f"{detail}. {fix}")
