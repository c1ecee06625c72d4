"""Run the real platform server as a subprocess on loopback, for tests, the demo and tools.

    with start_local_platform(tmp_path / "platform") as platform:
        requests.get(platform.url + "/healthz")

The server is `python -m kalavai_like platform serve`, exactly what users run. The database URL
travels in the environment (never on the command line).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from kalavai_like.errors import PlatformUnavailable

_SERVING = re.compile(r"serving at (http://\S+)")
_RELAY = re.compile(r"relay serving at (\S+)")


@dataclass
class LocalPlatform:
    """A running platform server. `url` is its base URL (no trailing slash)."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    database_url: str | None = None
    public_url: str = ""
    relay: str = ""  # host:port of its relay, when started with one
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """The server's output so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and its worker processes. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)

    def __enter__(self) -> LocalPlatform:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_local_platform(
    data_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    database_url: str | None = None,
    *,
    public_url: str | None = None,
    workers: int = 1,
    address_holdback: float | None = None,
    settings: dict[str, object] | None = None,
    signups_per_hour: int | None = None,
    operators: tuple[str, ...] = (),
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
    relay_port: int | None = None,
) -> LocalPlatform:
    """Start `kalavai-like platform serve` and wait until /healthz answers. `settings` are
    PlatformSettings knobs (`--set NAME=VALUE`); `operators` are emails for `--operator`; with
    `relay_port` (0: any) its relay runs too, and is waited for.

    Raises:
        PlatformUnavailable: the server exited or did not answer within `timeout` seconds.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = data_dir / "server.log"
    args = [sys.executable, "-m", "kalavai_like", "platform", "serve"]
    args += ["--host", host, "--port", str(port), "--data-dir", str(data_dir)]
    args += ["--workers", str(workers)]
    if address_holdback is not None:
        args += ["--address-holdback", str(address_holdback)]
    for name, value in (settings or {}).items():
        args += ["--set", f"{name}={value}"]
    if signups_per_hour is not None:
        args += ["--signups-per-hour", str(signups_per_hour)]
    for email in operators:
        args += ["--operator", email]
    if relay_port is not None:
        args += ["--relay-port", str(relay_port)]
    child_env = {**os.environ, **(env or {})}
    for name in ("DATABASE_URL", "SIGNUPS_PER_HOUR", "RELAY_PORT"):
        child_env.pop(f"KALAVAI_LIKE_{name}", None)
    if database_url:
        child_env["KALAVAI_LIKE_DATABASE_URL"] = database_url
    if public_url:
        child_env["KALAVAI_LIKE_PUBLIC_URL"] = public_url
    start_offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=True,  # its own process group: stop() reaches the workers too
        )
    platform = LocalPlatform(
        url="", data_dir=data_dir, process=process, log_path=log_path, database_url=database_url
    )
    try:
        _wait_ready(platform, timeout, start_offset, relay_port is not None)
    except BaseException:
        platform.stop()
        raise
    return platform


def _wait_ready(platform: LocalPlatform, timeout: float, offset: int, relay: bool) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if platform.process.poll() is not None:
            raise PlatformUnavailable(
                "Platform did not start",
                f"The server exited with code {platform.process.returncode}:\n"
                + platform.log()[-3000:],
            )
        if not platform.url or (relay and not platform.relay):
            with open(platform.log_path, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            found = _SERVING.findall(text)
            if found:
                platform.url = found[0]
                public = re.search(r"public URL (\S+),", text)
                platform.public_url = public.group(1) if public else platform.url
            relays = _RELAY.findall(text)
            platform.relay = relays[0] if relays else ""
        if platform.url and (platform.relay or not relay) and _healthy(platform.url):
            return
        time.sleep(0.05)
    raise PlatformUnavailable(
        "Platform did not start",
        f"No answer from /healthz within {timeout:.0f} s:\n{platform.log()[-3000:]}",
    )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:  # noqa: S310 (loopback)
            return resp.status == 200 and json.loads(resp.read()).get("ok") is True
    except (OSError, ValueError):
        return False
