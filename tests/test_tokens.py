"""Join tokens: round trip, every failure reason, redaction, and a fuzz that only ever raises
TokenError."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalavai_like import tokens
from kalavai_like.errors import TokenError

PLATFORM = "http://127.0.0.1:8080"
NOW = 1_800_000_000


def _mint(**kw):
    args = dict(platform=PLATFORM, pool_id="p1", pool_name="science", expires_at=NOW + 3600)
    args.update(kw)
    return tokens.mint(**args)


def test_round_trip_keeps_every_field():
    text, minted = _mint()
    parsed = tokens.validate(text, now=NOW, platform=PLATFORM + "/")
    assert parsed == minted
    assert text.startswith("kl1_")
    assert len(parsed.secret) == 32


def test_each_token_has_its_own_secret():
    a, _ = _mint()
    b, _ = _mint()
    assert a != b


def test_only_the_hash_of_the_secret_is_needed_to_check_it():
    _, minted = _mint()
    stored = tokens.secret_hash(minted.secret)
    assert minted.secret.hex() not in stored
    assert tokens.secret_matches(minted.secret, stored)
    assert not tokens.secret_matches(b"x" * 32, stored)


def _reason(text, **kw):
    with pytest.raises(TokenError) as info:
        tokens.validate(text, now=kw.pop("now", NOW), **kw)
    return info.value


def test_truncated_token_points_at_the_checksum():
    text, _ = _mint()
    err = _reason(text[:-12])
    assert err.reason == "damaged"
    assert "checksum" in err.message


def test_a_typo_is_caught_by_the_checksum():
    text, _ = _mint()
    i = len(text) // 2
    typo = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
    err = _reason(typo)
    assert err.reason == "damaged"
    assert "checksum" in err.message


def test_missing_checksum_says_truncated():
    text, _ = _mint()
    err = _reason(text.rpartition(".")[0])
    assert err.reason == "damaged" and "truncated" in err.message


def test_wrong_version_names_the_version():
    err = _reason("kl2_abcdef.12345678")
    assert err.reason == "version"
    assert "version 2" in err.message


def test_not_a_token_at_all():
    assert _reason("hello world").reason == "damaged"
    assert _reason("").reason == "damaged"


def test_expired_says_when():
    text, _ = _mint(expires_at=NOW - 60)
    err = _reason(text)
    assert err.reason == "expired"
    assert time.strftime("%Y-%m-%d", time.gmtime(NOW - 60)) in err.message


def test_other_platform_names_it_and_how_to_log_in():
    text, _ = _mint(platform="https://pools.example.org")
    err = _reason(text, platform=PLATFORM)
    assert err.reason == "other_platform"
    assert "https://pools.example.org" in err.message
    assert "kalavai-like login --platform https://pools.example.org" in err.message


def test_redaction_hides_the_secret_part():
    text, minted = _mint()
    shown = tokens.redact(text)
    assert len(shown) < 12
    assert text not in shown
    assert tokens._b64encode(minted.secret) not in shown


@settings(max_examples=5000, deadline=None)
@given(st.text(max_size=300))
def test_random_text_raises_only_token_errors(text):
    try:
        tokens.validate(text, now=NOW, platform=PLATFORM)
    except TokenError:
        pass


_VALID, _ = tokens.mint(platform=PLATFORM, pool_id="p1", pool_name="science", expires_at=NOW + 3600)


@settings(max_examples=5000, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_VALID)), st.sampled_from(["del", "ins", "sub"]), st.characters()
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_tokens_raise_only_token_errors(edits):
    text = _VALID
    for pos, op, ch in edits:
        pos = min(pos, len(text))
        if op == "del":
            text = text[:pos] + text[pos + 1 :]
        elif op == "ins":
            text = text[:pos] + ch + text[pos:]
        else:
            text = text[:pos] + ch + text[pos + 1 :]
    try:
        parsed = tokens.validate(text, now=NOW, platform=PLATFORM)
    except TokenError:
        return
    # A mutation that survives the checksum must decode to the same token.
    assert parsed.secret == tokens.parse(_VALID).secret
