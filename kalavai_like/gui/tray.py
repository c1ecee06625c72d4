"""The tray: the icon and tooltip of the current state, the menu rebuilt from `menu_model` on
every `aboutToShow`, the menu's actions (through the bridge, never blocking), notifications on
changes, and the status window that stands in when the desktop has no tray host.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QSystemTrayIcon, QWidget

from kalavai_like.client.account import keystore_notice
from kalavai_like.client.prefs import Hardware
from kalavai_like.client.records import ActionResult, NodeStatus
from kalavai_like.errors import AuthError, InvalidInput, KalavaiError, PlatformUnavailable
from kalavai_like.gui.assets import ICON_STATES, icon_path
from kalavai_like.gui.context import Context
from kalavai_like.gui.menu import (
    ANYWAY_VALUES,
    MenuItem,
    Notice,
    Snapshot,
    icon_state,
    menu_model,
    notice,
    pause_seconds,
    tooltip,
)
from kalavai_like.gui.series import UsageSeries

if TYPE_CHECKING:
    from kalavai_like.client.links import JoinLink
    from kalavai_like.gui.contributions import ContributionsWindow
    from kalavai_like.gui.welcome import WelcomeWindow
    from kalavai_like.gui.window import StatusWindow

log = logging.getLogger(__name__)
STALE_AFTER = 45.0  # the agent sends a snapshot at least every 15 s
TODAY_EVERY_MS = 60_000
STARTING_AGENT = "Starting the agent…"
LEVELS = {
    "info": QSystemTrayIcon.MessageIcon.Information,
    "warning": QSystemTrayIcon.MessageIcon.Warning,
    "error": QSystemTrayIcon.MessageIcon.Critical,
}


class LeaveDialog:
    """Asks before leaving the pool (tests replace `ask`)."""

    @classmethod
    def ask(cls, pool: str, parent: QWidget | None = None) -> bool:
        answer = QMessageBox.question(
            parent, "Leave pool",
            f"Leave pool {pool}? The worker is removed and this computer stops contributing. "
            "What you gave so far stays credited.",
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Yes


def fill_menu(menu: QMenu, items: list[MenuItem], on_action: Callable[[str], None]) -> None:
    """Replace `menu`'s entries with `items` (each action's data is its key)."""
    menu.clear()
    for n, item in enumerate(items):
        if item.separator:
            menu.addSeparator()
            continue
        action = QAction(item.text, menu)
        action.setData(item.key)
        action.setEnabled(item.enabled)
        if item.tip:
            action.setToolTip(item.tip)
        if n == 0:  # the headline: what is happening
            font = action.font()
            font.setBold(True)
            action.setFont(font)
        if item.key and item.key != "status":
            action.triggered.connect(lambda _=False, k=item.key: on_action(k))
        menu.addAction(action)
    menu.setToolTipsVisible(True)


class Tray(QObject):
    """See the module docstring."""

    snapshot_changed = Signal(object)  # Snapshot
    notified = Signal(object)  # Notice

    def __init__(
        self,
        ctx: Context,
        hardware: Callable[[], Hardware],
        *,
        show_window: bool | None = None,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.hardware = hardware
        self.series = UsageSeries()
        self.notices: list[Notice] = []
        self.last_status_at = time.monotonic()  # counts from start until the first snapshot
        self.stale_after = STALE_AFTER
        self.snapshot = Snapshot(None, time.time(), account=ctx.account_email)
        self.icons = {s: QIcon(str(icon_path(s))) for s in ICON_STATES}
        self.icon = QSystemTrayIcon(self.icons[icon_state(self.snapshot)])
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.on_menu_about_to_show)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self.on_activated)
        self.contributions: ContributionsWindow | None = None
        self.window: StatusWindow | None = None
        self.welcome: WelcomeWindow | None = None
        bridge = ctx.bridge
        bridge.status_changed.connect(self.on_status_changed)
        bridge.agent_lost.connect(self.on_agent_lost)
        self.today_timer = QTimer(self)
        self.today_timer.timeout.connect(self.refresh_today)
        self.stale_timer = QTimer(self)
        self.stale_timer.timeout.connect(self.on_stale_check)
        self._show_window = show_window
        self._apply()

    def start(self) -> None:
        """Show the icon (and the window when no tray host exists), follow the agent's status."""
        self.icon.show()
        no_host = not QSystemTrayIcon.isSystemTrayAvailable()
        if self._show_window or (self._show_window is None and no_host):
            self.show_window()
        if not self.snapshot.account:  # a fresh start: guide it
            self.show_welcome()
        self.ctx.bridge.start_watching()
        self.today_timer.start(TODAY_EVERY_MS)
        self.last_status_at = time.monotonic()
        self.stale_timer.start(int(min(5.0, self.stale_after / 3) * 1000))
        self.refresh_today()

    # ---- state ----------------------------------------------------------------------------

    def _update(self, **changes: object) -> None:
        prev = self.snapshot
        self.snapshot = dataclasses.replace(prev, now=time.time(), **changes)  # type: ignore[arg-type]
        n = notice(prev, self.snapshot)
        if n is not None:
            self.notify(n)
        self._apply()

    def _apply(self) -> None:
        snap = self.snapshot
        self.icon.setIcon(self.icons[icon_state(snap)])
        self.icon.setToolTip(tooltip(snap))
        if self.menu.isVisible():
            self.on_menu_about_to_show()
        self.snapshot_changed.emit(snap)

    def notify(self, n: Notice) -> None:
        self.notices.append(n)
        self.icon.showMessage(n.title, n.text, LEVELS.get(n.level, LEVELS["info"]), 8000)
        self.notified.emit(n)

    def on_status_changed(self, status: NodeStatus) -> None:
        self.last_status_at = time.monotonic()
        self.series.add(status)
        joined = (
            status.worker is not None
            and self.snapshot.status is not None
            and (self.snapshot.status.worker is None)
        )
        # An agent that answers has started, even if start_background has not returned yet.
        busy = "" if self.snapshot.busy == STARTING_AGENT else self.snapshot.busy
        self._update(status=status, agent_problem="", agent_detail="", busy=busy, agent_seen=True)
        if joined:
            self.refresh_today()
        if self.contributions is not None:
            self.contributions.on_status(status)

    def on_agent_lost(self, exc: KalavaiError) -> None:
        if self.snapshot.status is None and self.snapshot.agent_problem == exc.title:
            return
        self._update(status=None, agent_problem=exc.title, agent_detail=exc.message, busy="")

    def on_stale_check(self) -> None:
        """An agent that accepts connections but says nothing (stuck) is not left unsaid."""
        quiet = time.monotonic() - self.last_status_at
        snap = self.snapshot
        if quiet > self.stale_after and (snap.status is not None or not snap.agent_problem):
            self._update(
                status=None,
                agent_problem="The agent does not answer",
                agent_detail=f"No status for {quiet:.0f} s. It may be stuck; see its log.",
            )

    def refresh_today(self) -> None:
        if not self.snapshot.account:
            return
        self.ctx.bridge.call(self.ctx.fetch_today, done=self.on_today, failed=self.on_today_failed)

    def on_today(self, row: dict[str, Any] | None) -> None:
        self._update(today=row, platform_problem="")

    def on_today_failed(self, exc: KalavaiError) -> None:
        if isinstance(exc, PlatformUnavailable):
            self._update(platform_problem="Platform unreachable")
        elif isinstance(exc, AuthError):
            self._update(platform_problem=f"{exc.title}: log in again")

    # ---- menu -----------------------------------------------------------------------------

    def on_menu_about_to_show(self) -> None:
        fill_menu(self.menu, menu_model(self.snapshot), self.on_action)

    def on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_window()

    def on_action(self, key: str) -> None:
        handler = getattr(self, f"on_{key}", None)
        if key.startswith("pause"):
            self.on_pause(key)
        elif key in ANYWAY_VALUES:
            self.on_anyway(key)
        elif handler is not None:
            handler()

    def _failed(self, what: str) -> Callable[[KalavaiError], None]:
        def on_failed(exc: KalavaiError) -> None:
            self._update(busy="")
            self.notify(Notice(f"{what} failed: {exc.title}", exc.message, "error"))

        return on_failed

    def on_pause(self, key: str) -> None:
        seconds = pause_seconds(key, time.time())
        self.ctx.bridge.call(self.ctx.do_pause, seconds, failed=self._failed("Pause"))

    def on_resume(self) -> None:
        self.ctx.bridge.call(
            self.ctx.node.resume, done=self._resumed, failed=self._failed("Resume")
        )

    def on_anyway(self, key: str) -> None:
        """Compute even where the rules would pause: set them aside, then resume."""

        def anyway() -> ActionResult:
            self.ctx.node.set_pref("run_anyway", ANYWAY_VALUES[key])
            return self.ctx.node.resume()

        self.ctx.bridge.call(anyway, done=self._resumed, failed=self._failed("Compute anyway"))

    def _resumed(self, result: ActionResult) -> None:
        # A rule (schedule, battery, computer in use) may still hold the worker: say which.
        if result.state == "paused":
            text = result.message[:1].upper() + result.message[1:]
            self.notify(Notice("Still paused", text, "warning"))

    def on_leave(self) -> None:
        s = self.snapshot.status
        pool = s.worker.pool_name if s is not None and s.worker else "the pool"
        if not LeaveDialog.ask(pool, self.window):
            return
        self._update(busy=f"Leaving pool {pool}…")
        self.ctx.bridge.call(
            self.ctx.node.stop, done=lambda _r: self._update(busy=""),
            failed=self._failed("Leaving the pool"),
        )  # fmt: skip

    def on_join(self, link: JoinLink | None = None) -> None:
        from kalavai_like.gui.join import JoinDialog

        JoinDialog.ask(self.ctx, self.hardware(), self.window, link=link)

    def open_join_link(self, url: str) -> None:
        """A kalavai-like://join link (the web's "Open in app"): the Join dialog for its pool,
        which fetches a token of its own (the link carries none)."""
        from kalavai_like.client import links

        try:
            link = links.parse(url)
            if link.platform != self.ctx.platform.rstrip("/"):
                raise InvalidInput(
                    "Link for another platform",
                    f"This link is for {link.platform}; this app uses {self.ctx.platform}.",
                )
        except KalavaiError as exc:
            self.notify(Notice(exc.title, exc.message, "error"))
            return
        self.on_join(link)

    def on_login(self) -> None:
        from kalavai_like.gui.login import LoginDialog

        self._logged_in(LoginDialog.ask(self.ctx, self.window))

    def on_signup(self) -> None:
        from kalavai_like.gui.login import LoginDialog

        self._logged_in(LoginDialog.ask(self.ctx, self.window, signup=True))

    def _logged_in(self, email: str | None) -> None:
        """Say who is logged in where; on the first run, go on to picking a pool."""
        if not email:
            return
        self._update(account=email, platform_problem="")
        self.refresh_today()
        text = f"Logged in as {email} on {self.ctx.platform}."
        self.notify(
            Notice("Logged in", " ".join(filter(None, (text, keystore_notice(self.ctx.home)))))
        )
        s = self.snapshot.status
        if self.welcome is not None and self.welcome.isVisible() and s and s.state == "idle":
            self.on_join()

    def on_logout(self) -> None:
        def done(result: object) -> None:
            self._update(account=None, today=None, platform_problem="")
            err = getattr(result, "revoke_error", None)
            if err is not None:
                text = f"{err.title}: {err.message}"
                self.notify(Notice("Logged out here only", text, "warning"))

        self.ctx.bridge.call(self.ctx.do_logout, done=done, failed=self._failed("Log out"))

    def on_contributions(self) -> None:
        from kalavai_like.gui.contributions import ContributionsWindow

        if self.contributions is None:
            self.contributions = ContributionsWindow(self.ctx, self.series)
        else:
            self.contributions.refresh()
        win = self.contributions
        win.show()
        win.raise_()

    def on_preferences(self) -> None:
        from kalavai_like.gui.preferences import PreferencesDialog

        PreferencesDialog.ask(self.ctx, self.hardware(), self.window)

    def on_start_agent(self) -> None:
        self._update(busy=STARTING_AGENT)
        self.ctx.bridge.call(
            self.ctx.do_start_agent, done=lambda _pid: self._update(busy=""),
            failed=self._failed("Starting the agent"),
        )  # fmt: skip

    def on_quit(self) -> None:
        self.icon.showMessage(
            "kalavai-like tray closed",
            "The agent keeps running: this computer still contributes. "
            "Use Leave pool to stop contributing.",
            LEVELS["info"], 3000,
        )  # fmt: skip
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def show_welcome(self) -> None:
        from kalavai_like.gui.welcome import WelcomeWindow

        if self.welcome is None:
            self.welcome = WelcomeWindow(self)
        self.welcome.show()
        self.welcome.raise_()

    def show_window(self) -> None:
        from kalavai_like.gui.window import StatusWindow

        if self.window is None:
            self.window = StatusWindow(self)
        window = self.window
        window.show()
        window.raise_()
        window.activateWindow()
