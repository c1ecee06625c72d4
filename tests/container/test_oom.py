"""The kernel-log OOM witness, on a recorded /dev/kmsg excerpt."""

from __future__ import annotations

from pathlib import Path

from kalavai_like.container.oom import KernelOomLog
from tests.support.recorded_runner import RECORDED

OOM_ID = "4479237a458ad7093ffda3f7c73068f64d6d816f6f1af8c0dd864bb122aced79"


def test_finds_an_oom_kill_in_the_container_cgroup() -> None:
    log = KernelOomLog(RECORDED / "kmsg_oom.txt")
    assert log.killed_in(OOM_ID)
    assert not log.killed_in("f90ee585d598c77faaa15116cc241f79aa99fc2b1009ecbb2508d8156f0be527")
    assert not log.killed_in("")


def test_an_unreadable_log_means_not_seen(tmp_path: Path) -> None:
    assert not KernelOomLog(tmp_path / "missing").killed_in(OOM_ID)
