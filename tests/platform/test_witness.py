"""Credit that is earned, not claimed, on the real server (SQLite and PostgreSQL): a device is
granted only what its pool's head witnessed, the rest is pending and then unverified, a hub
witnesses only for its own pool, and the leaderboard counts only witnessed credit of trusted
public pools, at the platform's standard rates."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.platform_api import Api, Caller, User, new_epoch, seen, wg_key

NO_RESULTS = {"valid": 0, "invalid": 0, "errors": 0, "invalid_compute_seconds": 0.0}

Sql = Callable[[str, dict[str, object]], None]


def _wait_seconds(seconds: float) -> None:
    """Let wall time pass, so a device may have measured that long (not a sync wait)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)


def _pool(api: Api, **fields: Any) -> tuple[User, dict[str, Any], str]:
    """A new owner's pool with its hub registered: (owner, pool, the hub's credential)."""
    owner = api.user()
    pool = api.pool(owner, **fields)
    return owner, pool, api.hub(owner, pool)["credential"]


def _join(api: Api, owner: User, pool: dict[str, Any], **fields: Any) -> tuple[User, Caller, str]:
    """A new volunteer's device in `pool`: (volunteer, device caller, device id)."""
    volunteer = api.user()
    joined = api.join(volunteer, owner, pool, **fields)
    return volunteer, api.as_(joined["credential"]), joined["device"]["id"]


def _beat(dev: Caller, seq: int, **counters: float) -> dict[str, Any]:
    r = dev.post("/api/v1/device/heartbeat", json={"seq": seq, "state": "running",
                                                   "counters": counters})  # fmt: skip
    assert r.status_code == 200, r.text
    return dict(r.json())


def _cpu_s(totals: dict[str, Any]) -> float:
    return float(totals["cpu_core_hours"]) * 3600


def _device_row(who: User, device_id: str) -> dict[str, Any]:
    rows = who.get("/api/v1/credit/me/devices").json()
    return next(r for r in rows if r["device"]["id"] == device_id)


def _on_leaderboard(viewer: User, user: User) -> dict[str, Any] | None:
    """The user's row on the leaderboard, by credit (asserting the same by recent average)."""
    rows = {}
    for by in ("credit", "recent"):
        board = viewer.get(f"/api/v1/credit/leaderboard?by={by}&limit=500").json()
        rows[by] = next((r for r in board if r["user"]["id"] == user.id), None)
    assert (rows["credit"] is None) == (rows["recent"] is None)
    return rows["credit"]


def _trust(sql: Sql, pool: dict[str, Any], public: bool = True) -> None:
    """What the platform's operator does (its commands are another part's)."""
    sql(
        "UPDATE pools SET trusted = true, public = :pub WHERE id = :p",
        {"p": pool["id"], "pub": public},
    )


def test_forged_claims_earn_nothing_and_never_reach_the_leaderboard(
    api: Api, platform_sql: Sql
) -> None:
    _owner, pool, _hub = _pool(api, public=True)
    _trust(platform_sql, pool)
    attacker = api.user()
    # nothing but a single-use token from the public Join button, and plain HTTP
    token = attacker.post(f"/api/v1/pools/{pool['id']}/join-token").json()["token"]
    with httpx.Client(base_url=api.url, timeout=30) as raw:
        auth = {"Authorization": f"Bearer {attacker.credential}"}
        # the most the pool's (default) maxima let a device declare
        body = {"token": token, "public_key": wg_key(), "name": "rig", "cores": 256,
                "memory_bytes": 2**40, "gpus": 16}  # fmt: skip
        r = raw.post("/api/v1/devices", json=body, headers=auth)
        assert r.status_code == 201, r.text
        forged = {"Authorization": f"Bearer {r.json()['credential']}"}
        device_id = r.json()["device"]["id"]
        _wait_seconds(1.0)
        for seq in range(1, 6):
            usage = {"cpu_seconds": 1e9 * seq, "ram_gb_seconds": 1e9 * seq,
                     "gpu_seconds": 1e9 * seq, "sampled_at": time.time() + 1e6}  # fmt: skip
            hb = {"seq": seq, "state": "running", "counters": usage}
            reply = raw.post("/api/v1/device/heartbeat", json=hb, headers=forged).json()
            assert reply["granted"]["credit"] == 0
        # its own credential cannot witness for itself
        report = {"epoch": new_epoch(), "seq": 1, "devices": [seen(device_id, 1e6)]}
        assert raw.post("/api/v1/device/witness", json=report, headers=forged).status_code == 403
    mine = attacker.get("/api/v1/credit/me").json()
    assert mine["granted"]["credit"] == 0 and mine["counted"]["credit"] == 0
    assert mine["pending"]["credit"] > 0  # shown as pending: never witnessed
    assert _on_leaderboard(attacker, attacker) is None
    assert _device_row(attacker, device_id)["witnessed"]["ratio"] == 0


def test_unwitnessed_usage_is_pending_then_unverified(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(witness_window=1.0)
    owner, pool, hub = _pool(api)
    volunteer, dev, device_id = _join(api, owner, pool, cores=2)
    _wait_seconds(1.0)
    beat = _beat(dev, 1, cpu_seconds=1.0)
    assert _cpu_s(beat["pending"]) == pytest.approx(1.0)
    assert _cpu_s(beat["unverified"]) == 0 and _cpu_s(beat["granted"]) == 0
    _wait_seconds(1.2)  # the window passes with no witness
    mine = volunteer.get("/api/v1/credit/me").json()
    assert _cpu_s(mine["unverified"]) == pytest.approx(1.0) and _cpu_s(mine["pending"]) == 0
    # a witness arriving after the window does not turn it back
    api.witness(hub, new_epoch(), 1, seen(device_id, 1.0))
    beat = _beat(dev, 2, cpu_seconds=1.0)
    assert _cpu_s(beat["unverified"]) == pytest.approx(1.0) and _cpu_s(beat["granted"]) == 0
    assert volunteer.get("/api/v1/credit/me").json()["granted"]["recent_average"] == 0
    seen_by_owner = owner.get(f"/api/v1/pools/{pool['id']}/credit").json()
    assert _cpu_s(seen_by_owner["unverified"]) == pytest.approx(1.0)


@pytest.mark.parametrize("template", ["dask", "boinc"])  # boinc: the project's credit
def test_a_witness_releases_the_smaller_of_measured_and_witnessed(api: Api, template: str) -> None:
    owner, pool, hub = _pool(api, template=template)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    assert _cpu_s(_beat(dev, 1, cpu_seconds=3.0)["pending"]) == pytest.approx(3.0)
    epoch = new_epoch()
    api.witness(hub, epoch, 1, seen(device_id, 1.0, connected=1.0, tasks=4))
    row = _device_row(volunteer, device_id)
    allowance = 1.05  # PlatformSettings.witness_allowance: skew between the two clocks
    assert _cpu_s(row) == pytest.approx(1.0 * allowance)  # the flat totals are the granted
    assert _cpu_s(row["pending"]) == pytest.approx(3.0 - 1.0 * allowance)
    assert row["witnessed"] == {"tasks": 4, "compute_seconds": 1.0, "connected_seconds": 1.0,
                                "ratio": pytest.approx(1 / 3), "results": NO_RESULTS}  # fmt: skip
    api.witness(hub, epoch, 2, seen(device_id, 3.5, connected=1.0, tasks=9))
    row = _device_row(volunteer, device_id)
    assert _cpu_s(row) == pytest.approx(3.0) and _cpu_s(row["pending"]) == 0  # all it measured
    # the witness is ahead now: the next claim is granted as it arrives
    assert _cpu_s(_beat(dev, 2, cpu_seconds=3.5)["granted"]) == pytest.approx(3.5)
    daily = volunteer.get("/api/v1/credit/me/daily").json()
    assert sum(_cpu_s(d) for d in daily) == pytest.approx(3.5)


def test_a_replayed_or_older_witness_report_changes_nothing(api: Api) -> None:
    owner, pool, hub = _pool(api)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=3.0)
    epoch = new_epoch()
    first = api.witness(hub, epoch, 2, seen(device_id, 2.0, connected=1.0, tasks=5))
    assert first["duplicate"] is False and first["refused"] == []
    before = _device_row(volunteer, device_id)
    replayed = api.witness(hub, epoch, 2, seen(device_id, 2.0, connected=1.0, tasks=5))
    older = api.witness(hub, epoch, 1, seen(device_id, 3.0, connected=1.0, tasks=7))
    assert replayed["duplicate"] is True and older["duplicate"] is True
    lower = api.witness(hub, epoch, 3, seen(device_id, 1.0, connected=0.5, tasks=2))
    assert lower["duplicate"] is False  # newer, but its totals are below what was kept
    after = _device_row(volunteer, device_id)
    assert after["witnessed"] == before["witnessed"]
    assert after["witnessed"]["tasks"] == 5
    assert _cpu_s(after) == pytest.approx(_cpu_s(before)) == pytest.approx(2.1)


def test_a_new_epoch_adds_and_nothing_counts_twice(api: Api) -> None:
    owner, pool, hub = _pool(api)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=4.0)
    first, restarted = new_epoch(), new_epoch()  # the head restarted: a new epoch
    api.witness(hub, first, 1, seen(device_id, 1.0, connected=1.0, tasks=3))
    api.witness(hub, first, 2, seen(device_id, 1.5, connected=1.0, tasks=5))
    api.witness(hub, restarted, 1, seen(device_id, 0.5, connected=0.5, tasks=2))
    api.witness(hub, first, 3, seen(device_id, 1.5, connected=1.0, tasks=5))  # same totals
    api.witness(hub, restarted, 1, seen(device_id, 0.5, connected=0.5, tasks=2))  # a replay
    witnessed = _device_row(volunteer, device_id)["witnessed"]
    assert (witnessed["tasks"], witnessed["compute_seconds"]) == (7, pytest.approx(2.0))
    assert witnessed["connected_seconds"] == pytest.approx(1.5)
    assert _cpu_s(_device_row(volunteer, device_id)) == pytest.approx(2.0 * 1.05)


def test_a_hub_witnesses_only_its_own_pools_devices(api: Api) -> None:
    owner, pool, hub = _pool(api)
    other_owner, other_pool, other_hub = _pool(api)
    volunteer, dev, mine = _join(api, owner, pool, cores=4)
    stranger, their_dev, theirs = _join(api, other_owner, other_pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=1.0)
    _beat(their_dev, 1, cpu_seconds=1.0)
    hub_device = owner.get("/api/v1/devices").json()[0]["id"]
    reply = api.witness(hub, new_epoch(), 1, seen(theirs, 1.0), seen(mine, 1.0),
                        seen(hub_device, 1.0), seen("f" * 32, 1.0))  # fmt: skip
    refused = {r["device_id"]: r["reason"] for r in reply["refused"]}
    assert set(refused) == {theirs, hub_device, "f" * 32}  # the rest of the report counts
    assert "pool" in refused[theirs]
    assert _cpu_s(_device_row(volunteer, mine)) == pytest.approx(1.0)
    assert _cpu_s(_device_row(stranger, theirs)) == 0
    assert _device_row(stranger, theirs)["witnessed"]["compute_seconds"] == 0
    # who may report at all
    report = {"epoch": new_epoch(), "seq": 1, "devices": [seen(mine, 1.0)]}
    for caller, status in ((dev, 403), (volunteer, 403), (api.as_("kld_" + "A" * 43), 401),
                           (api.anon(), 401)):  # fmt: skip
        r = caller.post("/api/v1/device/witness", json=report)
        assert r.status_code == status, r.text
    assert other_hub  # the other pool's hub exists: a hub is refused only other pools' devices


def test_malformed_or_oversized_witness_reports_are_refused(api: Api) -> None:
    hub = _pool(api)[2]
    caller = api.as_(hub)
    good = seen("a" * 32, 1.0)
    for body in (
        {"epoch": "not-hex", "seq": 1, "devices": []},
        {"epoch": "A" * 32, "seq": 1, "devices": []},
        {"epoch": new_epoch(), "seq": 0, "devices": []},
        {"epoch": new_epoch(), "seq": 1, "devices": [{**good, "compute_seconds": -1}]},
        {"epoch": new_epoch(), "seq": 1, "devices": [{**good, "threads": 0}]},
        {"epoch": new_epoch(), "seq": 1, "devices": [{**good, "device_id": "x"}]},
        {"epoch": new_epoch(), "seq": 1, "devices": [good] * 4097},
    ):
        r = caller.post("/api/v1/device/witness", json=body)
        assert r.status_code == 422, (str(body)[:80], r.text)
        assert r.json()["error"]["kind"] == "InvalidInput"


def test_an_owner_witnessing_fake_work_for_a_second_account_reaches_no_leaderboard(
    api: Api, platform_sql: Sql
) -> None:
    owner, pool, hub = _pool(api, public=True)
    puppet, dev, device_id = _join(api, owner, pool, cores=64)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=60.0)
    api.witness(hub, new_epoch(), 1, seen(device_id, 60.0, connected=1.0, threads=64))
    by_pool = puppet.get("/api/v1/credit/me/pools").json()
    assert [(p["witness"], _cpu_s(p)) for p in by_pool] == [("owner", pytest.approx(60.0))]
    assert _device_row(puppet, device_id)["witness"] == "owner"
    assert owner.get(f"/api/v1/pools/{pool['id']}/credit").json()["witness"] == "owner"
    assert puppet.get("/api/v1/credit/me").json()["counted"]["credit"] == 0
    assert _on_leaderboard(puppet, puppet) is None
    # once the operator trusts the pool, its witnessed credit counts (at standard rates)
    _trust(platform_sql, pool)
    row = _on_leaderboard(puppet, puppet)
    assert row is not None and row["credit"] == pytest.approx(60.0 / 3600)
    assert row["recent_average"] > 0
    assert puppet.get("/api/v1/credit/me").json()["counted"]["credit"] == pytest.approx(60 / 3600)
    assert owner.get(f"/api/v1/pools/{pool['id']}").json()["witness"] == "trusted"


def test_a_private_pools_weights_never_reach_the_leaderboard(api: Api, platform_sql: Sql) -> None:
    owner, pool, hub = _pool(api, weights={"cpu": 10, "ram": 1, "gpu": 100})  # the most allowed
    _trust(platform_sql, pool, public=False)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=3.6)
    api.witness(hub, new_epoch(), 1, seen(device_id, 3.6, connected=1.0))
    own = volunteer.get("/api/v1/credit/me").json()["granted"]
    assert own["credit"] == pytest.approx(10 * 3.6 / 3600)  # the pool's rates, in its own pages
    assert _on_leaderboard(volunteer, volunteer) is None  # a private pool: never
    _trust(platform_sql, pool, public=True)
    row = _on_leaderboard(volunteer, volunteer)
    assert row is not None and row["credit"] == pytest.approx(3.6 / 3600)  # standard rates
    assert row["granted"]["cpu_core_hours"] == pytest.approx(0.001)


@pytest.mark.parametrize("template", ["generic"])
def test_pools_without_a_witness_grant_only_unverified_credit(
    api: Api, platform_sql: Sql, template: str
) -> None:
    owner, pool, hub = _pool(api, template=template, public=True)
    assert pool["witness"] == "none"
    _trust(platform_sql, pool)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    beat = _beat(dev, 1, cpu_seconds=2.0)
    api.witness(hub, new_epoch(), 1, seen(device_id, 2.0, connected=1.0))  # no witness to trust
    mine = volunteer.get("/api/v1/credit/me").json()
    assert _cpu_s(beat["unverified"]) == pytest.approx(2.0) and _cpu_s(beat["pending"]) == 0
    assert _cpu_s(mine["unverified"]) == pytest.approx(2.0) and mine["unverified"]["credit"] > 0
    assert mine["granted"]["credit"] == 0 and mine["granted"]["recent_average"] == 0
    assert _cpu_s(owner.get(f"/api/v1/pools/{pool['id']}/credit").json()["unverified"]) > 0
    daily = volunteer.get("/api/v1/credit/me/daily").json()
    assert _cpu_s(daily[-1]["unverified"]) == pytest.approx(2.0)
    assert _on_leaderboard(volunteer, volunteer) is None


def test_suspended_users_leave_the_leaderboard_and_get_no_new_grants(
    api: Api, platform_sql: Sql
) -> None:
    owner, pool, hub = _pool(api, public=True)
    _trust(platform_sql, pool)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    epoch = new_epoch()
    _beat(dev, 1, cpu_seconds=1.0)
    api.witness(hub, epoch, 1, seen(device_id, 1.0, connected=1.0))
    assert _on_leaderboard(owner, volunteer) is not None
    platform_sql("UPDATE users SET suspended_at = 1 WHERE id = :u", {"u": volunteer.id})
    assert _on_leaderboard(owner, volunteer) is None  # (the volunteer's own session is refused)
    beat = _beat(dev, 2, cpu_seconds=3.0)
    api.witness(hub, epoch, 2, seen(device_id, 4.0, connected=1.0))
    beat = _beat(dev, 3, cpu_seconds=3.0)
    assert _cpu_s(beat["granted"]) == pytest.approx(1.0) and _cpu_s(beat["pending"]) > 0


def test_ram_needs_witnessed_connection_and_gpu_declared_gpus(api: Api) -> None:
    owner, pool, hub = _pool(api)
    _, dev, cpu_only = _join(api, owner, pool, cores=2, memory_bytes=2 * 2**30)
    _, gpu_dev, with_gpu = _join(api, owner, pool, cores=2, gpus=1)
    _wait_seconds(1.0)
    beat = _beat(dev, 1, cpu_seconds=0.5, ram_gb_seconds=2.0, gpu_seconds=0.5)
    assert beat["clamped"]["gpu_hours"] * 3600 == pytest.approx(0.5)  # no GPU declared
    _beat(gpu_dev, 1, cpu_seconds=0.5, gpu_seconds=0.5)
    epoch = new_epoch()
    api.witness(hub, epoch, 1, seen(cpu_only, 0.5, connected=0.5), seen(with_gpu, 0.5))
    granted = _beat(dev, 2, cpu_seconds=0.5, ram_gb_seconds=2.0, gpu_seconds=0.5)["granted"]
    assert granted["ram_gb_hours"] * 3600 == pytest.approx(0.5 * 2 * 1.05)  # connected x 2 GiB
    assert granted["gpu_hours"] == 0
    gpu = _beat(gpu_dev, 2, cpu_seconds=0.5, gpu_seconds=0.5)["granted"]
    assert gpu["gpu_hours"] * 3600 == pytest.approx(0.5)
