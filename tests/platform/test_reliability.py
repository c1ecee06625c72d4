"""A device's reliability record from its pool head's judged results (redundant work): the
compute of invalid results is never granted, the record sums the epochs, a replay changes
nothing, and both the volunteer and the pool's owner see it."""

from __future__ import annotations

from typing import Any

import pytest

from kalavai_like.platform.local import LocalPlatform
from tests.platform.test_operator_pages import browser
from tests.platform.test_witness import _beat, _cpu_s, _device_row, _join, _pool, _wait_seconds
from tests.support.platform_api import Api, new_epoch, seen

ALLOWANCE = 1.05  # PlatformSettings.witness_allowance


def judged(device_id: str, compute: float, invalid_compute: float, valid: int, invalid: int,
           errors: int = 0) -> dict[str, Any]:  # fmt: skip
    """A witness report's entry for a device whose head judged some of its results."""
    return {**seen(device_id, compute, connected=20.0, tasks=valid + invalid + errors),
            "results": {"valid": valid, "invalid": invalid, "errors": errors},
            "invalid_compute_seconds": invalid_compute}  # fmt: skip


def test_invalid_results_earn_no_credit_and_show_on_the_devices_record(api: Api) -> None:
    owner, pool, hub = _pool(api)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=10.0)  # it measured 10 core-s: 1 of valid work, 3 of lies
    epoch = new_epoch()
    api.witness(hub, epoch, 1, judged(device_id, 1.0, 3.0, valid=3, invalid=2, errors=1))
    row = _device_row(volunteer, device_id)
    assert _cpu_s(row) == pytest.approx(1.0 * ALLOWANCE)
    record = {"valid": 3, "invalid": 2, "errors": 1, "invalid_compute_seconds": 3.0}
    assert row["witnessed"]["results"] == record
    workers = owner.get(f"/api/v1/pools/{pool['id']}/credit").json()["devices"]
    (mine,) = [w for w in workers if w["device"]["id"] == device_id]
    assert mine["witnessed"]["results"] == record and _cpu_s(mine["granted"]) == _cpu_s(row)


def test_the_record_keeps_the_largest_per_epoch_and_sums_the_epochs(api: Api) -> None:
    owner, pool, hub = _pool(api)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=10.0)
    first, second = new_epoch(), new_epoch()
    api.witness(hub, first, 1, judged(device_id, 1.0, 2.0, valid=2, invalid=1))
    api.witness(hub, first, 2, judged(device_id, 1.0, 1.0, valid=1, invalid=0))  # older totals
    api.witness(hub, first, 2, judged(device_id, 1.0, 2.0, valid=2, invalid=1))  # a replay
    api.witness(hub, second, 1, judged(device_id, 0.5, 0.5, valid=1, invalid=1, errors=2))
    results = _device_row(volunteer, device_id)["witnessed"]["results"]
    assert results == {"valid": 3, "invalid": 2, "errors": 2, "invalid_compute_seconds": 2.5}


def test_a_report_without_judged_results_leaves_the_record_empty(api: Api) -> None:
    owner, pool, hub = _pool(api)
    volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=3.0)
    api.witness(hub, new_epoch(), 1, seen(device_id, 1.0, connected=1.0))
    row = _device_row(volunteer, device_id)
    assert row["witnessed"]["results"] == {"valid": 0, "invalid": 0, "errors": 0,
                                           "invalid_compute_seconds": 0.0}  # fmt: skip
    assert _cpu_s(row) == pytest.approx(1.0 * ALLOWANCE)


def test_the_owners_page_shows_a_workers_record(api: Api, platform: LocalPlatform) -> None:
    owner, pool, hub = _pool(api)
    _volunteer, dev, device_id = _join(api, owner, pool, cores=4)
    _wait_seconds(1.0)
    _beat(dev, 1, cpu_seconds=10.0)
    api.witness(hub, new_epoch(), 1, judged(device_id, 1.0, 2.0, valid=5, invalid=2, errors=1))
    with browser(platform, owner) as page:
        html = page.get(f"/pools/{pool['id']}/owner").text
    assert "results: 5 valid, 2 invalid (2.0 core-s not granted), 1 error<" in html
