"""Join tokens: round trip, every failure reason, redaction, and a fuzz that only ever raises
TokenError."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalavai_like import tokens
from kalavai_like.errors import TokenError
from tests.support.crafted import crafted_token

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


def test_a_crafted_token_checks_out_like_a_minted_one():
    parsed = tokens.validate(crafted_token(PLATFORM, e=NOW + 60), now=NOW, platform=PLATFORM)
    assert parsed.pool_name == "science" and parsed.expires_at == NOW + 60


CRAFTED = {
    "expiry": [{"e": 10**30}, {"e": -1}, {"e": 0}, {"e": "soon"}, {"e": True}, {"e": 1e9},
               {"e": None}],
    "pool name": [{"n": "\x1b[2Jpwned"}, {"n": "a\nb"}, {"n": "x" * 65}, {"n": ""},
                  {"n": "\u202eevil"}, {"n": 7}],
    "platform": [{"p": "ftp://h"}, {"p": "http://u:pw@h"}, {"p": "http://h/\x1b"}, {"p": "http://"},
                 {"p": "http://h:99999"}, {"p": "http://h?q=1"}, {"p": ["http://h"]},
                 {"p": "http://" + "h" * 2100}],
    "pool or key id": [{"i": "../x"}, {"i": ""}, {"k": "k" * 65}, {"k": 5}, {"i": None}],
    "secret": [{"s": "short"}, {"s": 32}, {"s": "A" * 2000}],
    "tier": [{"t": "X" * 100}, {"t": 1}],
}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "fields"), [(f, c) for f, cases in CRAFTED.items() for c in cases]
)
def test_every_field_of_a_crafted_token_is_checked(field, fields):
    err = _reason(crafted_token(PLATFORM, **fields))
    assert err.reason == "damaged", err
    assert f"The token's {field}" in err.message and "Copy the whole token again" in err.message


def test_crafted_contents_that_are_no_set_of_fields_are_damaged():
    for bundle in ([1, 2], "x", 3, "[" * 2000):
        body = "kl1_" + tokens._b64encode(
            (bundle if isinstance(bundle, str) and bundle[0] == "[" else repr(bundle)).encode()
        )
        assert _reason(f"{body}.{tokens._checksum(body)}").reason == "damaged"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.sampled_from(list("pinkset")), _JSON))
def test_crafted_fields_raise_only_token_errors_and_parse_to_safe_text(fields):
    try:
        token = tokens.validate(crafted_token(PLATFORM, **fields), now=NOW, platform=PLATFORM)
    except TokenError:
        return
    shown = token.describe()
    assert all(str(v).isprintable() for v in shown.values()), shown
