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
    # Failed log-ins: this many per email (or per client IP) within `login_window` -> 429.
    login_max_failures_per_email: int = 5
    login_max_failures_per_ip: int = 30
    login_window: float = 900.0
    # What one request may send, refused before it is held whole (kalavai_like.platform.limits):
    # a body over `max_body_bytes` gets 413, a request line and headers over `max_head_bytes`
    # 431, JSON nested over `max_json_depth` levels 400.
    max_body_bytes: int = 1024 * 1024
    max_head_bytes: int = 32 * 1024
    max_json_depth: int = 32
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
