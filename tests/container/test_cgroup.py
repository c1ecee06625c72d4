"""Reading usage from cgroup files, on fake cgroup v1 (hybrid, as on these machines) and v2
trees; the real thing is covered by the podman tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalavai_like.container.cgroup import CgroupGone, CgroupReader

CID = "libpod-abc"


def fake_proc(tmp: Path, cgroup_lines: str, mountinfo: str) -> Path:
    proc = tmp / "proc"
    (proc / "42").mkdir(parents=True)
    (proc / "42" / "cgroup").write_text(cgroup_lines)
    (proc / "self").mkdir()
    (proc / "self" / "mountinfo").write_text(mountinfo)
    return proc


def v2_files(d: Path, cpu_stat: str, memory_current: str, memory_stat: str) -> None:
    """A cgroup v2 directory holding the three files the reader uses."""
    d.mkdir(parents=True)
    (d / "cpu.stat").write_text(cpu_stat)
    (d / "memory.current").write_text(memory_current)
    (d / "memory.stat").write_text(memory_stat)


def test_v1_hybrid_reads_cpuacct_and_memory_minus_inactive_file(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    cpu = root / "cpuacct" / "libpod_parent" / CID
    mem = root / "memory" / "libpod_parent" / CID
    cpu.mkdir(parents=True)
    mem.mkdir(parents=True)
    (cpu / "cpuacct.usage").write_text("2500000000\n")
    (mem / "memory.usage_in_bytes").write_text("10485760\n")
    (mem / "memory.stat").write_text("cache 1\ninactive_file 5\ntotal_inactive_file 4194304\n")
    mountinfo = (
        f"32 31 0:29 / {root}/cpu rw - cgroup cgroup rw,cpu\n"
        f"33 31 0:30 / {root}/cpuacct rw - cgroup cgroup rw,cpuacct\n"
        f"35 31 0:32 / {root}/memory rw - cgroup cgroup rw,memory\n"
        f"41 31 0:38 / {root}/unified rw - cgroup2 cgroup2 rw\n"
    )
    lines = "".join(
        f"{i}:{c}:/libpod_parent/{CID}\n" for i, c in enumerate(["cpu", "cpuacct", "memory"], 1)
    )
    proc = fake_proc(tmp_path, lines + f"0::/libpod_parent/{CID}\n", mountinfo)
    reader = CgroupReader(proc)
    files = reader.locate(42)
    assert files.version == 1
    usage = reader.read(files)
    assert usage.cpu_seconds == pytest.approx(2.5)
    assert usage.memory_bytes == 10485760 - 4194304
    (cpu / "cpuacct.usage").write_text("3500000000\n")
    assert reader.read(files).cpu_seconds == pytest.approx(3.5)


def test_v2_reads_usage_usec_and_memory_current(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    v2_files(
        root / "machine.slice" / f"{CID}.scope",
        "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
        "8388608\n",
        "anon 1\nfile 2\ninactive_file 1048576\nactive_file 3\n",
    )
    proc = fake_proc(
        tmp_path,
        f"0::/machine.slice/{CID}.scope\n",
        f"30 1 0:26 / {root} rw - cgroup2 cgroup2 rw,nsdelegate\n",
    )
    reader = CgroupReader(proc)
    usage = reader.read(reader.locate(42))
    assert usage.cpu_seconds == pytest.approx(1.5)
    assert usage.memory_bytes == 8388608 - 1048576


def test_a_mount_of_a_subtree_is_joined_correctly(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    v2_files(root / f"{CID}.scope", "usage_usec 1000000\n", "100\n", "inactive_file 0\n")
    proc = fake_proc(
        tmp_path,
        f"0::/machine.slice/{CID}.scope\n",
        f"30 1 0:26 /machine.slice {root} rw - cgroup2 cgroup2 rw\n",
    )
    reader = CgroupReader(proc)
    assert reader.read(reader.locate(42)).cpu_seconds == pytest.approx(1.0)


def test_gone_process_or_cgroup_raises_cgroup_gone(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "0::/nowhere\n", "")
    reader = CgroupReader(proc)
    with pytest.raises(CgroupGone):
        reader.locate(7)
    with pytest.raises(CgroupGone):
        reader.locate(42)
