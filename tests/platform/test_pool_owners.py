"""A pool owner's tools on the real server: labelled join tokens, removing a worker (its next
heartbeat says so), banning and unbanning a user, the notices about workers and their webhook.
Only the pool's owner may use them: another account and a device credential are refused."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.platform_api import Api, Caller, credited_device, wg_key
from tests.support.waiting import wait_for


def _put(who: Caller, path: str, body: Any = None) -> httpx.Response:
    return who.api.http.put(path, json=body, headers=who.headers)


def _beat(api: Api, credential: str, seq: int) -> httpx.Response:
    return api.as_(credential).post(
        "/api/v1/device/heartbeat", json={"seq": seq, "state": "running"}
    )


def test_join_tokens_carry_a_bounded_label(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    made = api.token(owner, pool, label="for Ana")
    assert made["label"] == "for Ana"
    api.token(owner, pool)
    listed = owner.get(f"/api/v1/pools/{pool['id']}/tokens").json()
    assert [(t["id"] == made["id"], t["label"]) for t in listed] == [
        (True, "for Ana"),
        (False, None),
    ]
    for bad in ("x" * 65, "tab\there", "bell\x07", "", "right\u202eto left", "zero\u200bwidth"):
        r = owner.post(f"/api/v1/pools/{pool['id']}/tokens", json={"label": bad})
        assert r.status_code == 422, bad
    r = owner.post(f"/api/v1/pools/{pool['id']}/tokens", json={"label": "a\u202eb"})
    assert "1 to 64 printable characters" in r.json()["error"]["message"]


def test_owner_removes_a_worker_and_its_next_heartbeat_says_so(api: Api) -> None:
    owner, volunteer, stranger = api.user(), api.user(), api.user()
    pool = api.pool(owner, public=True)
    hub = api.hub(owner, pool)
    red = api.join(volunteer, owner, pool)
    device_id, credential = red["device"]["id"], red["credential"]
    assert _beat(api, credential, 1).json()["desired_state"] == "running"
    path = f"/api/v1/pools/{pool['id']}/devices/{device_id}"

    assert stranger.delete(path).status_code == 403  # someone else's (public) pool
    assert volunteer.delete(path).status_code == 403  # a member is not its owner
    assert api.as_(credential).delete(path).status_code == 403  # a device credential
    assert api.as_(hub["credential"]).delete(path).status_code == 403
    hub_path = f"/api/v1/pools/{pool['id']}/devices/{hub['device_id']}"
    assert owner.delete(hub_path).status_code == 409

    assert owner.delete(path).status_code == 204
    assert owner.delete(path).status_code == 204  # again: nothing changes
    reply = _beat(api, credential, 2)
    assert reply.status_code == 200 and reply.json()["desired_state"] == "removed"
    (row,) = [
        d for d in owner.get(f"/api/v1/pools/{pool['id']}/devices").json() if d["id"] == device_id
    ]
    assert row["state"] == "left" and row["reason"] == "removed by the pool's owner"
    assert row["address"] is None or row["left_at"]
    # the credential is good for nothing else
    assert api.as_(credential).get("/api/v1/device/relay").status_code == 401
    # not banned: a new token lets them in again, running
    again = api.join(volunteer, owner, pool, public_key=wg_key())
    assert _beat(api, again["credential"], 1).json()["desired_state"] == "running"


def test_a_banned_user_cannot_join_until_unbanned(api: Api) -> None:
    owner, volunteer, stranger = api.user(), api.user(), api.user()
    pool = api.pool(owner, public=True)
    red = api.join(volunteer, owner, pool)
    ban_path = f"/api/v1/pools/{pool['id']}/bans/{volunteer.id}"
    assert _put(stranger, ban_path).status_code == 403
    assert _put(api.as_(red["credential"]), ban_path).status_code == 403
    assert _put(owner, f"/api/v1/pools/{pool['id']}/bans/{owner.id}").status_code == 409

    banned = _put(owner, ban_path)
    assert banned.status_code == 200 and banned.json()["devices_removed"] == 1
    assert _beat(api, red["credential"], 1).json()["desired_state"] == "removed"
    listed = owner.get(f"/api/v1/pools/{pool['id']}/bans").json()
    assert [b["user_id"] for b in listed] == [volunteer.id]

    token = api.token(owner, pool)
    r = api.redeem(volunteer, token["token"])
    err = r.json()["error"]
    assert r.status_code == 403 and err["reason"] == "banned"
    assert f"owner of pool '{pool['name']}'" in err["message"]
    assert volunteer.post(f"/api/v1/pools/{pool['id']}/join-token").status_code == 403
    (row,) = owner.get(f"/api/v1/pools/{pool['id']}/tokens").json()[-1:]
    assert row["used"] == 0  # the refused join took no use of the token

    assert stranger.delete(ban_path).status_code == 403
    assert owner.delete(ban_path).status_code == 204
    assert api.redeem(volunteer, token["token"]).status_code == 201


def test_notices_name_workers_offline_and_claims_above_their_witness(
    api: Api, platform_sql: Callable[[str, dict[str, object]], None]
) -> None:
    owner, volunteer, stranger = api.user(), api.user(), api.user()
    pool = api.pool(owner, device_limits={"cores": 4096})
    hub = api.hub(owner, pool)
    quiet = api.join(volunteer, owner, pool)
    # a core-hour and more claimed, a tenth of it witnessed
    greedy = credited_device(api, volunteer, owner, pool, 7200.0, (hub["credential"], 720.0, 9))
    platform_sql(
        "UPDATE devices SET created_at = created_at - 7200 WHERE id = :id",
        {"id": quiet["device"]["id"]},
    )
    path = f"/api/v1/pools/{pool['id']}/notices"
    found = {(n["device_id"], n["kind"]) for n in owner.get(path).json()}
    assert found == {
        (quiet["device"]["id"], "worker_offline"),
        (greedy["device"]["id"], "claims_above_witness"),
    }
    assert stranger.get(path).status_code == 404  # a private pool: not even seen


class _Receiver(http.server.BaseHTTPRequestHandler):
    events: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.events.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP server that keeps the JSON bodies POSTed to it."""
    events: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"events": events})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", events
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_hears_a_worker_went_offline_once(
    tuned_platform: Callable[..., Api], receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    api = tuned_platform(offline_after=1, notice_interval=0.2, webhooks_to_private=1)
    url, events = receiver
    owner, volunteer, stranger = api.user(), api.user(), api.user()
    pool = api.pool(owner)
    hook = f"/api/v1/pools/{pool['id']}/webhook"
    assert _put(stranger, hook, {"url": url}).status_code == 404
    assert _put(owner, hook, {"url": "ftp://example.org/x"}).status_code == 422
    assert _put(owner, hook, {"url": url}).json() == {"url": url}
    red = api.join(volunteer, owner, pool)

    (event,) = wait_for(lambda: list(events), timeout=30, what="the webhook's event")
    assert event["event"] == "worker_offline"
    assert event["pool"] == {"id": pool["id"], "name": pool["name"]}
    assert event["device"]["id"] == red["device"]["id"]
    assert red["credential"] not in json.dumps(event) and volunteer.email not in json.dumps(event)
    # told once while it stays offline: when a second worker's event comes, scans went by
    second = api.join(volunteer, owner, pool)
    wait_for(lambda: len(events) > 1, timeout=30, what="the second worker's event")
    told = [e["device"]["id"] for e in events]
    assert told.count(red["device"]["id"]) == 1 and second["device"]["id"] in told


def test_a_webhook_that_never_answers_holds_up_no_heartbeat(
    tuned_platform: Callable[..., Api], tiny_server: Callable[[str], Any]
) -> None:
    api = tuned_platform(
        offline_after=1, notice_interval=0.2, webhooks_to_private=1, webhook_timeout=600
    )
    hook = tiny_server("slow")  # takes the POST and holds its answer until the test ends
    owner, volunteer = api.user(), api.user()
    pool = api.pool(owner)
    assert _put(owner, f"/api/v1/pools/{pool['id']}/webhook", {"url": hook.url}).is_success
    api.join(volunteer, owner, pool)  # never heard from: offline in a second
    wait_for(lambda: hook.requests, timeout=30, what="the webhook's POST")
    # the notifier now waits on the webhook; heartbeats and joins go on
    red = api.join(volunteer, owner, pool)
    for seq in (1, 2, 3):
        r = _beat(api, red["credential"], seq)
        assert r.status_code == 200 and r.json()["seq"] == seq
