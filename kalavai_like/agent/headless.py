"""Headless mode (`kalavai-like agent --join-from-env`): the agent joins the pool named by a
join token in its environment, once, and serves Prometheus `/metrics`.

Environment (each secret either as the value or as a file, for Kubernetes Secrets and systemd
credentials; setting both is an error):
    KALAVAI_LIKE_TOKEN / KALAVAI_LIKE_TOKEN_FILE              the join token (kl1_...)
    KALAVAI_LIKE_ACCOUNT_KEY / KALAVAI_LIKE_ACCOUNT_KEY_FILE  the account key (kla_...)
    KALAVAI_LIKE_CPUS (1), KALAVAI_LIKE_MEMORY (1G), KALAVAI_LIKE_GPUS (0),
    KALAVAI_LIKE_DEVICE_NAME (the host name), KALAVAI_LIKE_METRICS_LISTEN (`on`: 127.0.0.1:9464;
    `HOST:PORT`; served by the agent's own endpoint, kalavai_like/agent/metrics_server.py)

Idempotent across restarts: the agent's persisted membership says whether the node is in a
pool, and `<state>/agent/headless.json` records the SHA-256 of each token this node redeemed
(never the token). A token recorded there is never presented again, even after the node left
the pool; a new token is needed to join again. Transient failures (platform down, no hub yet)
are retried with backoff; a refused token or account key is not.

It drives the agent only through the LocalAPI (`NodeClient`), like the CLI does.
`kalavai-like agent --join-from-env` execs `python -m kalavai_like.agent.headless`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kalavai_like import tokens
from kalavai_like.client.records import JoinRequest, JoinResult, NodeStatus, Step
from kalavai_like.errors import AuthError, Conflict, InvalidInput, KalavaiError
from kalavai_like.home.files import write_json
from kalavai_like.home.paths import Paths
from kalavai_like.home.settings import Settings
from kalavai_like.units import parse_size

log = logging.getLogger(__name__)

TOKEN_ENV = "KALAVAI_LIKE_TOKEN"  # noqa: S105 (a variable name)
KEY_ENV = "KALAVAI_LIKE_ACCOUNT_KEY"
METRICS_ENV = "KALAVAI_LIKE_METRICS_LISTEN"
MAX_SECRET = 16 * 1024


# ---- configuration from the environment ----------------------------------------------------


def secret_from_env(env: Mapping[str, str], name: str) -> str:
    """`name` from the environment, or the content of the file `name_FILE` names (stripped).

    Raises:
        InvalidInput: neither or both are set, the file is unreadable or the value empty.
    """
    value, path = env.get(name), env.get(f"{name}_FILE")
    if value and path:
        raise InvalidInput(f"Both {name} and {name}_FILE are set", "Set only one of them.")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read(MAX_SECRET + 1)
        except OSError as exc:
            raise InvalidInput(
                f"Cannot read {name}_FILE", f"{path}: {exc.strerror or exc}."
            ) from None
        except UnicodeDecodeError:
            raise InvalidInput(f"{name}_FILE is not text", f"{path} is not UTF-8.") from None
        if len(value) > MAX_SECRET:
            raise InvalidInput(f"{name}_FILE is too large", f"{path} holds more than a secret.")
    value = (value or "").strip()
    if not value:
        raise InvalidInput(
            f"{name} is not set",
            f"Headless mode needs {name} (or {name}_FILE naming a file that holds it).",
        )
    if any(c.isspace() for c in value):
        raise InvalidInput(f"{name} is damaged", "It contains spaces or line breaks.")
    return value


def _number(env: Mapping[str, str], name: str, default: str, parse: Callable[[str], Any]) -> Any:
    text = env.get(name, "").strip() or default
    try:
        return parse(text)
    except ValueError:
        raise InvalidInput(f"Invalid {name}", f"{name}={text!r} is not valid.") from None


def _size(text: str) -> int:
    size = parse_size(text)
    if size <= 0:
        raise ValueError(text)
    return size


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value <= 4096:
        raise ValueError(text)
    return value


def _count(text: str) -> int:
    if text.lower() == "none":
        return 0
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


@dataclass(frozen=True)
class JoinEnv:
    """What headless mode joins with, read from the environment."""

    token: str = field(repr=False)
    account_key: str = field(repr=False)
    cpus: float = 1.0
    memory_bytes: int = 2**30
    gpus: int = 0
    device_name: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JoinEnv:
        """Read and check the environment (the token's shape too, offline).

        Raises:
            InvalidInput: a variable is missing, doubled or malformed.
            TokenError: the token is damaged or of an unknown version.
        """
        environ = os.environ if env is None else env
        token = secret_from_env(environ, TOKEN_ENV)
        tokens.parse(token)
        return cls(
            token=token,
            account_key=secret_from_env(environ, KEY_ENV),
            cpus=_number(environ, "KALAVAI_LIKE_CPUS", "1", _positive),
            memory_bytes=_number(environ, "KALAVAI_LIKE_MEMORY", "1G", _size),
            gpus=_number(environ, "KALAVAI_LIKE_GPUS", "0", _count),
            device_name=environ.get("KALAVAI_LIKE_DEVICE_NAME", "").strip() or socket.gethostname(),
        )

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the token: recorded instead of the token."""
        return hashlib.sha256(self.token.encode()).hexdigest()

    def request(self) -> JoinRequest:
        return JoinRequest(
            self.token, self.account_key, cpus=self.cpus, memory_bytes=self.memory_bytes,
            gpus=self.gpus, device_name=self.device_name,
        )  # fmt: skip


# ---- joining once --------------------------------------------------------------------------


class NodePort(Protocol):
    def status(self) -> NodeStatus: ...
    def join(
        self, req: JoinRequest, on_step: Callable[[Step], None] | None = None
    ) -> JoinResult: ...


class JoinRecord:
    """`<state>/agent/headless.json`: the fingerprints of the tokens this node redeemed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def redeemed(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Unreadable: refuse to guess, a second redemption is the worse mistake.
            raise InvalidInput(
                "Headless join record unreadable", f"{self.path}: {exc}. Move it aside."
            ) from None
        return dict(data.get("redeemed") or {})

    def add(self, fingerprint: str, **info: Any) -> None:
        seen = self.redeemed()
        seen[fingerprint] = {**info, "at": time.time()}
        write_json(self.path, {"redeemed": seen}, secret=True)


@dataclass
class Joiner:
    """Joins once with `join_env`, retrying what may pass; `outcome` says what happened."""

    node: NodePort
    join_env: JoinEnv
    record: JoinRecord
    stop: threading.Event
    backoff: tuple[float, float] = (2.0, 300.0)
    outcome: str = "waiting"
    attempts: int = 0
    failures: int = 0

    def run(self) -> str:
        """Join unless already joined; returns 'joined', 'already joined', 'left' or 'refused'."""
        delay = self.backoff[0]
        while not self.stop.is_set():
            try:
                self.outcome = self._once()
                return self.outcome
            except (InvalidInput, AuthError) as exc:  # tokens, keys, hardware over the limits
                self.failures += 1
                log.error("headless join refused: %s: %s (not retrying)", exc.title, exc.message)
                self.outcome = "refused"
                return self.outcome
            except KalavaiError as exc:
                self.failures += 1
                log.warning("headless join: %s: %s (retrying in %.0f s)", exc.title, exc.message,
                            delay)  # fmt: skip
            self.stop.wait(delay)
            delay = min(delay * 2, self.backoff[1])
        return self.outcome

    def _once(self) -> str:
        st = self.node.status()
        fp = self.join_env.fingerprint
        if st.worker is not None:
            if fp not in self.record.redeemed():
                self.record.add(fp, pool=st.worker.pool_name, device=st.worker.device_id)
            log.info("headless: already in pool %s; not redeeming", st.worker.pool_name)
            return "already joined"
        if fp in self.record.redeemed():
            if st.state in ("idle",):
                log.warning(
                    "headless: this node left the pool it joined with this token; "
                    "set a new %s to join again", TOKEN_ENV,
                )  # fmt: skip
                return "left"
            log.info("headless: joined before; the agent is restoring the membership")
            return "already joined"
        self.attempts += 1
        try:
            result = self.node.join(self.join_env.request(), lambda s: log.info("join: %s", s.text))
        except Conflict as exc:
            if exc.title != "Already in a pool":
                raise
            log.info("headless: the agent already has a membership; not redeeming")
            return "already joined"
        self.record.add(fp, pool=result.pool_name, device=result.device_id)
        log.info("headless: joined pool %s as %s", result.pool_name, result.address)
        return "joined"


# ---- the headless agent --------------------------------------------------------------------


def with_metrics(settings: Settings, flag: str | None, env: Mapping[str, str]) -> Settings:
    """`settings` with `[agent] metrics` set: the flag, else KALAVAI_LIKE_METRICS_LISTEN, else
    what settings.toml says, else on (loopback). The agent's own endpoint serves it."""
    agent = dict(settings.extra.get("agent") or {})
    chosen = flag or env.get(METRICS_ENV) or agent.get("metrics") or "on"
    return settings.replace(extra={**settings.extra, "agent": {**agent, "metrics": chosen}})


def run_headless(
    paths: Paths,
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    metrics_listen: str | None = None,
    stop: threading.Event | None = None,
    **overrides: Any,
) -> None:
    """Run the agent in this thread, joining from the environment (once), /metrics on.

    Raises:
        InvalidInput: the environment is wrong (checked before anything starts).
        TokenError: the token is damaged.
    """
    from kalavai_like.agent.daemon import run_agent
    from kalavai_like.agent.store import agent_dir
    from kalavai_like.client.local import NodeClient, listen_path

    environ = os.environ if env is None else env
    join_env = JoinEnv.from_env(environ)
    settings = with_metrics(settings, metrics_listen, environ)
    stop = stop or threading.Event()
    ready = threading.Event()
    node = NodeClient(listen_path(paths), timeout=600.0)
    stderr = logging.StreamHandler(sys.stderr)  # journald and `kubectl logs` read stderr
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(stderr)
    joiner = Joiner(node, join_env, JoinRecord(agent_dir(paths) / "headless.json"), stop)

    def join_when_ready() -> None:
        while not ready.wait(0.5):
            if stop.is_set():
                return
        joiner.run()

    thread = threading.Thread(target=join_when_ready, name="headless-join", daemon=True)
    thread.start()
    try:
        run_agent(paths, settings, stop=stop, ready=ready, **overrides)
    finally:
        stop.set()
        thread.join(5)
        logging.getLogger().removeHandler(stderr)


def main(argv: list[str] | None = None) -> int:
    """`python -m kalavai_like.agent.headless [--home DIR] [--prefix P] [--metrics ADDR]`, which
    `kalavai-like agent --join-from-env` execs."""
    from kalavai_like.agent.__main__ import run

    return run(
        "kalavai-like agent --join-from-env", __doc__, argv,
        lambda paths, settings, metrics, overrides: run_headless(
            paths, settings, metrics_listen=metrics, **overrides
        ),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
