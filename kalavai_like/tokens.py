"""Join tokens: the `kl1_` format, minting, offline parsing and validation, and redaction.

A token is `kl1_` + base64url(JSON bundle) + `.` + checksum, where the checksum is the first
8 hex digits of SHA-256 over the prefix and bundle. The bundle holds the platform URL, the
pool's id and name, the token's key id, a 32-byte random secret, the expiry and the tier.
The platform stores only `secret_hash(secret)`. Everything here is pure: no I/O, no clock
unless one is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from kalavai_like.errors import TokenError

PREFIX = "kl1_"
VERSION = 1
WORKER = "worker"
_CHECKSUM_LEN = 8
_MAX_LEN = 4096
_MAX_URL = 2048
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # pool ids are 32 hex digits, key ids 16
_TIER = re.compile(r"[a-z]{1,16}")
_LAST_EXPIRY = 253402300799  # 9999-12-31 23:59:59 UTC, the last second a date can show


@dataclass(frozen=True)
class JoinToken:
    """A parsed join token. `secret` is the raw 32 bytes; never log or print it."""

    platform: str
    pool_id: str
    pool_name: str
    key_id: str
    secret: bytes
    expires_at: int
    tier: str = WORKER

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)

    def describe(self) -> dict[str, Any]:
        """What may be shown to a person: everything but the secret."""
        return {
            "platform": self.platform,
            "pool_id": self.pool_id,
            "pool_name": self.pool_name,
            "key_id": self.key_id,
            "tier": self.tier,
            "expires_at": self.expires.isoformat(),
        }


def normalize_platform_url(url: str) -> str:
    """Canonical form used to compare platforms: lower-case scheme and host, no trailing slash.

    Raises:
        ValueError: not an http(s) URL with a host, or with a user, query, fragment, space or
            control character (no platform URL has one), or a bad port.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if "@" in parts.netloc or parts.query or parts.fragment or not url.isprintable() or " " in url:
        raise ValueError(f"not a plain http(s) URL: {url!r}")
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{netloc}{path}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode("ascii")).hexdigest()[:_CHECKSUM_LEN]


def secret_hash(secret: bytes) -> str:
    """The hash the platform stores instead of the secret."""
    return hashlib.sha256(secret).hexdigest()


def secret_matches(secret: bytes, stored_hash: str) -> bool:
    """Constant-time check of a presented secret against a stored hash."""
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def new_key_id() -> str:
    """A short public identifier for a token (safe to show and log)."""
    return secrets.token_hex(8)


def mint(
    *,
    platform: str,
    pool_id: str,
    pool_name: str,
    expires_at: int,
    key_id: str | None = None,
    secret: bytes | None = None,
    tier: str = WORKER,
) -> tuple[str, JoinToken]:
    """Make a new token string and its parsed form (with a fresh random secret by default)."""
    token = JoinToken(
        platform=normalize_platform_url(platform),
        pool_id=pool_id,
        pool_name=pool_name,
        key_id=key_id or new_key_id(),
        secret=secret if secret is not None else secrets.token_bytes(32),
        expires_at=int(expires_at),
        tier=tier,
    )
    bundle = {
        "p": token.platform,
        "i": token.pool_id,
        "n": token.pool_name,
        "k": token.key_id,
        "s": _b64encode(token.secret),
        "e": token.expires_at,
        "t": token.tier,
    }
    body = PREFIX + _b64encode(json.dumps(bundle, separators=(",", ":")).encode("utf-8"))
    return f"{body}.{_checksum(body)}", token


def _damaged(message: str) -> TokenError:
    return TokenError(
        "damaged",
        "Damaged join token",
        f"{message}. Copy the whole token again from the pool owner or the platform's "
        "Community pools page.",
    )


def parse(text: str) -> JoinToken:
    """Parse a token string without checking expiry or platform.

    Raises:
        TokenError: reason `damaged` (typo, truncation, not a token) or `version`.
    """
    if not isinstance(text, str):
        raise _damaged("The token is not text")
    text = text.strip()
    if not text:
        raise _damaged("The token is empty")
    if len(text) > _MAX_LEN:
        raise _damaged(f"The token is {len(text)} characters long, far longer than any token")
    if not text.isascii() or not text.isprintable():
        raise _damaged("The token contains characters that no token has")
    if not text.startswith(PREFIX):
        head, sep, _ = text.partition("_")
        if sep and head.startswith("kl") and head[2:].isdigit():
            raise TokenError(
                "version",
                "Unsupported token version",
                f"This is a version {head[2:]} token; this kalavai-like understands version "
                f"{VERSION}. Update kalavai-like, or ask the pool owner for a {PREFIX} token.",
            )
        raise _damaged(f"A join token starts with '{PREFIX}'")
    body, sep, checksum = text.rpartition(".")
    if not sep:
        raise _damaged("The token is truncated: its checksum (after the last '.') is missing")
    if checksum != _checksum(body):
        raise _damaged(
            "The token's checksum does not match its contents, so it was mistyped or cut short"
        )
    try:
        bundle = json.loads(_b64decode(body[len(PREFIX) :]))
    except (ValueError, RecursionError):  # binascii and Unicode errors are ValueErrors
        raise _damaged("The token's checksum matches but its contents are unreadable") from None
    return _token_of(bundle)


def _token_of(bundle: Any) -> JoinToken:
    """The token a decoded bundle describes, every field checked: the checksum has no secret,
    so anyone can build a token, and nothing in it may be trusted before this.

    Raises:
        TokenError: reason `damaged`, naming the field that is wrong.
    """
    if not isinstance(bundle, dict):
        raise _damaged("The token's contents are not a set of fields")
    try:
        url = normalize_platform_url(_text(bundle.get("p"), _MAX_URL))
    except ValueError:
        raise _damaged("The token's platform is not a plain http(s) URL") from None
    pool_id, key_id = _text(bundle.get("i"), 64), _text(bundle.get("k"), 64)
    if not _ID.fullmatch(pool_id) or not _ID.fullmatch(key_id):
        raise _damaged("The token's pool or key id is missing or malformed")
    pool_name = _text(bundle.get("n"), 64)
    if not pool_name or not pool_name.isprintable():
        raise _damaged("The token's pool name is missing, too long or has control characters")
    tier = _text(bundle.get("t", WORKER), 16)
    if not _TIER.fullmatch(tier):
        raise _damaged("The token's tier is not a known kind of token")
    expires_at = bundle.get("e")
    if type(expires_at) is not int or not 0 < expires_at <= _LAST_EXPIRY:
        raise _damaged("The token's expiry is not a date")
    secret = _secret_of(bundle.get("s"))
    return JoinToken(url, pool_id, pool_name, key_id, secret, expires_at, tier)


def _text(value: Any, limit: int) -> str:
    """`value` if it is text of at most `limit` characters, else "" (which no check passes)."""
    return value if isinstance(value, str) and len(value) <= limit else ""


def _secret_of(value: Any) -> bytes:
    try:
        secret = _b64decode(_text(value, 64))
    except ValueError:  # binascii.Error
        secret = b""
    if len(secret) != 32:
        raise _damaged("The token's secret is missing or the wrong length")
    return secret


def validate(text: str, *, now: float, platform: str | None = None) -> JoinToken:
    """Parse and check a token offline: shape, checksum, version, expiry and platform.

    `platform` is the URL the user is logged into; a token for another platform is refused so
    the user's credentials are never sent to a stranger's server.

    Raises:
        TokenError: reason damaged, version, expired or other_platform.
    """
    token = parse(text)
    if token.expires_at <= now:
        raise TokenError(
            "expired",
            "Join token expired",
            f"This token for pool '{token.pool_name}' expired at "
            f"{token.expires.strftime('%Y-%m-%d %H:%M UTC')}. Ask the pool owner for a new one.",
        )
    if platform is not None and normalize_platform_url(platform) != token.platform:
        raise TokenError(
            "other_platform",
            "Token is for another platform",
            f"This token is for {token.platform}, but you are logged into "
            f"{normalize_platform_url(platform)}. To use it, run: "
            f"kalavai-like login --platform {token.platform}",
        )
    return token


def redact(text: str) -> str:
    """A form of a token that is safe to print or log: the prefix and the last 4 characters."""
    text = text.strip()
    if len(text) <= 12:
        return "kl…" if text else ""
    return f"{text[:4]}…{text[-4:]}"
