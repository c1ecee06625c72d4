"""The usage ledger: cumulative rows, restarts, kill -9, acks, daily totals, damage, full disk."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kalavai_like.usage.ledger import Counters, Ledger, Sample

UTC = dt.UTC


def sample(t: float, cpu: float = 1.0, ram: float = 0.5, gpu: float = 0.0, **kw) -> Sample:
    return Sample(wall=t, mono=t, boot_id="b", state="running", delta=Counters(cpu, ram, gpu), **kw)


def test_append_accumulates_and_numbers_rows(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "ledger.db", "m1")
    assert led.latest() is None
    assert led.heartbeat("running")["seq"] == 0
    r1 = led.append(sample(100, 2.0, 1.0, 0.25))
    r2 = led.append(sample(105, 3.0, 1.5, 0.25))
    assert (r1.seq, r2.seq) == (1, 2)
    assert r2.counters == Counters(5.0, 2.5, 0.5)
    assert led.latest() == r2
    assert led.heartbeat("running") == {
        "seq": 2,
        "state": "running",
        # with when they were sampled: the platform bounds claims by the time measured over
        "counters": {"cpu_seconds": 5.0, "ram_gb_seconds": 2.5, "gpu_seconds": 0.5,
                     "sampled_at": 105},
    }  # fmt: skip
    assert led.condition is None


def test_negative_delta_is_refused(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "ledger.db", "m1")
    with pytest.raises(ValueError, match="negative"):
        led.append(sample(1, cpu=-1.0))
    assert led.latest() is None


def test_reopen_continues_counters_sequence_and_acks(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    led = Ledger.open(path, "m1")
    for t in range(5):
        led.append(sample(t, source_id="c1", source_cpu_seconds=t * 1.0, memory_bytes=7))
    led.ack(3)
    led.close()

    again = Ledger.open(path, "m1")
    assert again.latest().seq == 5
    assert again.latest().counters.cpu_seconds == 5.0
    assert (again.latest().source_id, again.latest().memory_bytes) == ("c1", 7)
    assert again.acked_seq == 3
    assert [r.seq for r in again.pending()] == [4, 5]
    assert again.pending_counters() == Counters(2.0, 1.0, 0.0)
    assert again.append(sample(9)).seq == 6
    again.ack(2)  # an older ack never moves the mark back
    assert again.acked_seq == 3


def test_memberships_are_counted_separately(tmp_path: Path) -> None:
    a = Ledger.open(tmp_path / "ledger.db", "a")
    b = Ledger.open(tmp_path / "ledger.db", "b")
    a.append(sample(1, 1.0))
    a.append(sample(2, 1.0))
    b.append(sample(2, 5.0))
    assert (a.latest().seq, a.latest().counters.cpu_seconds) == (2, 2.0)
    assert (b.latest().seq, b.latest().counters.cpu_seconds) == (1, 5.0)


def test_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger.db"
    led = Ledger.open(path, "m1")
    led.append(sample(1))
    for p in path.parent.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_kill_9_between_sample_and_heartbeat_loses_and_doubles_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    child = textwrap.dedent(
        f"""
        import os, signal
        from kalavai_like.usage.ledger import Counters, Ledger, Sample
        led = Ledger.open({str(path)!r}, "m1")
        for t in range(1, 51):
            led.append(Sample(t, t, "b", "running", Counters(0.5, 0.25, 0.0), "c", t * 0.5, 1))
            if t == 30:
                led.ack(led.heartbeat()["seq"])  # the platform accepted seq 30
        os.kill(os.getpid(), signal.SIGKILL)  # dies after sampling, before heartbeating
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], cwd=Path(__file__).parents[2])
    assert proc.returncode == -signal.SIGKILL

    led = Ledger.open(path, "m1")
    body = led.heartbeat("running")
    assert body["seq"] == 50
    assert body["counters"]["cpu_seconds"] == pytest.approx(25.0)
    assert led.pending_counters().cpu_seconds == pytest.approx(10.0)
    assert led.latest().source_cpu_seconds == pytest.approx(25.0)  # the sampler resumes here
    # Sending the heartbeat twice (retry after a crash) carries the same seq: deduped upstream.
    assert led.heartbeat("running") == body


def test_daily_totals_split_by_local_day(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "ledger.db", "m1")
    day1 = dt.datetime(2024, 3, 1, 23, 59, tzinfo=UTC).timestamp()
    led.append(sample(day1 - 60, 1.0))
    led.append(sample(day1, 2.0))
    led.append(sample(day1 + 120, 3.0))  # 00:01 on day 2
    led.append(sample(day1 + 86400 * 2, 4.0))
    days = led.daily(4, now=day1 + 86400 * 2, tz=UTC)
    assert [d.day.isoformat() for d in days] == [
        "2024-02-29", "2024-03-01", "2024-03-02", "2024-03-03",
    ]  # fmt: skip
    assert [d.counters.cpu_seconds for d in days] == [0.0, 3.0, 3.0, 4.0]
    assert days[1].to_dict()["day"] == "2024-03-01"


def test_compact_keeps_daily_totals_and_latest(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "ledger.db", "m1")
    t0 = dt.datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    for i in range(200):
        led.append(sample(t0 + i * 60, 1.0))
    led.ack(150)
    now = t0 + 10 * 86400
    before = led.daily(12, now=now, tz=UTC)
    removed = led.compact(keep_days=2, now=now)
    assert removed > 100
    assert led.daily(12, now=now, tz=UTC) == before
    assert led.latest().seq == 200
    assert [r.seq for r in led.pending()] == list(range(151, 201))


def test_damaged_file_is_set_aside_and_counting_continues(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not a database" * 100)
    led = Ledger.open(path, "m1")
    assert led.condition is not None and led.condition.code == "ledger_at_risk"
    assert "damaged" in led.condition.text
    assert list(tmp_path.glob("ledger.db.damaged-*"))
    led.append(sample(1, 2.0))
    assert led.latest().counters.cpu_seconds == 2.0
    led.close()
    assert Ledger.open(path, "m1").latest().seq == 1  # the fresh file works


def test_damaged_file_salvages_latest_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    led = Ledger.open(path, "m1")
    for t in range(500):
        led.append(sample(t, 1.0))
    led.ack(4)
    led.close()
    # Overwrite the header of an early leaf page of the rows table: old rows become unreadable,
    # the newest row is still reachable.
    db = sqlite3.connect(path)
    (page,) = db.execute(
        "SELECT pageno FROM dbstat WHERE name='rows' AND pagetype='leaf' ORDER BY pageno LIMIT 1"
    ).fetchone()
    (size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xff" * 64)

    led = Ledger.open(path, "m1")
    assert led.condition is not None and led.condition.code == "ledger_at_risk"
    assert "sequence 500" in led.condition.text
    assert led.latest().seq == 500 and led.acked_seq == 4
    assert led.append(sample(501, 1.0)).counters.cpu_seconds == 501.0
    led.close()
    assert Ledger.open(path, "m1").latest().seq == 501


@pytest.fixture
def tiny_disk(tmp_path: Path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_full_disk_keeps_counting_in_memory_then_catches_up(tiny_disk: Path) -> None:
    path = tiny_disk / "ledger.db"
    led = Ledger.open(path, "m1")
    led.append(sample(1, 1.0))
    filler = tiny_disk / "filler"
    _fill(filler)
    for t in range(2, 400):  # enough rows to need new pages
        led.append(sample(t, 1.0))
    assert led.condition is not None and "full" in led.condition.text
    assert led.heartbeat()["seq"] == 399
    assert led.heartbeat()["counters"]["cpu_seconds"] == 399.0

    os.unlink(filler)
    led.append(sample(400, 1.0))
    assert led.condition is None
    led.close()
    again = Ledger.open(path, "m1")
    assert again.latest().seq == 400
    assert again.latest().counters.cpu_seconds == 400.0
    assert len(again.pending()) == 400


def test_a_locked_ledger_is_retried_not_mistaken_for_a_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    led = Ledger.open(path, "m1")
    led.append(sample(1, 2.0))
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        assert Ledger.open(path, "m1").condition is None  # readers are not blocked (WAL)
        led.append(sample(2, 2.0))
        assert led.condition is not None and led.condition.code == "ledger_at_risk"
        assert "locked" in led.condition.text
        assert led.heartbeat()["seq"] == 2
    finally:
        holder.rollback()
        holder.close()
    led.append(sample(3, 2.0))
    assert led.condition is None
    assert not list(tmp_path.glob("*.damaged-*"))
    again = Ledger.open(path, "m1")
    assert [r.seq for r in again.pending()] == [1, 2, 3]
    assert again.latest().counters.cpu_seconds == 6.0
