"""The seed's witness reporter against a fake platform port: what the head witnessed reaches the
platform mapped to device ids, cumulative and with growing sequence numbers, and nothing is
lost to a platform outage, an agent restart or a head restart."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.agent.state import SeedRole
from kalavai_like.agent.witness import PendingReports, WitnessReporter
from kalavai_like.client.records import StartPoolRequest
from kalavai_like.errors import PlatformUnavailable
from kalavai_like.net import generate_keypair
from tests.support.agent_fakes import URL, World
from tests.support.waiting import wait_for

E1, E2 = "1" * 32, "2" * 32
D1, D2, D3 = "a" * 32, "b" * 32, "c" * 32
PEERS = {"10.77.0.2": D1, "10.77.0.3": D2}


def worker(host: str, name: str, tasks: int, compute: float, connected: float = 100.0,
           threads: int = 1) -> dict[str, Any]:  # fmt: skip
    return {"host": host, "name": name, "tasks": tasks, "compute_seconds": compute,
            "connected_seconds": connected, "threads": threads, "connected": True}  # fmt: skip


def write_epoch(directory: Path, epoch: str, counter: int, workers: list[dict[str, Any]],
                closed: bool = False) -> Path:  # fmt: skip
    """An epoch file as the head's witness plugin writes it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{epoch}.json"
    data = {"format": 1, "epoch": epoch, "counter": counter, "closed": closed,
            "written_at": time.time(), "workers": workers}  # fmt: skip
    path.write_text(json.dumps(data))
    return path


class Port:
    """The platform as the reporter sees it: records reports; `down` makes it unreachable."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.down = False
        self.fail_with: Exception | None = None

    def witness(self, platform: str, credential: str, report: dict[str, Any]) -> dict[str, Any]:
        assert credential == "kld_hub"
        if self.fail_with is not None:
            exc, self.fail_with = self.fail_with, None
            raise exc
        if self.down:
            raise PlatformUnavailable("Platform unreachable", "connection refused")
        self.reports.append(json.loads(json.dumps(report)))
        return {"epoch": report["epoch"], "seq": report["seq"], "duplicate": False,
                "refused": []}  # fmt: skip

    def devices(self, epoch: str) -> dict[str, dict[str, Any]]:
        """The last totals reported per device for `epoch`."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.reports:
            if r["epoch"] == epoch:
                out.update({d["device_id"]: d for d in r["devices"]})
        return out


SEED = SeedRole(
    device_id="h" * 32, pool_id="p" * 32, pool_name="demo", platform="http://platform.test",
    credential="kld_hub", private_key="k", public_key="K", prefix="kt6", name="hub",
    address="10.77.0.1/16", address6=None, subnet="10.77.0.0/16", subnet6=None,
    endpoint="198.18.0.2:51820", listen_port=51820, template="dask", params={}, started_at=0.0,
)  # fmt: skip


class Seed:
    """A reporter as the seed runs it, over `port`, its state in `tmp`; `peers` is the peer
    list's map as last applied (None: not yet)."""

    def __init__(self, tmp: Path, port: Port, peers: dict[str, str] | None = PEERS) -> None:
        self.tmp, self.port, self.peers = tmp, port, peers
        self.t = 1000.0  # the reporter's clock: each reading is past any backoff
        self.head = tmp / "witness" / SEED.pool_id
        self.reporter = self.restart()

    def restart(self) -> WitnessReporter:
        pending = PendingReports(self.tmp / "witness" / "pending.json").load()
        self.reporter = WitnessReporter(SEED, self.port, self.head, pending,  # type: ignore[arg-type]
                                        lambda: self.peers, interval=0.0, poll=0.01,
                                        clock=self._tick)  # fmt: skip
        return self.reporter

    def _tick(self) -> float:
        self.t += 100
        return self.t

    def round(self) -> None:
        self.reporter.round()


@pytest.fixture
def port() -> Port:
    return Port()


def test_totals_reach_the_platform_per_device_with_growing_sequence_numbers(
    tmp_path: Path, port: Port
) -> None:
    seed = Seed(tmp_path, port)
    write_epoch(seed.head, E1, 3, [worker("10.77.0.2", D1, 4, 2.5), worker("10.77.0.3", D2, 0, 0)])
    seed.round()
    (first,) = port.reports
    assert first["epoch"] == E1 and first["seq"] >= 1
    assert first["devices"] == [
        {"device_id": D1, "tasks": 4, "compute_seconds": 2.5, "connected_seconds": 100.0,
         "threads": 1},
        {"device_id": D2, "tasks": 0, "compute_seconds": 0.0, "connected_seconds": 100.0,
         "threads": 1},
    ]  # fmt: skip
    seed.round()
    assert len(port.reports) == 1, "nothing new: nothing sent again"
    write_epoch(seed.head, E1, 4, [worker("10.77.0.2", D1, 9, 6.0), worker("10.77.0.3", D2, 0, 0)])
    seed.round()
    assert port.reports[-1]["seq"] > first["seq"]
    assert port.devices(E1)[D1]["tasks"] == 9 and port.devices(E1)[D1]["compute_seconds"] == 6.0


def test_only_workers_the_peer_list_maps_are_reported(tmp_path: Path, port: Port) -> None:
    seed = Seed(tmp_path, port, peers=None)
    write_epoch(seed.head, E1, 2, [
        worker("10.77.0.2", D1, 1, 1.0),
        worker("10.77.0.3", D1, 5, 5.0),  # registered as D1 from D2's address
        worker("10.77.0.9", "x", 5, 5.0),  # no device has this address
    ])  # fmt: skip
    seed.round()
    assert port.reports == [], "no peer list yet: nothing can be mapped"
    seed.peers = PEERS
    seed.round()
    assert set(port.devices(E1)) == {D1} and port.devices(E1)[D1]["tasks"] == 1


def test_an_outage_and_a_restart_lose_nothing(tmp_path: Path, port: Port) -> None:
    seed = Seed(tmp_path, port)
    port.down = True
    write_epoch(seed.head, E1, 5, [worker("10.77.0.2", D1, 7, 3.0)])
    seed.round()
    cond = seed.reporter.condition
    assert cond is not None and cond.code == "witness_stale" and "kept" in cond.text
    kept = tmp_path / "witness" / "pending.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and E1 in kept.read_text()
    # The head restarts (its last totals closed), then the agent restarts, platform still down.
    write_epoch(seed.head, E1, 6, [worker("10.77.0.2", D1, 8, 3.5)], closed=True)
    seed.round()
    (seed.head / f"{E1}.json").unlink()  # ... and the old epoch's file is gone
    write_epoch(seed.head, E2, 1, [worker("10.77.0.2", D1, 1, 0.5)])
    seed.restart()
    seed.round()
    assert port.reports == []
    port.down = False
    seed.round()
    assert seed.reporter.condition is None
    assert port.devices(E1)[D1]["tasks"] == 8 and port.devices(E1)[D1]["compute_seconds"] == 3.5
    assert port.devices(E2)[D1]["tasks"] == 1
    seed.round()
    assert len(port.reports) == 2, "each epoch's last report sent once"


def test_an_ended_epoch_is_reported_to_the_end_then_its_file_removed(
    tmp_path: Path, port: Port
) -> None:
    seed = Seed(tmp_path, port)
    path = write_epoch(seed.head, E1, 9, [worker("10.77.0.2", D1, 3, 1.0)], closed=True)
    seed.round()
    assert port.devices(E1)[D1]["tasks"] == 3 and not path.exists()
    assert E1 not in (tmp_path / "witness" / "pending.json").read_text()
    stale = write_epoch(seed.head, E2, 2, [worker("10.77.0.3", D2, 1, 1.0)])
    os.utime(stale, (time.time() - 600, time.time() - 600))  # its scheduler died unannounced
    seed.round()
    assert port.devices(E2)[D2]["tasks"] == 1 and not stale.exists()


def test_sequence_numbers_keep_growing_when_the_kept_reports_are_lost(
    tmp_path: Path, port: Port
) -> None:
    seed = Seed(tmp_path, port)
    write_epoch(seed.head, E1, 30, [worker("10.77.0.2", D1, 1, 1.0)])
    seed.round()
    (tmp_path / "witness" / "pending.json").unlink()
    seed.restart()
    write_epoch(seed.head, E1, 31, [worker("10.77.0.2", D1, 2, 2.0)])
    seed.round()
    assert [r["seq"] for r in port.reports] == sorted({r["seq"] for r in port.reports})


def test_a_device_that_left_keeps_its_totals(tmp_path: Path, port: Port) -> None:
    seed = Seed(tmp_path, port)
    write_epoch(seed.head, E1, 1, [worker("10.77.0.2", D1, 2, 1.0)])
    seed.round()
    seed.peers = {"10.77.0.3": D2}  # D1 left the pool; its address is no longer listed
    write_epoch(seed.head, E1, 2, [worker("10.77.0.2", D1, 3, 1.5), worker("10.77.0.3", D2, 1, 1)])
    seed.round()
    assert port.devices(E1)[D1]["tasks"] == 3 and port.devices(E1)[D2]["tasks"] == 1


def test_a_pool_beyond_one_report_is_sent_in_several(tmp_path: Path, port: Port) -> None:
    seed = Seed(tmp_path, port, peers={f"10.77.{i // 250}.{i % 250 + 2}": f"{i:032x}"
                                       for i in range(5000)})  # fmt: skip
    assert seed.peers is not None
    write_epoch(seed.head, E1, 1, [worker(a, "w", 1, 1.0) for a in seed.peers])
    seed.round()
    assert [len(r["devices"]) for r in port.reports] == [4096, 904]
    assert port.reports[1]["seq"] == port.reports[0]["seq"] + 1


def test_files_that_are_not_plain_epoch_files_are_ignored(tmp_path: Path, port: Port) -> None:
    seed = Seed(tmp_path, port)
    target = write_epoch(tmp_path / "elsewhere", E1, 1, [worker("10.77.0.2", D1, 5, 5.0)])
    seed.head.mkdir(parents=True, exist_ok=True)
    (seed.head / f"{E1}.json").symlink_to(target)  # the head's user could plant a link
    (seed.head / f"{E2}.json").write_text("{not json")
    write_epoch(seed.head, "3" * 32, 1, [worker("10.77.0.2", D1, -1, 1.0),
                                         worker("10.77.0.3", D2, 1, float("nan"))])  # fmt: skip
    seed.round()
    assert port.reports == [] and seed.reporter.condition is None


def test_errors_never_stop_the_reporter(tmp_path: Path, port: Port) -> None:
    seed = Seed(tmp_path, port)
    port.fail_with = RuntimeError("a bug on the way")
    write_epoch(seed.head, E1, 1, [worker("10.77.0.2", D1, 1, 1.0)])
    seed.reporter.start()
    try:
        wait_for(lambda: port.reports, 20, "a report after the failure")
    finally:
        seed.reporter.stop()
        seed.reporter.join(10)
    assert port.devices(E1)[D1]["tasks"] == 1


def test_the_seed_reports_its_heads_witness_and_the_last_totals_when_it_stops(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    # Reports an hour apart: after the first, only the last one at stop goes out.
    cfg = NodeConfig(prefix="kt6", state_dir=tmp_path, witness_interval=3600)
    seed = Node(cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
                platform=world.platform, store=world.store, wall=world.clock)  # fmt: skip
    seed.start_pool(StartPoolRequest(URL, world.platform.pool["id"], "klu_x", "198.18.0.2:51820"))
    (head,) = world.runtime.containers.values()
    witness = Path(head.spec.data_volume or "")
    assert witness.is_dir() and witness.is_relative_to(tmp_path)
    assert ["--preload", "kalavai_witness"] == head.spec.command[-2:]
    red = world.platform.redeem(URL, "klu_x", token=world.platform.mint(), name="v",
                                public_key=generate_keypair().public)  # fmt: skip
    device, address = red["device"]["id"], red["device"]["address"]
    write_epoch(witness, E1, 5, [worker(address, device, 3, 1.5)])

    def reported(tasks: int) -> bool:
        got = [d for r in world.platform.witness_reports for d in r["devices"]]
        return any(d["device_id"] == device and d["tasks"] == tasks for d in got)

    wait_for(lambda: reported(3), 20, "the head's witness reported")
    stop = world.runtime.stop

    def stop_head(ident: str, timeout: int = 10) -> None:  # the plugin's last write on SIGTERM
        write_epoch(witness, E1, 6, [worker(address, device, 4, 2.0)], closed=True)
        stop(ident, timeout)

    world.runtime.stop = stop_head  # type: ignore[method-assign]
    seed.stop()
    assert reported(4), "the last totals go out before the hub leaves"
    assert not witness.exists() and not any((tmp_path / "witness").glob("*.pending.json"))


def test_judged_results_reach_the_platform_with_the_compute_of_invalid_ones(
    tmp_path: Path, port: Port
) -> None:
    seed = Seed(tmp_path, port)
    liar = {**worker("10.77.0.3", D2, 6, 1.0), "valid": 1, "invalid": 4, "errors": 1,
            "invalid_compute_seconds": 8.0}  # fmt: skip
    write_epoch(seed.head, E1, 2, [worker("10.77.0.2", D1, 4, 2.5), liar])
    seed.round()
    devices = port.devices(E1)
    assert devices[D2]["results"] == {"valid": 1, "invalid": 4, "errors": 1}
    assert devices[D2]["invalid_compute_seconds"] == 8.0 and devices[D2]["compute_seconds"] == 1.0
    assert "results" not in devices[D1], "a device with no judged results: the fields it had"
