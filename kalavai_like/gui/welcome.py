"""The first run: a window that guides a fresh start (no account yet) the way Tailscale's and
Folding@home's do: start the agent if it is not running, log in or sign up, pick a pool and
join. Each step says whether it is done ("Logged in as … on …"); its buttons run the tray's own
actions, and it follows the tray's snapshot. The steps are a pure function (`first_run_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from kalavai_like.client.text import printable
from kalavai_like.gui.dialogs import OK_STYLE
from kalavai_like.gui.menu import Snapshot

if TYPE_CHECKING:
    from kalavai_like.gui.tray import Tray


@dataclass(frozen=True)
class FirstRunStep:
    """One step: its title, whether it is done, what it says now, and its buttons
    (menu keys and labels), enabled or not."""

    key: str
    title: str
    done: bool
    text: str
    actions: tuple[tuple[str, str], ...]
    enabled: bool


def first_run_steps(snap: Snapshot, platform: str) -> list[FirstRunStep]:
    """The first run's steps for `snap`: agent, account, pool."""
    s = snap.status
    agent_up = s is not None
    agent_text = ("The agent runs: it does the pool's work in the background." if agent_up
                  else "Starting the agent…" if snap.busy else
                  "The agent is not running yet. It does the pool's work in the background; "
                  "it keeps running when this window and the tray close.")  # fmt: skip
    account = snap.account
    account_text = (
        f"Logged in as {account} on {platform}." if account
        else f"Log in to {platform}, or create an account there (an email and a password)."
    )  # fmt: skip
    member = s is not None and s.worker is not None
    if member and s is not None and s.worker is not None:
        pool_text = f"Contributing to pool {s.worker.pool_name}. You can close this window."
    elif not account:
        pool_text = "Once you are logged in: pick a community pool, or paste a join token."
    else:
        pool_text = "Pick a community pool (or paste a join token), check the limits, Join."
    idle = agent_up and s is not None and s.state == "idle"
    return [
        FirstRunStep("agent", "1. Start the agent", agent_up, agent_text,
                     (("start_agent", "Start the agent"),), not agent_up and not snap.busy),
        FirstRunStep("account", "2. Log in or sign up", bool(account), account_text,
                     (("login", "Log in…"), ("signup", "Sign up…")), not account),
        FirstRunStep("pool", "3. Pick a pool and join", member, pool_text,
                     (("join", "Join a pool…"),), bool(account) and idle),
    ]  # fmt: skip


class WelcomeWindow(QWidget):
    """See the module docstring."""

    def __init__(self, tray: Tray) -> None:
        super().__init__()
        self.tray = tray
        self.setObjectName("welcome")
        self.setWindowTitle("Welcome to kalavai-like")
        self.setWindowIcon(tray.icons["contributing"])
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Lend this computer's spare CPU, memory and GPU to volunteer computing pools. "
            "Three steps, then it runs by itself; the tray icon says what it does."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.texts: dict[str, QLabel] = {}
        self.boxes: dict[str, QGroupBox] = {}
        self.buttons: dict[str, QPushButton] = {}
        for step in first_run_steps(tray.snapshot, tray.ctx.platform):
            layout.addWidget(self._step_box(step))
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        tray.snapshot_changed.connect(self.on_snapshot_changed)
        self.on_snapshot_changed(tray.snapshot)

    def _step_box(self, step: FirstRunStep) -> QGroupBox:
        box = QGroupBox(step.title)
        lay = QVBoxLayout(box)
        text = QLabel()
        text.setObjectName(f"{step.key}_text")
        text.setWordWrap(True)
        lay.addWidget(text)
        row = QHBoxLayout()
        for key, label in step.actions:
            b = QPushButton(label)
            b.setObjectName(key)
            b.clicked.connect(lambda _=False, k=key: self.tray.on_action(k))
            row.addWidget(b)
            self.buttons[key] = b
        row.addStretch(1)
        lay.addLayout(row)
        self.texts[step.key], self.boxes[step.key] = text, box
        return box

    def on_snapshot_changed(self, snap: Snapshot) -> None:
        for step in first_run_steps(snap, self.tray.ctx.platform):
            label = self.texts[step.key]
            label.setText(printable(("✓ " if step.done else "") + step.text))
            label.setStyleSheet(OK_STYLE if step.done else "")
            for key, _ in step.actions:
                self.buttons[key].setEnabled(step.enabled)
                self.buttons[key].setVisible(not step.done)
