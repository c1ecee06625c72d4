"""Headless mode's own logic: reading the join from the environment (values or files, as
Kubernetes Secrets mount them) and joining at most once per token. The fake node here is kept
honest by tests/packaging/test_headless_pool.py, which runs the same flow against a real agent
and the real platform."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kalavai_like import tokens
from kalavai_like.agent.headless import JoinEnv, Joiner, JoinRecord, secret_from_env, with_metrics
from kalavai_like.errors import (
    Conflict,
    InvalidInput,
    PlatformUnavailable,
    TokenError,
)
from kalavai_like.home.settings import Settings


def token() -> str:
    text, _ = tokens.mint(platform="http://127.0.0.1:8700", pool_id="ab" * 16, pool_name="demo",
                          expires_at=int(time.time()) + 3600)  # fmt: skip
    return text


def test_secrets_come_from_values_or_files(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("kl1_abc\n")  # `kubectl create secret --from-file` keeps the newline
    assert secret_from_env({"X": " kl1_abc "}, "X") == "kl1_abc"
    assert secret_from_env({"X_FILE": str(f)}, "X") == "kl1_abc"
    with pytest.raises(InvalidInput, match="Both X and X_FILE"):
        secret_from_env({"X": "a", "X_FILE": str(f)}, "X")
    with pytest.raises(InvalidInput, match="X is not set"):
        secret_from_env({}, "X")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InvalidInput, match="X is not set"):
        secret_from_env({"X_FILE": str(tmp_path / "empty")}, "X")
    with pytest.raises(InvalidInput) as missing:
        secret_from_env({"X_FILE": str(tmp_path / "nope")}, "X")
    assert str(tmp_path / "nope") in missing.value.message
    with pytest.raises(InvalidInput, match="damaged"):
        secret_from_env({"X": "two words"}, "X")


def test_join_env_reads_everything_and_never_shows_the_secrets(tmp_path: Path) -> None:
    t = token()
    (tmp_path / "key").write_text("kla_secretkey\n")
    env = {
        "KALAVAI_LIKE_TOKEN": t, "KALAVAI_LIKE_ACCOUNT_KEY_FILE": str(tmp_path / "key"),
        "KALAVAI_LIKE_CPUS": "2.5", "KALAVAI_LIKE_MEMORY": "512M", "KALAVAI_LIKE_GPUS": "none",
        "KALAVAI_LIKE_DEVICE_NAME": "rack-3",
    }  # fmt: skip
    j = JoinEnv.from_env(env)
    assert (j.token, j.account_key, j.cpus, j.memory_bytes, j.gpus, j.device_name) == (
        t,
        "kla_secretkey",
        2.5,
        512 * 2**20,
        0,
        "rack-3",
    )
    req = j.request()
    assert req.api_token == "kla_secretkey" and req.token == t
    assert t not in repr(j) and "kla_secretkey" not in repr(j) + repr(req)
    assert JoinEnv.from_env({"KALAVAI_LIKE_TOKEN": t, "KALAVAI_LIKE_ACCOUNT_KEY": "k"}).cpus == 1.0


@pytest.mark.parametrize(
    ("name", "value"), [("KALAVAI_LIKE_CPUS", "0"), ("KALAVAI_LIKE_CPUS", "lots"),
                        ("KALAVAI_LIKE_MEMORY", "-1G"), ("KALAVAI_LIKE_GPUS", "1.5")],
)  # fmt: skip
def test_bad_limits_are_refused_by_name(name: str, value: str) -> None:
    env = {"KALAVAI_LIKE_TOKEN": token(), "KALAVAI_LIKE_ACCOUNT_KEY": "k", name: value}
    with pytest.raises(InvalidInput, match=name):
        JoinEnv.from_env(env)


def test_a_damaged_token_is_refused_before_anything_starts() -> None:
    with pytest.raises(TokenError):
        JoinEnv.from_env({"KALAVAI_LIKE_TOKEN": token()[:-3], "KALAVAI_LIKE_ACCOUNT_KEY": "k"})


def test_metrics_are_on_by_default_and_the_flag_or_env_wins() -> None:
    s = Settings()
    assert with_metrics(s, None, {}).extra["agent"]["metrics"] == "on"
    env = {"KALAVAI_LIKE_METRICS_LISTEN": "0.0.0.0:9464"}
    assert with_metrics(s, None, env).extra["agent"]["metrics"] == "0.0.0.0:9464"
    assert with_metrics(s, "9999", env).extra["agent"]["metrics"] == "9999"


class FakeNode:
    """A node that is idle until joined; `fail` holds errors the next joins raise."""

    def __init__(self, member: bool = False, state: str = "idle") -> None:
        self.member, self.state = member, state
        self.joins: list[Any] = []
        self.fail: list[Exception] = []

    def status(self) -> Any:
        worker = SimpleNamespace(pool_name="demo", device_id="d1") if self.member else None
        return SimpleNamespace(state="running" if self.member else self.state, worker=worker)

    def join(self, req: Any, on_step: Any = None) -> Any:
        self.joins.append(req)
        if self.fail:
            raise self.fail.pop(0)
        self.member = True
        return SimpleNamespace(pool_name="demo", address="10.1.0.2", device_id="d1")


def joiner(node: FakeNode, tmp_path: Path, t: str) -> Joiner:
    env = JoinEnv(token=t, account_key="kla_k")
    return Joiner(node, env, JoinRecord(tmp_path / "headless.json"), threading.Event(),
                  backoff=(0.01, 0.02))  # fmt: skip


def test_joins_once_and_a_restart_does_not_redeem_again(tmp_path: Path) -> None:
    t = token()
    node = FakeNode()
    assert joiner(node, tmp_path, t).run() == "joined"
    assert len(node.joins) == 1
    record = tmp_path / "headless.json"
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert t not in record.read_text()  # only its fingerprint
    # restart: the agent restored the membership
    assert joiner(node, tmp_path, t).run() == "already joined"
    # restart while the agent still restores (error state): still no second redemption
    node.member, node.state = False, "error"
    assert joiner(node, tmp_path, t).run() == "already joined"
    # the node left the pool: the same token is not presented again
    node.state = "idle"
    assert joiner(node, tmp_path, t).run() == "left"
    assert len(node.joins) == 1
    # a new token joins again
    assert joiner(node, tmp_path, token()).run() == "joined"
    assert len(node.joins) == 2


def test_transient_failures_are_retried_refusals_are_not(tmp_path: Path) -> None:
    node = FakeNode()
    node.fail = [
        PlatformUnavailable("Platform down", "x"),
        Conflict("The pool has no hub yet", "y"),
    ]
    j = joiner(node, tmp_path, token())
    assert j.run() == "joined" and j.failures == 2 and len(node.joins) == 3
    node2 = FakeNode()
    node2.fail = [TokenError("used_up", "Token used up", "z")]
    j2 = joiner(node2, tmp_path, token())
    assert j2.run() == "refused" and len(node2.joins) == 1
    node3 = FakeNode()  # more hardware than the pool accepts: retrying cannot help
    node3.fail = [InvalidInput("Device over the pool's limit", "at most 64 cores")]
    assert joiner(node3, tmp_path, token()).run() == "refused" and len(node3.joins) == 1


def test_an_agent_that_already_has_a_membership_is_not_redeemed_into(tmp_path: Path) -> None:
    node = FakeNode()
    node.fail = [Conflict("Already in a pool", "This node works for pool other.")]
    assert joiner(node, tmp_path, token()).run() == "already joined"


def test_stop_ends_the_retries(tmp_path: Path) -> None:
    node = FakeNode()
    node.fail = [PlatformUnavailable("down", "")] * 1000
    j = joiner(node, tmp_path, token())
    j.backoff = (0.05, 0.05)
    threading.Timer(0.3, j.stop.set).start()
    assert j.run() == "waiting"
    assert 0 < len(node.joins) < 1000  # it retried, and stopped long before the failures ran out
    assert not (tmp_path / "headless.json").exists()
