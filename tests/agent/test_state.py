"""The persisted desired state reads state files of earlier agents and writes the same JSON."""

from __future__ import annotations

from typing import Any

from kalavai_like.agent.state import Persisted, legacy_paused_until

DEVICE = {
    "device_id": "d1", "pool_id": "p1", "pool_name": "gui", "platform": "http://127.0.0.1:1",
    "credential": "kld_x", "private_key": "priv", "public_key": "pub", "prefix": "kt",
    "name": "wk", "address": "10.77.0.2", "address6": None, "subnet": "10.77.0.0/16",
    "subnet6": None,
}  # fmt: skip
MEMBERSHIP = {
    **DEVICE, "hub_public_key": "hub", "hub_endpoint": "198.18.0.2:51820", "template": "dask",
    "params": {}, "head_address": "10.77.0.1", "cpus": 1.0, "memory_bytes": 2**30, "gpus": 0,
    "joined_at": 1000.0, "desired": "paused",
}  # fmt: skip
SEED = {
    **DEVICE, "name": "hub", "endpoint": "198.18.0.2:51820", "listen_port": 51820,
    "template": "dask", "params": {"x": 1}, "started_at": 900.0,
}  # fmt: skip


def test_state_round_trips_unchanged() -> None:
    data: dict[str, Any] = {
        "version": 1,
        "membership": {**MEMBERSHIP, "pause_reason": "paused by the user",
                       "platform_desired": "running", "relay": "198.18.0.1:3478",
                       "hub_relay_only": True, "disk_bytes": 0, "finishing": False},
        "seed": {**SEED, "relay": "198.18.0.1:3478", "relay_only": True},
        "unfinished": [{"operation": "join", "started_at": 990.0, "role": "spoke",
                        "prefix": "kt", "name": "wk", "network": True, "container": "kt-wk",
                        "platform": "http://127.0.0.1:1", "credential": "kld_y"}],
    }  # fmt: skip
    out = Persisted.from_dict(data).to_dict()
    assert out == data and list(out["membership"]) == list(data["membership"])
    assert list(out["seed"]) == [*SEED, "relay", "relay_only"]
    assert legacy_paused_until(data) is None


def test_an_earlier_agents_timed_pause_is_read_and_handed_over() -> None:
    old = {
        **MEMBERSHIP, "paused_until": 4600.0, "pause_reason": "paused until 01:16",
        "platform_desired": "running",
    }  # fmt: skip
    data = {"version": 1, "membership": old, "seed": None}
    p = Persisted.from_dict(data)
    assert p.membership is not None and p.membership.desired == "paused"
    assert legacy_paused_until(data) == 4600.0
    assert "paused_until" not in p.to_dict()["membership"]


def test_a_state_file_from_before_the_relay_reads_as_direct_only() -> None:
    m = Persisted.from_dict({"version": 1, "membership": MEMBERSHIP, "seed": SEED})
    assert m.membership is not None and m.seed is not None
    assert (m.membership.relay, m.membership.hub_relay_only) == ("", False)
    assert (m.seed.relay, m.seed.relay_only) == ("", False)


def test_a_memberships_secrets_never_show_in_its_repr() -> None:
    """A repr lands in log lines and tracebacks: the pool's BOINC key and passwords, the
    device credential and the WireGuard key stay out of it."""
    secret = {"weak_key": "123_weakkeyofthepoolowner", "account_manager_password": "am-31"}
    data = {"version": 1, "membership": {**MEMBERSHIP, "template": "boinc", "params": secret},
            "seed": {**SEED, "params": secret}}  # fmt: skip
    state = Persisted.from_dict(data)
    text = repr(state.membership) + repr(state.seed)
    assert "d1" in text  # the device is still named
    for value in ("123_weakkeyofthepoolowner", "am-31", "kld_x", "priv"):
        assert value not in text
