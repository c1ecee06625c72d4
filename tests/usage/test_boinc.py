"""Reading a BOINC worker's state, on what the real client (boinc-client 7.20, against the
stand-in project) wrote and answered: its state file, and its GUI RPC replayed on a Unix
socket with the client's nonce authentication. Recorded in tests/usage/data/boinc/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kalavai_like.client.boinc import boinc_line, boinc_rows
from kalavai_like.usage.boinc import BoincState, MessageLog, boinc_conditions, read_state
from kalavai_like.usage.metrics import render
from tests.support.boinc_replay import ReplayClient

DATA = Path(__file__).parent / "data" / "boinc"
URL = "http://127.0.0.1:8123/kn/"


@pytest.fixture
def boinc_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "boinc"
    d.mkdir()
    (d / "gui_rpc_auth.cfg").write_text("pw")
    yield d


def _files(d: Path, case: str) -> None:
    for f in (DATA / case).iterdir():
        if not f.name.startswith("rpc_"):
            shutil.copy(f, d / f.name)


def _replayed(
    d: Path, case: str, password: str = "pw", log: MessageLog | None = None
) -> tuple[BoincState, ReplayClient]:
    """The state read from `case`'s files and its GUI RPC replies, and the replayed client."""
    _files(d, case)
    server = ReplayClient(d, DATA / case, password=password)
    try:
        return read_state(d, log=log), server
    finally:
        server.close()


def test_live_progress_comes_from_the_gui_rpc_with_its_password(boinc_dir: Path) -> None:
    st, server = _replayed(boinc_dir, "running")
    (task,) = st.tasks
    assert (task.name, task.state, task.project_url) == ("kn_wu_1_0", "running", URL)
    # live: the state file only had the first checkpoint (0.1)
    assert task.fraction_done >= 0.3 and task.elapsed_seconds > 0 and task.deadline > 1.7e9
    (p,) = st.projects
    assert p.name == "Kalavai Stand-in" and p.message.startswith("No tasks sent")
    assert not p.unreachable and boinc_conditions(st) == []
    assert "pw" not in "".join(server.requests)  # the password itself never goes over the wire
    assert boinc_line(st.to_dict()).startswith("BOINC: kn_wu_1_0 3")


def test_a_wrong_password_falls_back_to_the_state_file(boinc_dir: Path) -> None:
    st, _ = _replayed(boinc_dir, "running", password="other")
    (task,) = st.tasks
    assert task.state == "running" and 0 < task.fraction_done < 0.3  # as of a checkpoint


def test_host_credit_after_the_result_is_reported(boinc_dir: Path) -> None:
    _files(boinc_dir, "credited")
    st = read_state(boinc_dir)  # no socket: the client is not running
    assert st.tasks == [] and st.projects[0].host_total_credit == 42.5
    rows = dict(boinc_rows(st.to_dict(), now=st.projects[0].last_rpc + 120))  # type: ignore[operator]
    assert "host credit 42.5" in rows["BOINC project"]
    assert "last contact 2m ago: No tasks sent" in rows["BOINC project"]
    assert rows["BOINC task"] == "none"


def test_an_unreachable_project_says_so_with_its_last_try(boinc_dir: Path) -> None:
    st, _ = _replayed(boinc_dir, "down", log=MessageLog())
    (p,) = st.projects
    assert p.unreachable and p.last_try == 1796310545.0
    line = boinc_line(st.to_dict())
    assert line == "BOINC: project unreachable (last try 2026-12-03 15:09:05Z)"
    (c,) = boinc_conditions(st)
    assert c.code == "project_unreachable" and "last try 2026-12-03T15:09:05Z" in c.text


def test_metrics_carry_the_task_and_parse_with_prometheus(boinc_dir: Path) -> None:
    st, _ = _replayed(boinc_dir, "running")
    worker = {"pool_name": "science", "device_id": "d" * 32, "boinc": st.to_dict()}
    at = st.projects[0].last_rpc + 30  # type: ignore[operator]
    text = render({"state": "running", "at": at, "worker": worker})
    samples = {
        (s.name, s.labels.get("task") or s.labels.get("project")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("kalavai_like_boinc_task_fraction_done", "kn_wu_1_0")] >= 0.3
    assert samples[("kalavai_like_boinc_task_elapsed_seconds", "kn_wu_1_0")] > 0
    assert samples[("kalavai_like_boinc_task_deadline_timestamp_seconds", "kn_wu_1_0")] > 1.7e9
    assert samples[("kalavai_like_boinc_last_rpc_age_seconds", URL)] == pytest.approx(30)
    assert samples[("kalavai_like_boinc_host_credit", URL)] == 0.0
    assert samples[("kalavai_like_boinc_project_unreachable", URL)] == 0.0


def test_detected_coprocessors_show_in_the_status(boinc_dir: Path) -> None:
    _files(boinc_dir, "running")
    # The GPU host's reply is in the client's own format (lib/coproc.cpp write_xml): this
    # machine has no GPU, and its recorded reply lists none.
    gpu = boinc_dir.parent / "replies"
    shutil.copytree(DATA / "running", gpu)
    shutil.copy(DATA / "gpu/rpc_host.xml", gpu / "rpc_host.xml")
    for replies, want in ((DATA / "running", []),
                          (gpu, ["NVIDIA NVIDIA GeForce RTX 3060 x2",
                                 "Intel Intel(R) UHD Graphics 770"])):  # fmt: skip
        server = ReplayClient(boinc_dir, replies)
        try:
            st = read_state(boinc_dir)
        finally:
            server.close()
            (boinc_dir / "boinc_socket").unlink()
        assert st.coprocessors == want
    rows = dict(boinc_rows(st.to_dict(), now=0))
    assert rows["Coprocessors"].startswith("NVIDIA NVIDIA GeForce RTX 3060 x2")


def _in_order(d: Path, *names: str) -> None:
    """Give `names` increasing modification times, in that order (a copy loses them)."""
    for i, name in enumerate(names):
        os.utime(d / name, (1796322000 + i, 1796322000 + i))


def test_a_project_down_for_maintenance_and_a_failed_download_say_so(boinc_dir: Path) -> None:
    _files(boinc_dir, "maintenance")  # the real client's files: input 404, then "down"
    _in_order(boinc_dir, "sched_request_127.0.0.1_8123_kn.xml", "sched_reply_127.0.0.1_8123_kn.xml")
    st = read_state(boinc_dir)
    (p,) = st.projects
    assert p.down and not p.unreachable  # it answered: down, not out of reach
    assert p.message == "project is down: Project is temporarily shut down for maintenance"
    assert [t.state for t in st.tasks] == ["download failed"]
    codes = {c.code: c.title for c in boinc_conditions(st)}
    assert codes == {"project_down": "BOINC project is down",
                     "task_files_failed": "BOINC download failed"}  # fmt: skip
    assert boinc_line(st.to_dict()) == "BOINC: kn_wu_1_0 0% (download failed)"
    samples = {s.name: s.value for f in text_string_to_metric_families(
        render({"worker": {"boinc": st.to_dict()}})) for s in f.samples}  # fmt: skip
    assert samples["kalavai_like_boinc_project_down"] == 1.0
    assert samples["kalavai_like_boinc_project_unreachable"] == 0.0


def test_a_down_answer_to_an_earlier_request_is_not_taken_for_the_last_one(boinc_dir: Path) -> None:
    _files(boinc_dir, "maintenance")
    # the last request got no answer yet (the reply on disk is older): not said to be down
    _in_order(boinc_dir, "sched_reply_127.0.0.1_8123_kn.xml", "sched_request_127.0.0.1_8123_kn.xml")
    (p,) = read_state(boinc_dir).projects
    assert not p.down and not p.message.startswith("project is down")
