"""WireGuard key pairs, generated on the node (X25519, base64), never leaving it."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from kalavai_like.net import validate
from kalavai_like.net.config import KeyPair


def generate_keypair() -> KeyPair:
    """A fresh X25519 key pair in WireGuard's base64 form."""
    key = X25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KeyPair(base64.b64encode(private).decode(), base64.b64encode(public).decode())


def public_key(private: str) -> str:
    """The public key of a base64 private key.

    Raises:
        InvalidInput: `private` is not a WireGuard key.
    """
    raw = base64.b64decode(validate.key(private, "private_key"))
    pub = (
        X25519PrivateKey.from_private_bytes(raw)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return base64.b64encode(pub).decode()
