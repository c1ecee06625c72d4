"""A device resumed on its machine (CLI or tray) withdraws a pause requested from the web: the
owner's pages stop showing "Pause requested", and the next heartbeat's reply says "running"."""

from __future__ import annotations

from tests.support.platform_api import Api


def test_the_devices_own_resume_withdraws_the_webs_pause(api: Api) -> None:
    volunteer = api.user()
    _, joined = api.join_public(volunteer, name="desk")
    device_id, dev = joined["device"]["id"], api.as_(joined["credential"])
    r = volunteer.post(f"/api/v1/devices/{device_id}/desired", json={"state": "paused"})
    assert r.json()["desired_state"] == "paused"
    beat = dev.post("/api/v1/device/heartbeat", json={"seq": 1, "state": "paused"}).json()
    assert beat["desired_state"] == "paused"

    r = dev.post("/api/v1/device/resumed")  # `pool resume` on the machine
    assert r.status_code == 200 and r.json() == {"desired_state": "running"}
    listed = volunteer.get("/api/v1/devices").json()
    assert [d["desired_state"] for d in listed] == ["running"]
    beat = dev.post("/api/v1/device/heartbeat", json={"seq": 2, "state": "running"}).json()
    assert beat["desired_state"] == "running"
    assert dev.post("/api/v1/device/resumed").status_code == 200  # idempotent


def test_only_a_device_withdraws_its_own_pause(api: Api) -> None:
    volunteer = api.user()
    _, joined = api.join_public(volunteer)
    assert volunteer.post("/api/v1/device/resumed").status_code in (401, 403)
    dev = api.as_(joined["credential"])
    assert dev.delete("/api/v1/device").status_code == 204
    assert dev.post("/api/v1/device/resumed").status_code == 401
