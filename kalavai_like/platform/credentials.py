"""Secrets the platform hands out and checks: API tokens, account keys, device credentials.

All three are a prefix plus 32 random bytes (base64url). Only their SHA-256 is stored: they
are high-entropy, so a fast hash is safe and cheap per request. Passwords are the exception:
they are low-entropy and are hashed with argon2id.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_TOKEN = "klu_"  # noqa: S105 (a prefix, not a secret)
ACCOUNT_KEY = "kla_"
DEVICE = "kld_"
_KINDS = (API_TOKEN, ACCOUNT_KEY, DEVICE)
_BODY_LEN = 43  # base64url of 32 bytes, unpadded

# argon2id with OWASP's minimum (19 MiB, t=2, p=1): ~20 ms on a small machine, so log-ins scale.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# A hash to verify against when the email is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not a real password")


def new(prefix: str) -> str:
    """A fresh credential with the given prefix."""
    body = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return prefix + body


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()


def kind_of(credential: str) -> str | None:
    """The credential's prefix if it is well-formed, else None."""
    prefix = credential[:4]
    if prefix not in _KINDS or len(credential) != 4 + _BODY_LEN:
        return None
    if not all(c.isalnum() or c in "-_" for c in credential[4:]):
        return None
    return prefix


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
