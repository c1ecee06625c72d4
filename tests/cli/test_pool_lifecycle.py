"""`pool close | open | delete`, run as the real `kalavai-like` binary against the real
platform server on a loopback port."""

from __future__ import annotations

import json
import time

from tests.support.cli import make_cli, signed_up


def test_owner_closes_opens_and_deletes_a_pool(tmp_path, local_platform):
    owner, other = make_cli(tmp_path, "owner"), make_cli(tmp_path, "other")
    signed_up(owner, local_platform.url, "owner")
    signed_up(other, local_platform.url, "other")
    name = f"life{time.monotonic_ns() % 10**9}"
    assert owner("pool", "create", name, "--public").returncode == 0

    r = owner("pool", "close", name)
    assert r.returncode == 0 and f"Pool '{name}' is now closed to new members" in r.stderr
    r = owner("pool", "close", name)
    assert r.returncode == 0 and "already closed" in r.stderr
    assert "public, closed" in owner("pool", "list").stdout
    seen = json.loads(other("pool", "list", "--json").stdout)["community"]
    assert [p["closed"] for p in seen if p["name"] == name] == [True]
    assert other("pool", "open", name).returncode == 3  # not the owner
    r = owner("pool", "open", name, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["closed"] is False

    r = owner("pool", "delete", name)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert name in owner("pool", "list").stdout
    r = owner("pool", "delete", name, "--yes")
    assert r.returncode == 0 and f"Deleted pool '{name}'" in r.stderr
    assert name not in owner("pool", "list").stdout
    assert owner("pool", "delete", name, "--yes").returncode == 5  # no such pool any more
