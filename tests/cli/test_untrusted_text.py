"""Text a stranger controls never reaches the terminal raw: crafted join tokens are refused
with a clear reason (never "This is a bug"), and control characters in what a platform says
are shown as visible escapes by the one console every command prints through."""

from __future__ import annotations

import sys

import pytest

from kalavai_like.cli import console
from tests.support.cli import make_cli
from tests.support.crafted import crafted_token

RAW = ("\x1b", "\x07", "\u202e", "\r")


def _clean(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)


def test_a_crafted_huge_expiry_is_a_damaged_token_not_a_bug(tmp_path):
    cli = make_cli(tmp_path)
    r = cli("token", "check", "-", input=crafted_token(e=10**30))
    assert r.returncode == 2, r.stderr
    assert "Damaged join token" in r.stderr and "expiry is not a date" in r.stderr
    assert "Unexpected error" not in r.stderr and "Traceback" not in r.stderr


def test_a_crafted_pool_name_with_escapes_is_refused_and_never_printed(tmp_path):
    cli = make_cli(tmp_path)
    r = cli("token", "check", "-", input=crafted_token(n="\x1b[2Jgotcha"))
    assert r.returncode == 2 and "pool name" in r.stderr
    _clean(r.stdout + r.stderr)


def test_what_a_hostile_platform_says_is_shown_without_control_characters(tmp_path, tiny_server):
    server = tiny_server("escapes")
    cli = make_cli(tmp_path, settings=f'keystore = "file"\n[platform]\nurl = "{server.url}"\n')
    r = cli("pool", "list", env={"KALAVAI_LIKE_API_TOKEN": "klu_test"})
    assert r.returncode == 2
    assert "\\x1b[2JCleared" in r.stderr and "\\u202eevil" in r.stderr
    _clean(r.stdout + r.stderr)


@pytest.mark.parametrize("tty", [False, True])
def test_every_console_output_neutralises_control_characters(capsys, monkeypatch, tty):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    evil = "pool\x1b[2J\x07\u202e\r\x9b"
    console.data(evil)
    console.raw(evil)
    console.note(evil)
    console.success(evil)
    console.warn(evil)
    console.error(evil, evil)
    console.table(["Name"], [[evil]])
    console.pairs([("Pool", evil)])
    out, err = capsys.readouterr()
    _clean(out + err)
    assert "\x9b" not in out + err
    assert out.count("pool\\x1b[2J\\x07\\u202e\\x0d\\x9b") == 4
    assert err.count("pool\\x1b[2J") == 5


@pytest.mark.parametrize("cpus", ["nan", "inf"])
def test_join_with_cores_that_are_no_number_is_refused_before_the_agent(tmp_path, cpus):
    from kalavai_like import tokens

    cli = make_cli(
        tmp_path, settings='keystore = "file"\n[platform]\nurl = "http://127.0.0.1:8700"\n'
    )
    token, _ = tokens.mint(platform="http://127.0.0.1:8700", pool_id="p1", pool_name="science",
                           expires_at=4_000_000_000)  # fmt: skip
    r = cli("pool", "join", "-", f"--cpus={cpus}", "--account-key", "kla_x", input=token)
    assert r.returncode == 2, r.stderr  # not "agent not running": the CLI refused it first
    assert "Bad CPU limit" in r.stderr and "give a number above 0, at most 1024" in r.stderr
    assert "Traceback" not in r.stderr
