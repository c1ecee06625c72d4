"""The platform server's own settings: where its data lives, its public URL, and the tunable
policy knobs. (How a client reaches a platform is kalavai_like.home.settings.PlatformConnection.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kalavai_like.tokens import normalize_platform_url


@dataclass(frozen=True)
class PlatformSettings:
    """Everything the server's `create_app` needs. Times are in seconds."""

    data_dir: Path
    public_url: str
    database_url: str = ""
    # A freed overlay address is not given to another device before this much time has passed.
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
    # Measured usage may exceed declared hardware x elapsed time by this fraction (clock jitter).
    clamp_tolerance: float = 0.05
    default_weights: dict[str, float] = field(
        default_factory=lambda: {"cpu": 1.0, "ram": 0.1, "gpu": 10.0}
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'platform.sqlite3'}"

    @property
    def platform_url(self) -> str:
        return normalize_platform_url(self.public_url)


def normalize_database_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and pick the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
