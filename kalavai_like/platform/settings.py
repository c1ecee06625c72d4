"""The platform server's own settings: where its data lives, its public URL, and the tunable
policy knobs. (How a client reaches a platform is kalavai_like.home.settings.PlatformConnection.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kalavai_like.tokens import normalize_platform_url

# The fields `platform serve --set NAME=VALUE` may change, by their type's name.
_CONVERT = {"int": int, "float": float, "str": str}
_FIXED = {"data_dir", "public_url", "database_url"}


@dataclass(frozen=True)
class PlatformSettings:
    """Everything the server's `create_app` needs. Times are in seconds.

    Raises:
        ValueError: a knob out of range (the message names it).
    """

    data_dir: Path
    public_url: str
    database_url: str = ""
    # A freed overlay address is not given to another device before this much time has passed;
    # a deleted pool's subnet waits as long before another pool gets it.
    address_holdback: float = 24 * 3600.0
    # Failed log-ins (kalavai_like.platform.throttle). A client address with this many within
    # `login_window` gets 429 on every account until the window ends.
    login_max_failures_per_ip: int = 30
    login_window: float = 900.0
    # Per account: after this many failures, an address that has failed on the account waits
    # `login_delay` s before its next try, doubling with each further failure up to
    # `login_max_delay`. Addresses that have not failed on it (the owner's) are not held up.
    login_free_failures_per_account: int = 5
    login_delay: float = 30.0
    login_max_delay: float = 900.0
    # Sign-ups: this many per client address within `signup_window` -> 429.
    signups_per_address: int = 20
    signup_window: float = 3600.0
    # A log-in (API token or web session) ends after this long unused; each use renews it.
    session_idle_lifetime: float = 30 * 86400.0
    # What one request may send, refused before it is held whole (kalavai_like.platform.limits):
    # a body over `max_body_bytes` gets 413, a request line and headers over `max_head_bytes`
    # 431, JSON nested over `max_json_depth` levels 400.
    max_body_bytes: int = 1024 * 1024
    max_head_bytes: int = 32 * 1024
    max_json_depth: int = 32
    # Measured usage may exceed declared hardware x the time it was measured over by this
    # fraction (clock jitter).
    clamp_tolerance: float = 0.05
    # Credit needs a witness (kalavai_like.platform.ledger): granted CPU is at most the compute
    # the pool's head witnessed x (1 + witness_allowance), for clock skew between the device's
    # sampler and the head (RAM: witnessed connected time x declared memory, the same way).
    witness_allowance: float = 0.05
    # Measured usage no witness backs within this many seconds of its heartbeat becomes
    # unverified: from one to two windows after it arrived (the ledger keeps one mark per
    # device, moved on once a window, rather than a time per heartbeat).
    witness_window: float = 24 * 3600.0
    default_weights: dict[str, float] = field(
        default_factory=lambda: {"cpu": 1.0, "ram": 0.1, "gpu": 10.0}
    )
    # A pool's credit weights may each be at most this many times the standard rate above
    # (kalavai_like.platform.bounds), so no pool's credit dwarfs everyone else's.
    max_weight_factor: float = 10.0
    # What one device of a pool may declare unless its owner set other maxima for the pool.
    max_device_cores: int = 256
    max_device_memory_bytes: int = 2**40
    max_device_gpus: int = 16
    # A new pool gets one free /pool_prefix of pool_space (4,096 pools of 4,094 hosts by
    # default); pools made before keep their subnets.
    pool_space: str = "10.0.0.0/8"
    pool_prefix: int = 20
    # Pools one account may own; a deleted pool counts until its subnet's hold-back ends.
    max_pools_per_user: int = 20
    # Live worker devices one user may have in one pool (its owner has no limit).
    max_devices_per_user: int = 20
    # Join tokens one user may mint per hour (the owner's tokens and public Join alike).
    token_mints_per_hour: int = 60
    # The relays devices use when UDP to the hub fails: comma-separated host:port, each pool
    # always sent to the same one (by pool id), so a pool's devices meet on one replica.
    # `platform serve --relay-port` sets it to its own relay unless given.
    relay_addresses: str = ""
    # The owner's notices (kalavai_like.platform.notices): a worker is offline after this long
    # without a heartbeat; webhooks are checked this often and wait this long for an answer;
    # 1 lets them reach loopback and private addresses (a platform on a LAN, tests).
    offline_after: float = 600.0
    notice_interval: float = 60.0
    webhook_timeout: float = 5.0
    webhooks_to_private: int = 0
    # Password-reset links by email (kalavai_like.platform.mail); no smtp_host: no email, the
    # web pages say to ask the operator. smtp_security: none, starttls or tls. The SMTP user
    # and password come from smtp_credentials_file (user on the first line, password on the
    # second), never from the command line.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = ""
    smtp_security: str = "none"
    smtp_credentials_file: str = ""
    password_reset_lifetime: float = 3600.0

    def __post_init__(self) -> None:
        try:
            space = ipaddress.IPv4Network(self.pool_space)
        except ValueError:
            raise ValueError(
                f"pool_space {self.pool_space!r} is not an IPv4 network like 10.0.0.0/8"
            ) from None
        if not space.prefixlen <= self.pool_prefix <= 30 or self.pool_prefix - space.prefixlen > 24:
            raise ValueError(
                f"pool_prefix must be from {space.prefixlen} (the pool space's own) to 30, and at "
                f"most {space.prefixlen + 24}; got {self.pool_prefix}"
            )
        for name in ("max_pools_per_user", "max_devices_per_user", "token_mints_per_hour"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more; got {getattr(self, name)}")
        if not 0 <= self.witness_allowance <= 0.5:
            raise ValueError(
                f"witness_allowance must be from 0 to 0.5; got {self.witness_allowance}"
            )
        if self.witness_window <= 0:
            raise ValueError(f"witness_window must be above 0 s; got {self.witness_window}")
        self._check_bounds()
        self._check_relays()
        self._check_smtp()

    def _check_smtp(self) -> None:
        if self.smtp_security not in ("none", "starttls", "tls"):
            raise ValueError(
                f"smtp_security must be none, starttls or tls; got {self.smtp_security}"
            )
        if self.smtp_host and "@" not in self.smtp_from:
            raise ValueError("smtp_from must be the address reset emails come from, with smtp_host")
        if not 1 <= self.smtp_port <= 65535:
            raise ValueError(f"smtp_port must be 1 to 65535; got {self.smtp_port}")
        if not 60 <= self.password_reset_lifetime <= 86400:
            raise ValueError("password_reset_lifetime must be 60 to 86400 s")

    def _check_bounds(self) -> None:
        from kalavai_like.platform.bounds import CEILINGS

        if not 1 <= self.max_weight_factor <= 1000:
            raise ValueError(f"max_weight_factor must be 1 to 1000; got {self.max_weight_factor}")
        for what, (low, high) in CEILINGS.items():
            value = getattr(self, f"max_device_{what}")
            if not low <= value <= high:
                raise ValueError(f"max_device_{what} must be {low} to {high}; got {value}")

    def _check_relays(self) -> None:
        for relay in self.relays:
            host, _, port = relay.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"relay_addresses: {relay!r} is not host:port")

    @property
    def relays(self) -> list[str]:
        """The relay addresses (`relay_addresses` split)."""
        return [a.strip() for a in self.relay_addresses.split(",") if a.strip()]

    def relay_for(self, pool_id: str) -> str | None:
        """The one relay of a pool (None: this platform has no relay)."""
        relays = self.relays
        return relays[int(pool_id, 16) % len(relays)] if relays else None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'platform.sqlite3'}"

    @property
    def platform_url(self) -> str:
        return normalize_platform_url(self.public_url)


def tunable() -> dict[str, str]:
    """The knobs `--set` may change, with their types' names."""
    return {
        f.name: str(f.type)
        for f in fields(PlatformSettings)
        if str(f.type) in _CONVERT and f.name not in _FIXED
    }


def overrides(items: Iterable[str]) -> dict[str, Any]:
    """`NAME=VALUE` items (dashes or underscores in NAME) as typed settings fields.

    Raises:
        ValueError: an unknown name, no '=', or a value of the wrong type (the message says).
    """
    knobs = tunable()
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in knobs:
            raise ValueError(f"{item!r}: use NAME=VALUE with NAME one of {', '.join(knobs)}")
        try:
            out[name] = _CONVERT[knobs[name]](value.strip())
        except ValueError:
            raise ValueError(f"{item!r}: {name} takes a number ({knobs[name]})") from None
    return out


def normalize_database_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and pick the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
