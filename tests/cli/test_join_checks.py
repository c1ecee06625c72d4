"""What can be checked before a join is checked before any token is spent, as the real
`kalavai-like` binary shows it: a pool no worker could run is refused at `pool create`, a pool
that is not running says so in `pool list`, and `join-link` (the web's "Open in app") takes a
link that carries no token."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from tests.support.cli import make_cli, signed_up


def _name(tag: str) -> str:
    return f"{tag}{time.monotonic_ns() % 10**9}"


def test_a_generic_pool_without_an_image_is_refused_at_create(tmp_path, local_platform):
    owner = make_cli(tmp_path, "owner")
    signed_up(owner, local_platform.url, "owner")
    name = _name("gen")
    r = owner("pool", "create", name, "--template", "generic")
    assert r.returncode == 2
    assert "No image" in r.stderr and "--param image=" in r.stderr
    listed = json.loads(owner("pool", "list", "--json").stdout)
    assert name not in [p["name"] for p in listed["mine"]]


def test_pool_list_says_a_pool_is_not_running_yet(tmp_path, local_platform):
    owner = make_cli(tmp_path, "owner")
    signed_up(owner, local_platform.url, "owner")
    name = _name("idle")
    assert owner("pool", "create", name, "--public").returncode == 0
    row = next(line for line in owner("pool", "list").stdout.splitlines() if name in line)
    assert "not running yet" in row
    listed = json.loads(owner("pool", "list", "--json").stdout)
    pool = next(p for p in listed["community"] if p["name"] == name)
    assert pool["running"] is False


def _link(platform: str, pool_id: str, name: str) -> str:
    return "kalavai-like://join?" + urlencode({"platform": platform, "pool": pool_id, "name": name})


def test_join_link_names_a_pool_and_gets_its_own_token(tmp_path, local_platform):
    owner, friend = make_cli(tmp_path, "owner"), make_cli(tmp_path, "friend")
    signed_up(owner, local_platform.url, "owner")
    signed_up(friend, local_platform.url, "friend")
    name = _name("link")
    assert owner("pool", "create", name, "--public").returncode == 0
    pool = json.loads(owner("pool", "list", "--json").stdout)["mine"]
    pool_id = next(p["id"] for p in pool if p["name"] == name)

    r = friend("join-link", "https://example.org/join")
    assert r.returncode == 2 and "Not a join link" in r.stderr
    r = friend("join-link", _link("https://elsewhere.example", pool_id, name))
    assert r.returncode == 2 and "Link for another platform" in r.stderr
    r = friend("join-link", _link(local_platform.url, pool_id, name))
    assert r.returncode == 6 and "not running yet" in r.stderr  # no token minted, none spent
    assert "kl1_" not in r.stdout + r.stderr
