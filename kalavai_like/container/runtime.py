"""The container runtime: drives podman (or docker, through the same CLI) to run, adopt, pause,
update, stop and remove worker containers, and reads their usage from the cgroup. Engine errors
are translated here into kalavai_like.errors types; nothing above this module parses CLI output.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from kalavai_like.container.cgroup import CgroupFiles, CgroupGone, CgroupReader
from kalavai_like.container.config import RuntimeConfig
from kalavai_like.container.engine import (
    Runner,
    RunResult,
    engine_error,
    error_text,
    is_gone,
    parse_inspect,
    run_error,
    subprocess_runner,
)
from kalavai_like.container.gpus import CDI_DIRS, gpu_devices
from kalavai_like.container.oom import KernelOomLog
from kalavai_like.container.seccomp import shipped_profile
from kalavai_like.container.spec import (
    MEMBERSHIP_LABEL,
    SECRETS_MOUNT,
    ContainerInfo,
    ContainerSpec,
    Usage,
    check_signal,
    missing,
)
from kalavai_like.errors import InvalidInput, NotFound, SystemProblem

MANAGED_LABEL = "kalavai-like.managed"


class WorkerRuntime(Protocol):
    """What the agent and the supervisor use: ContainerRuntime and FakeRuntime both fit."""

    def run(self, spec: ContainerSpec) -> ContainerInfo: ...
    def ensure(self, spec: ContainerSpec) -> ContainerInfo: ...
    def find(self, label_key: str, value: str) -> list[ContainerInfo]: ...
    def state(self, ident: str) -> ContainerInfo: ...
    def logs(self, ident: str, tail: int = 50) -> str: ...
    def usage(self, ident: str) -> Usage: ...
    def pause(self, ident: str) -> None: ...
    def unpause(self, ident: str) -> None: ...
    def update(
        self, ident: str, *, cpus: float | None = None, memory_bytes: int | None = None
    ) -> None: ...
    def stop(self, ident: str, timeout: int = 10) -> None: ...
    def kill(self, ident: str, signal: str) -> None: ...
    def remove(self, ident: str) -> None: ...


class ContainerRuntime:
    """Worker containers through a CLI engine (podman first, docker compatible)."""

    def __init__(
        self,
        config: RuntimeConfig,
        runner: Runner = subprocess_runner,
        *,
        cgroups: CgroupReader | None = None,
        cdi_dirs: Iterable[Path] = CDI_DIRS,
        dev_dir: Path = Path("/dev"),
        oom_log: KernelOomLog | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.config = config
        self._runner = runner
        self._cgroups = cgroups or CgroupReader()
        self._cdi_dirs = tuple(cdi_dirs)
        self._dev = dev_dir
        self._timeout = timeout
        self._cgroup_cache: dict[str, CgroupFiles] = {}
        self._oom_log = oom_log or KernelOomLog()
        self._oom_seen: dict[str, bool] = {}
        self._engine_paused: set[str] = set()

    # ---- launch -------------------------------------------------------------------------

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Start a container from `spec` and return its state.

        Raises:
            InvalidInput: the spec is malformed.
            Conflict: a container with that name already exists.
            SystemProblem: image missing, no GPU device, or the engine failed.
        """
        spec.validate()
        with tempfile.TemporaryDirectory(prefix="kalavai-like-env-") as tmp:
            # Values go through a 0600 file: secrets (weak keys, passwords) never reach ps.
            env_file = Path(tmp) / "env"
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.writelines(f"{k}={v}\n" for k, v in spec.env.items())
            result = self._call("run", *self.run_args(spec, env_file=str(env_file)))
        if result.returncode != 0:
            text = error_text(result)
            if "already in use" not in text.lower():
                # The engine may have created the container before failing to start it.
                self._call("rm", "-f", spec.name)
            raise run_error(spec, text)
        ident = result.stdout.strip().splitlines()[-1]
        return self.state(ident)

    def run_args(self, spec: ContainerSpec, *, env_file: str | None = None) -> list[str]:
        """The `run` arguments for `spec`: hardened (seccomp.py), limited, labelled, detached."""
        podman = self.config.engine == "podman"
        mem = str(spec.memory_bytes)
        args = ["-d", "--name", spec.name, "--pull", _pull_policy(spec.image)]
        args += ["--user", spec.user, "--cap-drop=ALL", "--security-opt", "no-new-privileges"]
        args += ["--security-opt", f"seccomp={shipped_profile()}"]  # no namespaces, no mounts
        if spec.read_only:
            args.append("--read-only")
        args += ["--pids-limit", str(spec.pids_limit), "--cpus", _cores(spec.cpus)]
        args += ["--memory", mem, "--memory-swap", mem]
        if spec.netns_path is not None:
            if not podman:
                raise SystemProblem(
                    "docker cannot join a network namespace",
                    "Joining the overlay needs podman: apt-get install podman runc.",
                )
            args += ["--network", f"ns:{spec.netns_path}"]
        else:
            args += ["--network", "none"]
        if spec.gpus > 0:
            devices = gpu_devices(self._cdi_dirs, self._dev)
            args += [a for d in devices for a in ("--device", d)]
        if spec.data_volume is not None:
            args += ["-v", f"{spec.data_volume}:/data" + (":U" if podman else "")]
        if spec.secrets_dir is not None:
            args += ["-v", f"{spec.secrets_dir}:{SECRETS_MOUNT}:ro" + (",U" if podman else "")]
        for t in spec.tmpfs:
            args += ["--tmpfs", t]
        if spec.workdir is not None:
            args += ["--workdir", spec.workdir]
        if spec.hostname is not None:
            args += ["--hostname", spec.hostname]
        if env_file is not None:
            args += ["--env-file", env_file]
        for key, value in {MANAGED_LABEL: "true", **spec.labels}.items():
            args += ["--label", f"{key}={value}"]
        args += ["--log-opt", "max-size=10mb" if podman else "max-size=10m"]
        return [*args, *self.config.extra_run_args, spec.image, *spec.command]

    def ensure(self, spec: ContainerSpec) -> ContainerInfo:
        """Return the live container for `spec`'s membership (or name), starting one if none.

        Never starts a duplicate: a running or paused container is adopted as it is; an exited
        one is removed and replaced.
        """
        spec.validate()
        mid = spec.membership_id
        found = self.find(MEMBERSHIP_LABEL, mid) if mid else []
        named = self.state(spec.name)
        if named.state != "missing" and all(f.id != named.id for f in found):
            found.append(named)
        live = [f for f in found if f.state in ("running", "paused")]
        if live:
            return live[0]
        for f in found:
            self.remove(f.id)
        return self.run(spec)

    # ---- observe ------------------------------------------------------------------------

    def find(self, label_key: str, value: str) -> list[ContainerInfo]:
        """Every container (any state) whose label `label_key` equals `value`."""
        result = self._call(
            "ps", "-a", "-q", "--no-trunc", "--filter", f"label={label_key}={value}"
        )
        if result.returncode != 0:
            raise engine_error("list containers", result, self.config.engine)
        ids = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if not ids:
            return []
        return [i for i in self._inspect(ids) if i.labels.get(label_key) == value]

    def state(self, ident: str) -> ContainerInfo:
        """The container's state; `missing` when it does not exist."""
        found = self._inspect([ident])
        return found[0] if found else missing(ident)

    def logs(self, ident: str, tail: int = 50) -> str:
        """The last `tail` lines the container wrote (stdout and stderr, in order)."""
        result = self._call("logs", "--tail", str(max(0, int(tail))), ident, merge_stderr=True)
        if result.returncode != 0:
            if is_gone(result.stdout):
                raise NotFound("No such worker container", f"{ident} does not exist.")
            raise engine_error("read logs", result, self.config.engine)
        return result.stdout

    def usage(self, ident: str) -> Usage:
        """Cumulative CPU seconds and memory in use, read from the container's cgroup.

        Raises:
            NotFound: the container is not running (no cgroup to read).
        """
        files = self._cgroup_cache.get(ident)
        if files is not None:
            try:
                return self._cgroups.read(files)
            except CgroupGone:
                self._cgroup_cache.pop(ident, None)
        pid = self._pid(ident)
        try:
            files = self._cgroups.locate(pid)
            usage = self._cgroups.read(files)
        except CgroupGone as exc:
            raise NotFound("Worker container is not running", f"{ident}: {exc}.") from exc
        self._cgroup_cache[ident] = files
        return usage

    # ---- control ------------------------------------------------------------------------

    def pause(self, ident: str) -> None:
        """Freeze every process of the container (cgroup freezer). Idempotent.

        Writes the freezer directly: the workload stops within a millisecond, where the
        engine's own `pause` first spends ~100 ms starting up. Where the freezer cannot be
        written (no permission), the engine pauses instead. State reads see both.
        """
        files = self._cgroup_cache.get(ident)
        if files is not None and self._cgroups.freeze(files, True):
            return
        info = self._live(ident, "pause")
        if info.state == "paused":
            return
        files = self._files(ident, info.pid)
        if files is not None and self._cgroups.freeze(files, True):
            return
        self._control("pause", ident, done="paused")
        self._engine_paused.add(ident)

    def unpause(self, ident: str) -> None:
        """Thaw a paused container. Idempotent."""
        files = self._cgroup_cache.get(ident)
        if files is not None and ident not in self._engine_paused:
            if self._cgroups.frozen(files) is False or self._cgroups.freeze(files, False):
                return
        raw = self._inspect([ident], overlay=False)
        if not raw:
            raise NotFound("No such worker container", f"{ident} does not exist.")
        if raw[0].state not in ("running", "paused"):
            raise SystemProblem(f"Could not unpause the worker ({raw[0].state})", f"{ident}.")
        if raw[0].state == "paused":
            self._control("unpause", ident, done="running")
        self._engine_paused.discard(ident)
        files = self._files(ident, raw[0].pid)
        if files is not None and self._cgroups.frozen(files):
            self._cgroups.freeze(files, False)

    def update(
        self, ident: str, *, cpus: float | None = None, memory_bytes: int | None = None
    ) -> None:
        """Change the CPU and memory limits of a live container.

        Raises:
            InvalidInput: a limit is out of range.
            NotFound: the container does not exist.
        """
        args: list[str] = []
        if cpus is not None:
            if not 0 < cpus <= 1024:
                raise InvalidInput("Bad CPU limit", f"{cpus} cores: give more than 0.")
            args += ["--cpus", _cores(cpus)]
        if memory_bytes is not None:
            if memory_bytes < 6 * 1024 * 1024:
                raise InvalidInput("Bad memory limit", "Give at least 6 MiB.")
            args += ["--memory", str(memory_bytes), "--memory-swap", str(memory_bytes)]
        if not args:
            return
        result = self._call("update", *args, ident)
        if result.returncode != 0:
            if is_gone(error_text(result)):
                raise NotFound("No such worker container", f"{ident} does not exist.")
            raise engine_error("change the limits", result, self.config.engine)

    def stop(self, ident: str, timeout: int = 10) -> None:
        """Stop the container (SIGTERM, then SIGKILL after `timeout` s). Idempotent."""
        files = self._cgroup_cache.get(ident)
        if files is not None and self._cgroups.frozen(files):
            self._cgroups.freeze(files, False)  # frozen processes cannot handle SIGTERM
        result = self._call("stop", "-t", str(max(0, int(timeout))), ident)
        if result.returncode != 0 and not is_gone(error_text(result)):
            raise engine_error("stop the worker", result, self.config.engine)

    def kill(self, ident: str, signal: str) -> None:
        """Send `signal` (a name: USR1, TERM) to the container's main process (a paused one
        gets it when it runs again). Raises InvalidInput (not a signal name), NotFound (no such
        container) or SystemProblem (not running, or the engine failed)."""
        check_signal(signal)
        result = self._call("kill", "--signal", signal, self._live(ident, "signal").id)
        if result.returncode != 0:
            raise engine_error("signal the worker", result, self.config.engine)

    def remove(self, ident: str) -> None:
        """Kill and remove the container. Idempotent: a missing container is fine."""
        self._cgroup_cache.pop(ident, None)
        kill_now = ["-t", "0"] if self.config.engine == "podman" else []
        result = self._call("rm", "-f", *kill_now, ident)
        if result.returncode != 0 and not is_gone(error_text(result)):
            raise engine_error("remove the worker", result, self.config.engine)

    # ---- internals ----------------------------------------------------------------------

    def _call(self, *args: str, merge_stderr: bool = False) -> RunResult:
        return self._runner(
            self.config.command(*args),
            env=self.config.environ(),
            timeout=self._timeout,
            merge_stderr=merge_stderr,
        )

    def _inspect(self, ids: list[str], *, overlay: bool = True) -> list[ContainerInfo]:
        result = self._call("container", "inspect", *ids)
        try:
            data = json.loads(result.stdout or "[]")
        except json.JSONDecodeError as exc:
            if result.returncode != 0 and is_gone(error_text(result)):
                return []
            raise engine_error("inspect containers", result, self.config.engine) from exc
        if result.returncode != 0 and not data and not is_gone(error_text(result)):
            raise engine_error("inspect containers", result, self.config.engine)
        infos = [self._with_oom(parse_inspect(item)) for item in data or []]
        return [self._with_freezer(i) for i in infos] if overlay else infos

    def _with_freezer(self, info: ContainerInfo) -> ContainerInfo:
        # Paused through the freezer directly: the engine still says "running".
        if info.state != "running" or info.pid <= 0:
            return info
        files = self._files(info.id, info.pid)
        if files is not None and self._cgroups.frozen(files):
            return replace(info, state="paused")
        return info

    def _files(self, ident: str, pid: int) -> CgroupFiles | None:
        files = self._cgroup_cache.get(ident)
        if files is not None and files.cpu.exists():
            return files
        try:
            files = self._cgroups.locate(pid)
        except CgroupGone:
            return None
        self._cgroup_cache[ident] = files
        return files

    def _live(self, ident: str, verb: str) -> ContainerInfo:
        info = self.state(ident)
        if info.state == "missing":
            raise NotFound("No such worker container", f"{ident} does not exist.")
        if info.state not in ("running", "paused"):
            raise SystemProblem(f"Could not {verb} the worker ({info.state})", f"{ident}.")
        return info

    def _with_oom(self, info: ContainerInfo) -> ContainerInfo:
        # SIGKILLed (137) without the engine's OOM flag: ask the kernel log (see oom.py).
        if info.state != "exited" or info.exit_code != 137 or info.oom_killed:
            return info
        key = f"{info.id}@{info.started_at}"
        if key not in self._oom_seen:
            self._oom_seen[key] = self._oom_log.killed_in(info.id)
        return replace(info, oom_killed=True) if self._oom_seen[key] else info

    def _pid(self, ident: str) -> int:
        result = self._call("container", "inspect", "--format", "{{.State.Pid}}", ident)
        pid = result.stdout.strip()
        if result.returncode != 0 or not pid.isdigit() or int(pid) == 0:
            raise NotFound("Worker container is not running", f"{ident} has no process.")
        return int(pid)

    def _control(self, verb: str, ident: str, *, done: str) -> None:
        result = self._call(verb, ident)
        if result.returncode == 0:
            return
        current = self.state(ident)
        if current.state == done:
            return
        if current.state == "missing":
            raise NotFound("No such worker container", f"{ident} does not exist.")
        raise engine_error(f"{verb} the worker ({current.state})", result, self.config.engine)


def _pull_policy(image: str) -> str:
    # Locally built images can never be pulled; fail at once with a clear error instead.
    return "never" if image.startswith("localhost/") else "missing"


def _cores(cpus: float) -> str:
    return f"{cpus:.3f}".rstrip("0").rstrip(".")
