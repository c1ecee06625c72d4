"""`read_token`: the one way commands take a join token (itself, '-' for stdin, '@PATH')."""

from __future__ import annotations

import io
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalavai_like import tokens
from kalavai_like.cli.token_cmd import read_token
from kalavai_like.errors import InvalidInput, TokenError

GOOD, _ = tokens.mint(platform="http://127.0.0.1:8700", pool_id="p", pool_name="n",
                      expires_at=4_000_000_000)  # fmt: skip


def test_argument_stdin_and_file_give_the_same_token(tmp_path, monkeypatch):
    assert read_token(f"  {GOOD}\n") == GOOD
    monkeypatch.setattr("sys.stdin", io.StringIO(f"\n\n{GOOD}\r\nignored\n"))
    assert read_token("-") == GOOD
    (tmp_path / "t").write_text(f"\n{GOOD}\n")
    assert read_token(f"@{tmp_path}/t") == GOOD


def test_empty_or_missing_sources_say_so(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    with pytest.raises(InvalidInput, match="stdin is empty"):
        read_token("-")
    with pytest.raises(InvalidInput, match="Cannot read the token file"):
        read_token(f"@{tmp_path}/missing")


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=300))
def test_whatever_is_pasted_fails_only_with_a_token_error(text):
    try:
        tokens.validate(read_token(text.lstrip("-@")), now=time.time(),
                        platform="http://127.0.0.1:8700")  # fmt: skip
    except TokenError as exc:
        assert exc.reason in {"damaged", "version", "expired", "other_platform"}
