"""The agent's /metrics endpoint over real HTTP on loopback, parsed with prometheus-client's
parser, and the CSV export's round trip. (tests/e2e/credit/test_pool_credit.py scrapes a real
agent.)"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kalavai_like.agent.metrics_server import MetricsServer, parse_listen
from kalavai_like.client.credit import read_daily_csv, write_daily_csv
from kalavai_like.client.records import NodeStatus
from kalavai_like.errors import InvalidInput

SNAPSHOT = {
    "state": "paused", "reason": "outside your schedule", "at": 1000.0,
    "worker": {
        "pool_id": "p", "pool_name": "demo", "platform": "http://x", "device_id": "d1",
        "address": "10.1.0.2", "overlay": "w", "netns": "n", "container": "c",
        "container_state": "paused", "handshake_age": 12.5, "joined_at": 0.0,
        "running_since": None, "paused_until": None, "pause_reason": "", "cpus": 1.0,
        "memory_bytes": 2**30, "gpus": 0, "acked_seq": 7, "live_cpu_cores": 0.0,
        "totals": {"cpu_seconds": 360.0, "ram_gb_seconds": 90.0, "gpu_seconds": 0.0},
        "pending": {"cpu_seconds": 4.0, "ram_gb_seconds": 1.0, "gpu_seconds": 0.0},
        "last_heartbeat_at": 997.0,
        "reasons": [{"code": "schedule", "text": "outside your schedule", "until": None}],
        "granted": {"credit": 0.1, "recent_average": 0.05, "cpu_core_hours": 0.1},
    },
}  # fmt: skip


class Snapshot:
    def status(self) -> NodeStatus:
        return NodeStatus.from_dict(SNAPSHOT)


def test_parse_listen_defaults_to_loopback() -> None:
    assert parse_listen("9464") == ("127.0.0.1", 9464)
    assert parse_listen("on") == ("127.0.0.1", 9464)
    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen(None) is None and parse_listen("off") is None
    for bad in ("x", "1.2.3.4:0", "host:99999"):
        with pytest.raises(InvalidInput):
            parse_listen(bad)


def test_metrics_over_http_parse_with_prometheus_client() -> None:
    server = MetricsServer(("127.0.0.1", 0), Snapshot()).start()
    try:
        base = f"http://127.0.0.1:{server.address[1]}"
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as nope:
            urllib.request.urlopen(base + "/other", timeout=5)
        assert nope.value.code == 404
    finally:
        server.close()
    samples = {
        (s.name, s.labels.get("state", s.labels.get("code", ""))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("kalavai_like_contributed_cpu_seconds_total", "")] == 360.0
    assert samples[("kalavai_like_contributed_ram_seconds_total", "")] == 90.0
    assert samples[("kalavai_like_contributed_gpu_seconds_total", "")] == 0.0
    assert samples[("kalavai_like_credit", "")] == 0.1
    assert samples[("kalavai_like_state", "paused")] == 1.0
    assert samples[("kalavai_like_handshake_age_seconds", "")] == 12.5
    assert samples[("kalavai_like_heartbeat_lag_seconds", "")] == 3.0
    assert samples[("kalavai_like_pause_reason", "schedule")] == 1.0


def test_csv_round_trips_floats_exactly(tmp_path: Path) -> None:
    daily = [
        {"day": "2026-11-22", "cpu_core_hours": 0.1 + 0.2, "ram_gb_hours": 1e-9,
         "gpu_hours": 0.0, "credit": 1 / 3},
        {"day": "2026-11-23", "cpu_core_hours": 12345.678901234567, "ram_gb_hours": 2.5,
         "gpu_hours": 3.0, "credit": 7.0},
    ]  # fmt: skip
    write_daily_csv(tmp_path / "c.csv", daily)
    assert read_daily_csv(tmp_path / "c.csv") == daily
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == (
        "day,cpu_core_hours,ram_gb_hours,gpu_hours,credit"
    )
