"""Heartbeats on the real server: replays counted once, old sequences ignored, inflated
claims clamped to the hardware, and the clamps recorded where the pool owner sees them.
Usage is granted only as far as the pool's head witnessed it (tests/platform/test_witness.py)."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from kalavai_like.platform import heartbeats, ledger
from kalavai_like.platform.db import Database
from kalavai_like.platform.local import LocalPlatform
from kalavai_like.platform.schemas import HeartbeatIn
from kalavai_like.platform.settings import PlatformSettings, normalize_database_url
from tests.support.platform_api import Api, Caller, User, new_epoch, seen


@dataclass
class Joined:
    owner: User
    volunteer: User
    pool: dict[str, Any]
    dev: Caller
    before: float
    device_id: str
    hub: str  # the pool's hub credential: it reports what the head witnessed
    epoch: str = field(default_factory=new_epoch)

    def witness(self, api: Api, compute: float, seq: int = 1, **kw: Any) -> dict[str, Any]:
        """The head saw `compute` core-s (and as long connected, unless told): no more than
        the device's threads could give since it enrolled is believed."""
        return api.witness(self.hub, self.epoch, seq, seen(self.device_id, compute, **kw))


def _device(api: Api, **fields: Any) -> Joined:
    owner = api.user()
    pool = api.pool(owner)
    hub = api.hub(owner, pool)["credential"]
    volunteer = api.user()
    before = time.time()
    joined = api.join(volunteer, owner, pool, **fields)
    dev = api.as_(joined["credential"])
    return Joined(owner, volunteer, pool, dev, before, joined["device"]["id"], hub)


def _beat(
    dev: Caller,
    seq: int,
    cpu: float = 0.0,
    ram: float = 0.0,
    gpu: float = 0.0,
    sampled_at: float | None = None,
) -> Any:
    counters = {"cpu_seconds": cpu, "ram_gb_seconds": ram, "gpu_seconds": gpu}
    if sampled_at is not None:
        counters["sampled_at"] = sampled_at
    r = dev.post(
        "/api/v1/device/heartbeat", json={"seq": seq, "state": "running", "counters": counters}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _wait_seconds(seconds: float) -> None:
    """Let wall time pass so the hardware bound allows some usage (not a sync wait)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)


def test_replay_is_counted_once(api: Api) -> None:
    j = _device(api, cores=4)
    _wait_seconds(1.0)
    first = _beat(j.dev, 1, cpu=2.0)
    assert first["granted"]["cpu_core_hours"] == 0  # claimed, not witnessed yet: pending
    assert abs(first["pending"]["cpu_core_hours"] * 3600 - 2.0) < 1e-6
    j.witness(api, 2.0)
    replay = _beat(j.dev, 1, cpu=2.0)
    assert first["duplicate"] is False and replay["duplicate"] is True
    assert abs(replay["granted"]["cpu_core_hours"] * 3600 - 2.0) < 1e-6
    assert replay["pending"]["cpu_core_hours"] == 0
    mine = j.volunteer.get("/api/v1/credit/me").json()
    assert abs(mine["granted"]["cpu_core_hours"] * 3600 - 2.0) < 1e-6
    again = _beat(j.dev, 1, cpu=2.0)["granted"]  # the recent average decays, nothing more
    assert {**again, "recent_average": 0} == {**replay["granted"], "recent_average": 0}


def test_out_of_order_sequence_changes_nothing(api: Api) -> None:
    j = _device(api, cores=4)
    _wait_seconds(1.0)
    j.witness(api, 10.0)  # the witness may arrive first: claims are granted as they come
    _beat(j.dev, 3, cpu=3.0)
    late = _beat(j.dev, 2, cpu=2.0)  # older news, already inside seq 3's cumulative counters
    assert late["duplicate"] is True
    _wait_seconds(0.5)
    after = _beat(j.dev, 4, cpu=4.0)
    assert after["duplicate"] is False
    assert abs(after["granted"]["cpu_core_hours"] * 3600 - 4.0) < 1e-6
    daily = j.volunteer.get("/api/v1/credit/me/daily").json()
    assert abs(sum(d["cpu_core_hours"] for d in daily) * 3600 - 4.0) < 1e-6


def test_inflated_claim_is_clamped_and_recorded(api: Api) -> None:
    j = _device(api, cores=1, gpus=0, memory_bytes=2 * 2**30)
    j.witness(api, 1e6, connected=1e6, threads=1)  # even a witness agreeing with the claim
    beat = _beat(j.dev, 1, cpu=1e6, ram=1e6, gpu=1e6)
    elapsed = time.time() - j.before
    granted_cpu = beat["granted"]["cpu_core_hours"] * 3600
    assert 0 <= granted_cpu <= 1 * elapsed * 1.05
    assert beat["granted"]["gpu_hours"] == 0  # no GPU declared: none granted
    assert beat["granted"]["ram_gb_hours"] * 3600 <= 2 * elapsed * 1.05
    assert beat["clamped"]["cpu_core_hours"] * 3600 >= 1e6 - elapsed * 1.05
    assert beat["clamped"]["gpu_hours"] * 3600 == 1e6
    mine = j.volunteer.get("/api/v1/credit/me").json()
    assert mine["measured"]["gpu_hours"] * 3600 == 1e6
    assert mine["granted"]["gpu_hours"] == 0
    seen_by_owner = j.owner.get(f"/api/v1/pools/{j.pool['id']}/credit").json()
    assert seen_by_owner["clamped"]["gpu_hours"] * 3600 == 1e6
    row = next(r for r in seen_by_owner["devices"] if r["device"]["id"] == j.device_id)
    assert row["clamped"]["cpu_core_hours"] > 0


def test_counters_going_backwards_grant_nothing_then_count_again(api: Api) -> None:
    j = _device(api, cores=8)
    _wait_seconds(1.0)
    j.witness(api, 100.0, threads=8)
    _beat(j.dev, 1, cpu=5.0)
    back = _beat(j.dev, 2, cpu=1.0)  # the agent's ledger was reset
    assert abs(back["granted"]["cpu_core_hours"] * 3600 - 5.0) < 1e-6
    _wait_seconds(0.5)
    on = _beat(j.dev, 3, cpu=3.0)
    assert abs(on["granted"]["cpu_core_hours"] * 3600 - 7.0) < 1e-6


def test_a_delayed_heartbeat_loses_nothing(api: Api) -> None:
    # One core measured 0.95 core-s per second of its clock. The first second's heartbeat is
    # held up a whole second, so both arrive together: the second one's usage was measured
    # over a second of the device's time, not over the moment between their arrivals.
    j = _device(api, cores=1)
    joined_at = time.time()
    _wait_seconds(2.0)
    _beat(j.dev, 1, cpu=0.95, sampled_at=joined_at + 1.0)
    late = _beat(j.dev, 2, cpu=1.9, sampled_at=joined_at + 2.0)
    assert late["clamped"]["cpu_core_hours"] == 0
    j.witness(api, 2.0, threads=1)
    granted = _beat(j.dev, 3, cpu=1.9, sampled_at=joined_at + 2.0)["granted"]
    assert abs(granted["cpu_core_hours"] * 3600 - 1.9) < 1e-9


def test_out_of_order_heartbeats_lose_nothing(api: Api) -> None:
    j = _device(api, cores=1)
    joined_at = time.time()
    _wait_seconds(1.1)
    for seq in (3, 1, 2, 4):  # sent in order, landed out of it
        _beat(j.dev, seq, cpu=0.2 * seq, sampled_at=joined_at + 0.25 * seq)
    j.witness(api, 1.0, threads=1)
    last = _beat(j.dev, 5, cpu=0.8, sampled_at=joined_at + 1.0)
    assert last["clamped"]["cpu_core_hours"] == 0
    assert abs(last["granted"]["cpu_core_hours"] * 3600 - 0.8) < 1e-9


def test_a_later_heartbeat_carries_what_an_early_cap_deferred(api: Api) -> None:
    j = _device(api, cores=1)
    early = _beat(j.dev, 1, cpu=1.0)  # more than one core can give since it enrolled
    assert early["clamped"]["cpu_core_hours"] > 0
    _wait_seconds(1.1)
    later = _beat(j.dev, 2, cpu=1.0)  # nothing new: the time since makes room for it
    assert later["clamped"]["cpu_core_hours"] == 0
    assert abs(later["pending"]["cpu_core_hours"] * 3600 - 1.0) < 1e-9


def test_a_lying_clock_cannot_gain(api: Api) -> None:
    j = _device(api, cores=1)
    now = time.time()
    _beat(j.dev, 1, cpu=0.0, sampled_at=now)
    beat = _beat(j.dev, 2, cpu=3600.0, sampled_at=now + 3600)  # "an hour later", at once
    elapsed = time.time() - j.before
    claimed = (beat["pending"]["cpu_core_hours"] + beat["granted"]["cpu_core_hours"]) * 3600
    assert claimed <= 1 * elapsed * 1.05  # the server's clock bounds the session
    assert beat["clamped"]["cpu_core_hours"] * 3600 >= 3600 - elapsed * 1.05
    past = _beat(j.dev, 3, cpu=3600.0, sampled_at=now - 3600)  # nor one going back
    assert past["clamped"]["cpu_core_hours"] * 3600 >= 3600 - elapsed * 1.05 - 1


def test_both_heartbeat_paths_grant_the_same(api: Api, platform: LocalPlatform) -> None:
    """The lean path (what the server takes) and the FastAPI route's (`heartbeats.record`, run
    here on the same database) give the same answers to the same heartbeats and witness."""
    url = platform.database_url or f"sqlite:///{platform.data_dir / 'platform.sqlite3'}"
    db = Database(normalize_database_url(url))
    rules = ledger.Rules.of(PlatformSettings(data_dir=platform.data_dir, public_url=api.url))
    lean, routed = (_device(api, cores=4, memory_bytes=2**30) for _ in range(2))

    def by_route(seq: int, cpu: float, ram: float) -> Any:
        body = {"seq": seq, "state": "running",
                "counters": {"cpu_seconds": cpu, "ram_gb_seconds": ram}}  # fmt: skip
        credential = routed.dev.credential or ""
        return json.loads(heartbeats.record(db, rules, credential, HeartbeatIn(**body)))

    try:
        _wait_seconds(1.0)
        replies: dict[str, list[Any]] = {"lean": [], "routed": []}
        for seq, cpu, ram in ((1, 1.0, 0.5), (2, 2.0, 1.0), (2, 2.0, 1.0), (1, 1.0, 0.5)):
            if seq == 2 and not replies["lean"][-1]["duplicate"]:
                for j in (lean, routed):
                    j.witness(api, 1.5, connected=0.5)
            replies["lean"].append(_beat(lean.dev, seq, cpu=cpu, ram=ram))
            replies["routed"].append(by_route(seq, cpu, ram))
    finally:
        db.dispose()
    for got, want in zip(replies["routed"], replies["lean"], strict=True):
        for part in ("granted", "pending", "unverified", "clamped"):
            got[part]["recent_average"] = want[part]["recent_average"] = 0  # decays with time
        assert got == want
    assert abs(want["granted"]["cpu_core_hours"] * 3600 - 1.575) < 1e-9  # 1.5 x 1.05
    assert abs(want["granted"]["ram_gb_hours"] * 3600 - 0.525) < 1e-9  # 0.5 s x 1 GiB x 1.05
    # and both stored it so: the credit is the sum of what each event granted
    stored = [j.volunteer.get("/api/v1/credit/me").json()["granted"] for j in (lean, routed)]
    assert stored[0]["credit"] == stored[1]["credit"] == want["granted"]["credit"]
    assert abs(want["granted"]["credit"] - (1.575 * 1.0 + 0.525 * 0.1) / 3600) < 1e-12


def test_heartbeat_reports_state_and_reason(api: Api) -> None:
    j = _device(api)
    volunteer, dev = j.volunteer, j.dev
    r = dev.post(
        "/api/v1/device/heartbeat",
        json={"seq": 1, "state": "paused", "reason": "on battery", "counters": {}},
    )
    assert r.status_code == 200
    device = volunteer.get("/api/v1/devices").json()[0]
    assert (device["state"], device["reason"]) == ("paused", "on battery")
    assert device["last_heartbeat_at"] is not None


def test_bad_heartbeats_are_rejected_with_reasons(api: Api) -> None:
    dev = _device(api).dev
    for body in (
        {"seq": 0, "state": "running"},
        {"seq": 1, "state": "dancing"},
        {"seq": 1, "state": "running", "counters": {"cpu_seconds": -1}},
        {"seq": 1, "state": "running", "counters": {"cpu_seconds": 1e300}},
        {"seq": 2**63, "state": "running"},
        {"seq": 1, "state": "running", "counters": {"sampled_at": -1}},
        {"seq": 1, "state": "running", "counters": {"sampled_at": 1e300}},
    ):
        r = dev.post("/api/v1/device/heartbeat", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["kind"] == "InvalidInput"


def _error(r: Any, status: int, kind: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["kind"] == kind, r.text


def test_heartbeat_refuses_missing_unknown_and_wrong_credentials(api: Api) -> None:
    owner = _device(api).owner
    beat = {"seq": 1, "state": "running"}
    _error(api.anon().post("/api/v1/device/heartbeat", json=beat), 401, "AuthError")
    unknown = api.as_("kld_" + "A" * 43)  # well-formed, never issued
    r = unknown.post("/api/v1/device/heartbeat", json=beat)
    _error(r, 401, "AuthError")
    assert r.headers["www-authenticate"] == "Bearer"
    _error(api.as_("kld_short").post("/api/v1/device/heartbeat", json=beat), 401, "AuthError")
    _error(owner.post("/api/v1/device/heartbeat", json=beat), 403, "AuthError")  # a user token


def test_removed_or_rejoined_device_is_refused_at_its_next_heartbeat(api: Api) -> None:
    j = _device(api, cores=2)
    owner, volunteer, pool, dev = j.owner, j.volunteer, j.pool, j.dev
    for seq in (1, 2):  # the platform has seen this device recently
        _beat(dev, seq)
    device_id = volunteer.get("/api/v1/devices").json()[0]["id"]
    assert volunteer.delete(f"/api/v1/devices/{device_id}").status_code == 204
    r = dev.post("/api/v1/device/heartbeat", json={"seq": 3, "state": "running"})
    _error(r, 401, "AuthError")

    # rejoin with the same name: the old credential is void, the new one starts at seq 1
    other = api.user()
    joined = api.join(other, owner, pool, name="rejoiner")
    old = api.as_(joined["credential"])
    _beat(old, 1)
    _beat(old, 2)
    again = api.join(other, owner, pool, name="rejoiner")
    assert again["device"]["id"] == joined["device"]["id"]
    r = old.post("/api/v1/device/heartbeat", json={"seq": 3, "state": "running"})
    _error(r, 401, "AuthError")
    assert _beat(api.as_(again["credential"]), 1)["duplicate"] is False


def test_malformed_heartbeat_bodies_get_422(api: Api) -> None:
    dev = _device(api).dev
    headers = {**dev.headers, "Content-Type": "application/json"}
    http = api.http
    for raw in (b"{not json", b"[1, 2]", b'"running"', b"", b'{"state": "running"}', b"\xff\xfe"):
        r = http.post("/api/v1/device/heartbeat", content=raw, headers=headers)
        assert r.status_code in (400, 422), (raw, r.text)
        assert r.json()["error"]["kind"] == "InvalidInput", (raw, r.text)
    text = {**dev.headers, "Content-Type": "text/plain"}
    good = b'{"seq": 1, "state": "running"}'
    r = http.post("/api/v1/device/heartbeat", content=good, headers=text)
    _error(r, 422, "InvalidInput")
    # none of these was recorded: seq 1 is still new
    assert _beat(dev, 1)["duplicate"] is False


def test_desired_state_reaches_the_very_next_heartbeat(api: Api) -> None:
    j = _device(api)
    volunteer, dev = j.volunteer, j.dev
    assert _beat(dev, 1)["desired_state"] == "running"
    device_id = volunteer.get("/api/v1/devices").json()[0]["id"]
    r = volunteer.post(f"/api/v1/devices/{device_id}/desired", json={"state": "paused"})
    assert r.status_code == 200
    assert _beat(dev, 2)["desired_state"] == "paused"
    volunteer.post(f"/api/v1/devices/{device_id}/desired", json={"state": "running"})
    assert _beat(dev, 3)["desired_state"] == "running"


def test_concurrent_replays_are_counted_once(api: Api) -> None:
    j = _device(api, cores=64)
    volunteer, dev = j.volunteer, j.dev
    _wait_seconds(1.0)
    j.witness(api, 100.0, threads=64)
    _beat(dev, 1, cpu=1.0)

    def send(seq: int) -> Any:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            body = {"seq": seq, "state": "running", "counters": {"cpu_seconds": seq * 1.0}}
            r = http.post("/api/v1/device/heartbeat", json=body, headers=dev.headers)
            assert r.status_code == 200, r.text
            return r.json()

    # each of seq 2..6 sent four times at once, in a shuffled order
    seqs = [s for s in range(2, 7) for _ in range(4)]
    random.shuffle(seqs)
    with ThreadPoolExecutor(len(seqs)) as pool:
        replies = list(pool.map(send, seqs))
    accepted = [r["seq"] for r in replies if not r["duplicate"]]
    assert len(accepted) == len(set(accepted))  # no seq was applied twice
    assert 6 in accepted  # the newest always lands once
    mine = volunteer.get("/api/v1/credit/me").json()
    # cumulative counters: whatever order they landed in, the device measured its top value
    assert abs(mine["measured"]["cpu_core_hours"] * 3600 - 6.0) < 1e-6
    daily = volunteer.get("/api/v1/credit/me/daily").json()
    granted = sum(d["cpu_core_hours"] for d in daily)
    assert abs(granted - mine["granted"]["cpu_core_hours"]) < 1e-12
    assert abs(granted * 3600 - 6.0) < 1e-6  # all of it witnessed, none lost to the order
