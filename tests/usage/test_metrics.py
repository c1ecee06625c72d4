"""The /metrics text parses with prometheus-client's own parser and carries the figures."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from kalavai_like.usage.metrics import render


def snapshot() -> dict:
    return {
        "state": "paused",
        "reason": "paused by you",
        "at": 1000.0,
        "worker": {
            "pool_name": 'lab "west"\\1',
            "device_id": "dev-1",
            "totals": {"cpu_seconds": 3600.5, "ram_gb_seconds": 7200.0, "gpu_seconds": 0.0},
            "pending": {"cpu_seconds": 10.0, "ram_gb_seconds": 20.0, "gpu_seconds": 0.0},
            "granted": {"credit": 12.5, "recent_average": 3.25},
            "handshake_age": 42.0,
            "last_heartbeat_at": 985.0,
            "acked_seq": 77,
            "live_cpu_cores": 0.0,
            "cpus": 1.5,
            "memory_bytes": 4 * 2**30,
            "gpus": 0,
            "reasons": [{"code": "paused_until"}, {"code": "on_battery"}],
        },
        "conditions": [{"code": "gpu_no_driver", "title": "No NVIDIA GPU driver", "text": "..."}],
    }


def parse(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_parse_and_carry_the_figures() -> None:
    text = render(snapshot())
    samples = parse(text)
    who = (("device", "dev-1"), ("pool", 'lab "west"\\1'))
    assert samples[("kalavai_like_contributed_cpu_seconds_total", who)] == 3600.5
    assert samples[("kalavai_like_contributed_ram_seconds_total", who)] == 7200.0
    assert samples[("kalavai_like_contributed_gpu_seconds_total", who)] == 0.0
    assert samples[("kalavai_like_credit", who)] == 12.5
    assert samples[("kalavai_like_credit_recent_average", who)] == 3.25
    assert samples[("kalavai_like_handshake_age_seconds", who)] == 42.0
    assert samples[("kalavai_like_heartbeat_lag_seconds", who)] == 15.0
    assert samples[("kalavai_like_limit_memory_bytes", who)] == 4 * 2**30
    assert samples[("kalavai_like_state", (("state", "paused"),))] == 1.0
    assert samples[("kalavai_like_state", (("state", "running"),))] == 0.0
    assert samples[("kalavai_like_pause_reason", (("code", "on_battery"), *who))] == 1.0
    assert samples[("kalavai_like_condition", (("code", "gpu_no_driver"),))] == 1.0
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["kalavai_like_contributed_cpu_seconds"] == "counter"


def test_metrics_without_a_worker_or_with_gaps() -> None:
    samples = parse(render({"state": "idle"}))
    assert samples[("kalavai_like_state", (("state", "idle"),))] == 1.0
    assert not any(name.startswith("kalavai_like_contributed") for name, _ in samples)
    snap = snapshot()
    snap["worker"]["handshake_age"] = None  # no handshake yet: the series is left out
    snap["worker"].pop("granted")
    samples = parse(render(snap))
    assert not any(name == "kalavai_like_handshake_age_seconds" for name, _ in samples)
    assert not any(name == "kalavai_like_credit" for name, _ in samples)
