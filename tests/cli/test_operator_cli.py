"""`operator trust | untrust | suspend | unsuspend | pools | users`, `pool create --max-...`,
`pool limits` and the trust column of `pool list`, run as the real `kalavai-like` binary
against the real platform server on a loopback port."""

from __future__ import annotations

import json
import time

from tests.support.cli import make_cli, signed_up
from tests.support.operator import make_operator


def test_owner_sets_device_maxima_and_listings_say_what_backs_credit(tmp_path, local_platform):
    owner = make_cli(tmp_path, "owner")
    signed_up(owner, local_platform.url, "owner")
    name = f"lim{time.monotonic_ns() % 10**9}"
    r = owner("pool", "create", name, "--public", "--max-cores", "8", "--max-memory", "16g")
    assert r.returncode == 0, r.stderr
    shown = json.loads(owner("pool", "limits", name, "--json").stdout)
    assert (shown["cores"], shown["memory_bytes"], shown["gpus"]) == (8, 16 * 2**30, 16)

    r = owner("pool", "limits", name, "--max-cores", "4", "--max-gpus", "0")
    assert r.returncode == 0
    assert f"Pool '{name}' now accepts devices of at most 4 cores, 16G of memory, 0 GPUs" in (
        r.stdout
    )
    r = owner("pool", "limits", name, "--reset")
    assert "at most 256 cores, 1T of memory, 16 GPUs" in r.stdout

    r = owner("pool", "create", f"{name}g", "--template", "generic",
              "--param", "image=docker.io/library/busybox:1.36",
              "--param", 'command:=["sleep", "60"]')  # fmt: skip
    assert r.returncode == 0, r.stderr
    listed = owner("pool", "list").stdout
    assert "not trusted" in next(line for line in listed.splitlines() if f"{name} " in line)
    generic = next(line for line in listed.splitlines() if f"{name}g" in line)
    assert "credit unverified (no witness)" in generic


def test_operator_trusts_pools_and_suspends_users(tmp_path, local_platform):
    op, owner, other = (make_cli(tmp_path, n) for n in ("op", "owner2", "other"))
    op_email = signed_up(op, local_platform.url, "op")
    signed_up(owner, local_platform.url, "owner")
    other_email = signed_up(other, local_platform.url, "other")
    name = f"trust{time.monotonic_ns() % 10**9}"
    assert owner("pool", "create", name, "--public").returncode == 0

    r = owner("operator", "trust", name)
    assert r.returncode == 3 and "Only the platform's operator" in r.stderr
    make_operator(local_platform, op_email)

    r = op("operator", "trust", name)
    assert r.returncode == 0 and f"Pool '{name}' is now trusted." in r.stderr
    assert "was already trusted" in op("operator", "trust", name).stderr
    pools = json.loads(op("operator", "pools", "--json").stdout)
    assert [p["trusted"] for p in pools if p["name"] == name] == [True]
    line = next(x for x in owner("pool", "list").stdout.splitlines() if f"{name} " in x)
    assert "trusted" in line and "not trusted" not in line

    r = op("operator", "suspend", other_email)
    assert r.returncode == 0 and f"Suspended {other_email}" in r.stderr
    r = other("whoami")
    assert r.returncode == 3 and "Account suspended" in r.stderr
    users = json.loads(op("operator", "users", "--json").stdout)
    assert {u["email"]: u["suspended"] for u in users}[other_email] is True
    assert op("operator", "unsuspend", other_email).returncode == 0
    assert other("whoami").returncode == 0
    r = op("operator", "untrust", name, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["pool"]["trusted"] is False
