"""WireGuard keys made by `wg` through the command runner: valid X25519 pairs, the private key
only ever on stdin/stdout, and a clear error when `wg` is missing."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kalavai_like.errors import InvalidInput, SystemProblem
from kalavai_like.net import generate_keypair, public_key
from kalavai_like.net.runner import Result


def test_generated_pair_is_a_real_x25519_pair():
    pair = generate_keypair()
    raw = base64.b64decode(pair.private)
    expected = (
        X25519PrivateKey.from_private_bytes(raw)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    assert base64.b64decode(pair.public) == expected
    assert generate_keypair().private != pair.private


class _Recorder:
    def __init__(self, results):
        self.results = list(results)
        self.calls = []

    def run(self, argv, *, stdin=None, netns=None, timeout=15.0):
        self.calls.append((list(argv), stdin))
        return self.results.pop(0)


def test_private_key_travels_only_on_stdin():
    priv = base64.b64encode(bytes(range(32))).decode()
    pub = base64.b64encode(bytes(32)).decode()
    runner = _Recorder([Result(0, priv + "\n", ""), Result(0, pub + "\n", "")])
    pair = generate_keypair(runner)
    assert pair.private == priv and pair.public == pub
    assert all(priv not in " ".join(argv) for argv, _ in runner.calls)
    assert runner.calls[1] == (["wg", "pubkey"], priv + "\n")


def test_failing_wg_says_what_to_install():
    runner = _Recorder([Result(1, "", "wg: not found")])
    with pytest.raises(SystemProblem) as info:
        generate_keypair(runner)
    assert "wireguard-tools" in info.value.message


def test_a_malformed_private_key_is_refused_before_wg_sees_it():
    runner = _Recorder([])
    with pytest.raises(InvalidInput):
        public_key("not-a-key", runner)
    assert runner.calls == []
