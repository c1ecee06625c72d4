"""The tray's handle on one kalavai-like instance: its home (paths, settings, keystore,
account), the agent's `NodeClient` and the bridge. The methods named `fetch_*` and `do_*`
block (network, keyring, agent) and are meant to run through `bridge.call`, never on the
GUI thread.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kalavai_like.client import account as accounts
from kalavai_like.client.account import logged_in
from kalavai_like.client.local import NodeClient
from kalavai_like.client.records import JoinRequest, JoinResult
from kalavai_like.container.spec import Limits
from kalavai_like.errors import AuthError, KalavaiError, NotFound
from kalavai_like.gui.bridge import Bridge
from kalavai_like.home.instance import Home
from kalavai_like.volunteer.prefs import Hardware, Prefs


@dataclass(frozen=True)
class Credit:
    """The platform's record of the user's contribution."""

    measured: dict[str, float]
    granted: dict[str, float]
    daily: list[dict[str, Any]]
    pools: list[dict[str, Any]]


class Context:
    """See the module docstring."""

    def __init__(self, home: Home, node: NodeClient, bridge: Bridge) -> None:
        self.home = home
        self.node = node
        self.bridge = bridge

    # ---- cheap reads (local files only) ---------------------------------------------------

    @property
    def account_email(self) -> str | None:
        a = self.home.account
        return a.email if a else None

    @property
    def platform(self) -> str:
        return self.home.platform

    def prefs(self) -> Prefs:
        """The volunteer's preferences from settings.toml (defaults if unreadable)."""
        try:
            return Prefs.from_toml(self.home.settings.prefs)
        except KalavaiError:
            return Prefs()

    def default_limits(self, hw: Hardware) -> Limits:
        """What to offer in the join dialog: the in-use profile on this hardware."""
        return self.prefs().in_use.limits(hw)

    # ---- blocking calls (run them through the bridge) -------------------------------------

    def do_login(self, platform: str, email: str, password: str) -> str:
        """Log in; the API token goes to the keystore. Returns the account's email."""
        account, _ = accounts.login(self.home, platform, email, password)
        return account.email

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
                made = client.request("POST", f"/pools/{quote(pool_id, safe='')}/join-token")
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
        return Credit(me.get("measured") or {}, me.get("granted") or {}, daily or [], pools or [])

    def fetch_today(self) -> dict[str, Any] | None:
        """The platform's row for today (UTC day), None when nothing was granted yet."""
        with logged_in(self.home) as client:
            rows = client.request("GET", "/credit/me/daily", params={"days": 1}) or []
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        for row in rows:
            if row.get("day") == day:
                return dict(row)
        return {"cpu_core_hours": 0.0, "ram_gb_hours": 0.0, "gpu_hours": 0.0, "credit": 0.0}

    def do_start_agent(self) -> int:
        from kalavai_like.client.local import start_background

        home = self.home.paths.home
        return start_background(self.home.paths, str(home) if home else None)

    def do_pause(self, for_seconds: float | None) -> Any:
        return self.node.pause(for_seconds)

    def now(self) -> float:
        return time.time()
