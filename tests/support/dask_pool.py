"""A real Dask pool in containers of the locally built dask image, on podman's default network
(each container its own address, so the scheduler sees each worker's own host): a scheduler,
with or without the pool head's witness plugin, and workers; code runs as a client inside the
scheduler's container. Every container is named `<prefix>...` and removed by `close()`.

Used by the witness plugin's podman tests and by bench/witness.py; `load_witness_plugin()`
imports the plugin's module from the image recipe (its accounting runs without distributed).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

from kalavai_like.container import RuntimeConfig
from tests.support import REPO

DASK = "localhost/kalavai-like/dask:latest"
PORT = 8786
IMAGE_PACKAGES = REPO / "packaging/images/dask/files/usr/lib/python3/dist-packages"
WITNESS_PLUGIN = IMAGE_PACKAGES / "kalavai_witness.py"


def load_witness_plugin() -> ModuleType:
    """The witness plugin's module, as shipped in the dask image (its directory importable, as
    there: the plugin imports kalavai_witness_calls from it)."""
    if str(IMAGE_PACKAGES) not in sys.path:
        sys.path.append(str(IMAGE_PACKAGES))
    spec = importlib.util.spec_from_file_location("kalavai_witness", WITNESS_PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unique_prefix() -> str:
    return f"kwit-{os.getpid()}-{uuid.uuid4().hex[:4]}-"


class DaskPool:
    """One scheduler (`witness_dir`: the host directory the plugin writes into; None: no
    plugin) and the workers added to it."""

    def __init__(
        self, witness_dir: Path | None, *, prefix: str | None = None,
        scheduler_env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.config = RuntimeConfig.detect("podman", probe=False)
        self.prefix = prefix or unique_prefix()
        self.witness_dir = witness_dir
        self.names: list[str] = []
        self.scheduler = self._name("scheduler")
        args = ["--read-only", "--tmpfs", "/tmp", "--user", "1000:1000"]
        for key, value in (scheduler_env or {}).items():
            args += ["-e", f"{key}={value}"]
        command = ["dask", "scheduler", "--port", str(PORT), "--no-dashboard"]
        if witness_dir is not None:
            args += ["-v", f"{witness_dir}:/data:U", "-e", "KALAVAI_WITNESS_DIR=/data"]
            command += ["--preload", "kalavai_witness"]
        self._run(self.scheduler, args, command)
        self.address = f"tcp://{self.ip(self.scheduler)}:{PORT}"

    def _name(self, what: str) -> str:
        name = f"{self.prefix}{what}"
        self.names.append(name)
        return name

    def engine(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.config.command(*args), capture_output=True, text=True, timeout=timeout,
            env=self.config.environ(), check=False,
        )  # fmt: skip

    def _run(self, name: str, args: list[str], command: list[str]) -> None:
        out = self.engine("run", "-d", "--name", name, "--network", "podman", *args, DASK,
                          *command)  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"podman run {name}: {out.stderr[-2000:]}")

    def ip(self, name: str) -> str:
        out = self.engine("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)
        return out.stdout.strip()

    def add_worker(
        self, name: str, *, nthreads: int = 1, extra: list[str] | None = None,
        mounts: list[str] | None = None,
    ) -> str:  # fmt: skip
        """Start a worker registered as `name`; returns its container's address."""
        container = self._name(name)
        args = ["--read-only", "--tmpfs", "/tmp", "--user", "1000:1000"]
        for m in mounts or []:
            args += ["-v", m]
        command = ["dask", "worker", self.address, "--nthreads", str(nthreads), "--name", name,
                   "--no-nanny", "--no-dashboard", *(extra or [])]  # fmt: skip
        self._run(container, args, command)
        return self.ip(container)

    def client(self, code: str, timeout: float = 300) -> str:
        """Run `code` with `SCHEDULER` (the address) defined, in the scheduler's container;
        returns what it printed."""
        script = f"SCHEDULER = {self.address!r}\n{code}"
        out = self.engine("exec", self.scheduler, "python3", "-c", script, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"client failed: {out.stderr[-3000:]}\n{self.logs()}")
        return out.stdout

    def logs(self, name: str | None = None) -> str:
        return self.engine("logs", "--tail", "30", name or self.scheduler).stderr[-3000:]

    def restart_scheduler(self) -> None:
        """Stop it gracefully (SIGTERM) and start it again: a new scheduler, a new epoch."""
        out = self.engine("restart", "-t", "20", self.scheduler)
        if out.returncode != 0:
            raise RuntimeError(f"podman restart: {out.stderr[-2000:]}")

    def close(self) -> None:
        for name in reversed(self.names):
            self.engine("rm", "-f", "-t", "0", name)


def python_in_image(*argv: str, prefix: str = "kq2-", timeout: float = 900) -> tuple[int, str]:
    """Run `python3 argv...` with the dask image's python and `distributed`, in a container
    without a network (loopback only), this tree at /src (importable, with the image recipe's
    own modules) and this venv's pure-Python packages after the image's, read-only; returns
    the exit code and the output's tail."""
    config = RuntimeConfig.detect("podman", probe=False)
    name = f"{prefix}py-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    venv = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    path = f"/src:/src/{IMAGE_PACKAGES.relative_to(REPO)}"
    command = config.command(
        "run", "--rm", "--name", name, "--network", "none", "-v", f"{REPO}:/src:ro",
        "-v", f"{venv}:/venv:ro", "-w", "/src", "-e", "PYTHONDONTWRITEBYTECODE=1",
        "-e", f"PYTHONPATH={path}", DASK, "python3", *argv,
    )  # fmt: skip
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                             env=config.environ(), check=False)  # fmt: skip
    finally:
        subprocess.run(config.command("rm", "-f", "-t", "0", name), capture_output=True,
                       env=config.environ(), check=False)  # fmt: skip
    return out.returncode, (out.stdout + out.stderr)[-6000:]


def pytest_in_image(*paths: str) -> tuple[int, str]:
    """Run pytest on `paths` (of this tree) in the dask image (python_in_image)."""
    script = ("import sys; sys.path.append('/venv'); import pytest; sys.exit(pytest.main(["
              "'-q', '-p', 'no:cacheprovider', '-p', 'no:pytest-qt', '--noconftest', "
              f"*{list(paths)!r}]))")  # fmt: skip
    return python_in_image("-c", script)
