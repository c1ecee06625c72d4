"""The container engine's command line: running it (the injectable `Runner`), and reading its
output and errors: `container inspect` JSON into ContainerInfo, error text into
kalavai_like.errors types. podman and docker print the same shapes here.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kalavai_like.container.spec import ContainerInfo, ContainerSpec, State
from kalavai_like.errors import Conflict, InvalidInput, KalavaiError, SystemProblem

_STATES: dict[str, State] = {"running": "running", "paused": "paused"}
_GONE = ("no such container", "no container with name or id", "no such object")


@dataclass(frozen=True)
class RunResult:
    """What one engine call returned."""

    returncode: int
    stdout: str
    stderr: str = ""


class Runner(Protocol):
    """Runs one engine command; tests inject recorded outputs."""

    def __call__(
        self, argv: list[str], *, env: dict[str, str] | None, timeout: float, merge_stderr: bool
    ) -> RunResult: ...


def subprocess_runner(
    argv: list[str], *, env: dict[str, str] | None, timeout: float, merge_stderr: bool = False
) -> RunResult:
    """Run `argv` as a subprocess (no shell) and capture its output.

    Raises:
        SystemProblem: the program is missing or did not answer in time.
    """
    try:
        proc = subprocess.run(
            argv,
            cwd=_conmon_dir(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SystemProblem(
            f"{argv[0]} is not installed", f"Install it: apt-get install {argv[0]}."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SystemProblem(
            f"{argv[0]} did not answer",
            f"`{argv[0]} {argv[1] if len(argv) > 1 else ''}` "
            f"took more than {timeout:.0f} s; check `{argv[0]} info`.",
        ) from exc
    return RunResult(proc.returncode, proc.stdout or "", proc.stderr or "")


def _conmon_dir() -> str:
    # conmon 2.1 (Debian 12) writes its "oom" marker into its working directory, which it
    # inherits through podman: keep it out of the caller's directory.
    path = Path(tempfile.gettempdir()) / f"kalavai-like-conmon-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)


def parse_inspect(item: dict[str, Any]) -> ContainerInfo:
    """A ContainerInfo from one element of `podman/docker container inspect` JSON."""
    st = item.get("State") or {}
    status = str(st.get("Status", "")).lower()
    config = item.get("Config") or {}
    return ContainerInfo(
        id=str(item.get("Id", "")),
        name=str(item.get("Name", "")).lstrip("/"),
        state=_STATES.get(status, "exited"),
        exit_code=None if status in _STATES else int(st.get("ExitCode") or 0),
        oom_killed=bool(st.get("OOMKilled")),
        started_at=st.get("StartedAt") or None,
        restart_count=int(item.get("RestartCount") or 0),
        labels=dict(config.get("Labels") or {}),
        image=str(item.get("ImageName") or config.get("Image") or ""),
        pid=int(st.get("Pid") or 0),
    )


def error_text(result: RunResult) -> str:
    return (result.stderr or result.stdout).strip()


def is_gone(text: str) -> bool:
    low = text.lower()
    return any(g in low for g in _GONE)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].removeprefix("Error: ") if lines else "no error output"


def engine_error(action: str, result: RunResult, engine: str) -> SystemProblem:
    return SystemProblem(
        f"Could not {action}",
        f"{engine} said: {last_line(error_text(result))}. Check `{engine} info`.",
    )


_IMAGE_MISSING = ("image not known", "no such image", "unable to find image", "pull access denied")


def run_error(spec: ContainerSpec, text: str) -> KalavaiError:
    low = text.lower()
    detail = last_line(text)
    if "already in use" in low:
        return Conflict("Worker container already exists", f"{spec.name!r} is taken: {detail}.")
    if any(m in low for m in _IMAGE_MISSING) or ("initializing source" in low and "pull" in low):
        fix = (
            "Build the local images with packaging/images/build."
            if spec.image.startswith("localhost/")
            else "Check the image name and that this machine can reach its registry."
        )
        return SystemProblem("Worker image not found", f"{spec.image} is not available. {fix}")
    if "range of cpus" in low:
        return InvalidInput("CPU limit too high", detail)
    if spec.netns_path is not None and spec.netns_path in text:
        return SystemProblem("Cannot join the network namespace", f"{spec.netns_path}: {detail}.")
    return SystemProblem("Could not start the worker container", f"{detail}.")
