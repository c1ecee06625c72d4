"""Atomic state writes and the record of the active account."""

from __future__ import annotations

import os

import pytest

from kalavai_like.errors import SystemProblem
from kalavai_like.home import files as state
from kalavai_like.home import instance
from kalavai_like.home.instance import ActiveAccount


def test_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "s" / "x.json"
    state.write_json(path, {"a": 1})
    state.write_json(path, {"b": 2})
    assert state.read_json(path) == {"b": 2}
    assert os.listdir(path.parent) == ["x.json"]
    assert (path.stat().st_mode & 0o777) == 0o644


def test_secret_files_are_private_from_the_start(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.stat(src).st_mode & 0o777)  # mode before it takes the real name
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    path = tmp_path / "secret" / "t.json"
    state.write_json(path, {"k": "v"}, secret=True)
    assert seen == [0o600]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700


def test_appended_files_are_private_from_the_start(tmp_path):
    umask = os.umask(0o022)
    try:
        with state.open_private_append(tmp_path / "agent.out", binary=True) as f:
            f.write(b"started\n")
        (tmp_path / "wide.log").write_text("old\n")
        with state.open_private_append(tmp_path / "wide.log") as f:
            f.write("new\n")
    finally:
        os.umask(umask)
    assert (tmp_path / "agent.out").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "wide.log").stat().st_mode & 0o777 == 0o600  # narrowed, content kept
    assert (tmp_path / "wide.log").read_text() == "old\nnew\n"


def test_the_active_accounts_email_is_readable_by_its_user_only(tmp_path):
    """`login` writes the record before anything else made the state directory."""
    path = tmp_path / "state" / "client.json"
    umask = os.umask(0o022)
    try:
        instance.save_last_platform(path, "http://127.0.0.1:8700")
        instance.save_account(path, ActiveAccount("http://127.0.0.1:8700", "a@b.org", "u1"))
    finally:
        os.umask(umask)
    assert "a@b.org" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_failed_write_keeps_the_old_content(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    state.write_json(path, {"old": True})

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(SystemProblem, match="No space left"):
        state.write_json(path, {"new": True})
    monkeypatch.undo()
    assert state.read_json(path) == {"old": True}
    assert os.listdir(tmp_path) == ["x.json"]


def test_damaged_json_is_a_system_problem(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{nope")
    with pytest.raises(SystemProblem, match="Move it away"):
        state.read_json(path)
    assert state.read_json(tmp_path / "missing.json", default=7) == 7


def test_active_account_round_trip_keeps_other_keys(tmp_path):
    path = tmp_path / "client.json"
    assert instance.load_account(path) is None
    state.write_json(path, {"other": 1})
    who = ActiveAccount("http://127.0.0.1:8700", "a@b.org", "u1")
    instance.save_account(path, who)
    assert instance.load_account(path) == who
    assert who.key == "http://127.0.0.1:8700 a@b.org"
    instance.save_account(path, None)
    assert instance.load_account(path) is None
    assert instance.load_last_platform(path) == "http://127.0.0.1:8700"
    assert state.read_json(path)["other"] == 1
