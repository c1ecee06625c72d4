"""The tray's handle on one kalavai-like instance: its home (paths, settings, keystore,
account), the agent's `NodeClient` and the bridge. The methods named `fetch_*` and `do_*`
block (network, keyring, agent) and are meant to run through `bridge.call`, never on the
GUI thread.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from kalavai_like.client import account as accounts
from kalavai_like.client import prefs as volunteer_prefs
from kalavai_like.client.account import logged_in
from kalavai_like.client.instance import Home
from kalavai_like.client.local import NodeClient, start_agent
from kalavai_like.client.prefs import Hardware, Limits, Prefs
from kalavai_like.client.records import JoinRequest, JoinResult
from kalavai_like.errors import AuthError, NotFound
from kalavai_like.gui.bridge import Bridge


@dataclass(frozen=True)
class Credit:
    """The platform's record of the user's contribution: totals measured, granted (witnessed),
    pending, unverified and counted on the leaderboard; per day and per pool."""

    measured: dict[str, float]
    granted: dict[str, float]
    daily: list[dict[str, Any]]
    pools: list[dict[str, Any]]
    pending: dict[str, float] = field(default_factory=dict)
    unverified: dict[str, float] = field(default_factory=dict)
    counted: dict[str, float] = field(default_factory=dict)


class Context:
    """See the module docstring."""

    def __init__(self, home: Home, node: NodeClient, bridge: Bridge) -> None:
        self.home = home
        self.node = node
        self.bridge = bridge
        self.draft: dict[str, str] = {}  # what the log-in dialog held when it closed

    # ---- cheap reads (local files only) ---------------------------------------------------

    @property
    def account_email(self) -> str | None:
        a = self.home.account
        return a.email if a else None

    @property
    def platform(self) -> str:
        return self.home.platform

    def remember_platform(self, platform: str) -> str:
        """Keep the platform typed into the log-in dialog for the next one (a local file)."""
        return accounts.remember_platform(self.home, platform)

    def prefs(self) -> Prefs:
        """The volunteer's preferences as the agent last saved them (defaults if unreadable)."""
        return volunteer_prefs.saved(self.home)

    def default_limits(self, hw: Hardware) -> Limits:
        """What to offer in the join dialog: the in-use profile on this hardware."""
        return self.prefs().in_use.limits(hw)

    # ---- blocking calls (run them through the bridge) -------------------------------------

    def do_login(self, platform: str, email: str, password: str) -> str:
        """Log in; the API token goes to the keystore. Returns the account's email."""
        account, _ = accounts.login(self.home, platform, email, password)
        return account.email

    def do_signup(self, platform: str, email: str, password: str) -> str:
        """Create an account and log into it. Returns the account's email."""
        return accounts.signup(self.home, platform, email, password).email

    def do_logout(self) -> accounts.LogoutResult:
        return accounts.logout(self.home)

    def fetch_pools(self) -> list[dict[str, Any]]:
        with logged_in(self.home) as client:
            return list(client.pools("community"))

    def fetch_token_for(self, pool_id: str) -> str:
        """A fresh single-use join token for a community pool (docs/API.md: join-token).

        Raises:
            AuthError: the platform does not hand out tokens for this pool.
        """
        with logged_in(self.home) as client:
            try:
                made = client.join_token(pool_id)
            except (AuthError, NotFound) as exc:
                if exc.title == "Not logged in":
                    raise
                raise AuthError(
                    "No join token",
                    "The platform did not give a join token for this pool "
                    f"({exc.title}). Ask the pool owner for one and paste it below.",
                ) from None
        return str(made["token"])

    def do_join(
        self, token: str, cpus: float, memory_bytes: int, gpus: int, name: str, progress: Any
    ) -> JoinResult:
        api_token = self.home.token()
        if not api_token:
            raise AuthError("Not logged in", "Log in first (Log in… in the tray menu).")
        req = JoinRequest(token, api_token, cpus, memory_bytes, gpus, name)
        return self.node.join(req, progress)

    def fetch_credit(self, days: int = 30) -> Credit:
        with logged_in(self.home) as client:
            me = client.request("GET", "/credit/me")
            daily = client.request("GET", "/credit/me/daily", params={"days": days})
            pools = client.request("GET", "/credit/me/pools")
        parts = {k: me.get(k) or {} for k in ("pending", "unverified", "counted")}
        return Credit(me.get("measured") or {}, me.get("granted") or {}, daily or [], pools or [],
                      **parts)  # fmt: skip

    def fetch_today(self) -> dict[str, Any] | None:
        """The platform's row for today (UTC day: granted, and its `unverified`), with the
        user's `pending` now (measured, not yet witnessed)."""
        with logged_in(self.home) as client:
            rows = client.request("GET", "/credit/me/daily", params={"days": 1}) or []
            pending = (client.request("GET", "/credit/me") or {}).get("pending") or {}
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        for row in rows:
            if row.get("day") == day:
                return {**row, "pending": pending}
        nothing = {"cpu_core_hours": 0.0, "ram_gb_hours": 0.0, "gpu_hours": 0.0, "credit": 0.0}
        return {**nothing, "pending": pending}

    def do_start_agent(self) -> int:
        return start_agent(self.home)

    def do_pause(self, for_seconds: float | None) -> Any:
        return self.node.pause(for_seconds)

    def now(self) -> float:
        return time.time()
