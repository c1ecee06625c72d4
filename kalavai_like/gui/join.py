"""The join dialog: the platform's community pools (each with a Join button), a paste box that
checks a join token offline as you type and says what is wrong with it, the limits to confirm
(defaults from this machine's hardware and the preferences), and the join's steps as the agent
reports them.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kalavai_like import tokens
from kalavai_like.client.links import JoinLink
from kalavai_like.client.prefs import Hardware
from kalavai_like.client.records import JoinResult, Step
from kalavai_like.errors import KalavaiError, TokenError
from kalavai_like.gui.context import Context
from kalavai_like.gui.dialogs import ERROR_STYLE, OK_STYLE, ContextDialog, error_label

GIB = 2**30


def check_token(text: str, platform: str, now: float) -> tuple[tokens.JoinToken | None, str, str]:
    """Offline verdict on a pasted token: (parsed token or None, words for the user, reason)."""
    text = text.strip()
    if not text:
        return None, "Paste a join token (it starts with kl1_).", "empty"
    try:
        tok = tokens.validate(text, now=now, platform=platform)
    except TokenError as exc:
        return None, f"✗ {exc.title}. {exc.message}", exc.reason
    expires = dt.datetime.fromtimestamp(tok.expires_at).strftime("%H:%M, %d %b")
    return tok, f"Token for pool {tok.pool_name} at {tok.platform}, valid until {expires}.", ""


class JoinDialog(ContextDialog):
    """See the module docstring. `joined` carries the JoinResult."""

    joined = Signal(object)

    def __init__(
        self,
        ctx: Context,
        hardware: Hardware,
        parent: QWidget | None = None,
        link: JoinLink | None = None,
    ) -> None:
        super().__init__(ctx, "Join a pool", parent)
        self.hardware = hardware
        self.token_ok: tokens.JoinToken | None = None
        self.token_reason = "empty"  # noqa: S105 - a reason word, not a secret
        self.join_result: JoinResult | None = None
        self.setMinimumSize(680, 760)
        layout = QVBoxLayout(self)
        layout.addWidget(self._pools_box())
        layout.addWidget(self._token_box())
        layout.addWidget(self._limits_box())
        self.steps = QListWidget()
        self.steps.setObjectName("steps")
        self.steps.setMinimumHeight(110)
        self.error = error_label("error", selectable=True)
        progress = QGroupBox("Progress")
        pl = QVBoxLayout(progress)
        pl.addWidget(self.steps)
        pl.addWidget(self.error)
        layout.addWidget(progress)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.close_button = QPushButton("Cancel")
        self.close_button.clicked.connect(self.reject)
        self.join_button = QPushButton("Join")
        self.join_button.setDefault(True)
        self.join_button.setEnabled(False)
        self.join_button.clicked.connect(self.on_join_clicked)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.join_button)
        layout.addLayout(buttons)
        self.on_token_edited()
        self.chosen = False  # a pool's Join (or a link) chose: the pool list's note waits
        self.refresh_pools()
        if link is not None:  # "Open in app": a fresh token of that pool, as its Join button
            self.on_pool_join_clicked({"id": link.pool_id, "name": link.pool_name})

    # ---- parts ----------------------------------------------------------------------------

    def _pools_box(self) -> QGroupBox:
        box = QGroupBox("Community pools")
        self.pools = QTableWidget(0, 5)
        self.pools.setObjectName("pools")
        self.pools.setHorizontalHeaderLabels(["Pool", "Owner", "Template", "Members", ""])
        self.pools.verticalHeader().hide()
        self.pools.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.pools.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.pools.setMinimumHeight(150)
        header = self.pools.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.pools_note = QLabel("Loading the community pools…")
        self.pools_note.setWordWrap(True)
        lay = QVBoxLayout(box)
        lay.addWidget(self.pools)
        lay.addWidget(self.pools_note)
        return box

    def _token_box(self) -> QGroupBox:
        box = QGroupBox("Or paste a join token")
        self.token = QPlainTextEdit()
        self.token.setObjectName("token")
        self.token.setPlaceholderText("kl1_…")
        self.token.setFixedHeight(56)
        self.token.textChanged.connect(self.on_token_edited)
        self.verdict = QLabel()
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        self.verdict.setMinimumHeight(48)
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        lay = QVBoxLayout(box)
        lay.addWidget(self.token)
        lay.addWidget(self.verdict)
        return box

    def _limits_box(self) -> QGroupBox:
        hw = self.hardware
        limits = self.ctx.default_limits(hw)
        box = QGroupBox(
            f"What this computer lends (it has {hw.cores} cores, "
            f"{hw.memory_bytes / GIB:.1f} GiB memory, {hw.gpus} GPUs)"
        )
        self.cpus = QDoubleSpinBox()
        self.cpus.setRange(0.1, float(hw.cores))
        self.cpus.setSingleStep(0.5)
        self.cpus.setDecimals(1)
        self.cpus.setValue(limits.cpus)
        self.cpus.setSuffix(" cores")
        self.memory = QDoubleSpinBox()
        self.memory.setRange(0.125, max(0.125, hw.memory_bytes / GIB))
        self.memory.setSingleStep(0.5)
        self.memory.setDecimals(2)
        self.memory.setValue(limits.memory_bytes / GIB)
        self.memory.setSuffix(" GiB")
        self.gpus = QSpinBox()
        self.gpus.setRange(0, hw.gpus)
        self.gpus.setValue(min(limits.gpus, hw.gpus))
        self.gpus.setEnabled(hw.gpus > 0)
        self.device_name = QLineEdit()
        self.device_name.setPlaceholderText("this computer's name (default: its host name)")
        form = QFormLayout(box)
        form.addRow("CPUs", self.cpus)
        form.addRow("Memory", self.memory)
        form.addRow("GPUs", self.gpus)
        form.addRow("Name in the pool", self.device_name)
        return box

    # ---- pools ----------------------------------------------------------------------------

    def refresh_pools(self) -> None:
        self.ctx.bridge.call(self.ctx.fetch_pools, done=self.on_pools, failed=self.on_pools_failed)

    def on_pools(self, pools: list[dict[str, Any]]) -> None:
        self.pools.setRowCount(len(pools))
        for row, p in enumerate(pools):
            who = p.get("owner") or {}
            owner = who.get("display") or ""  # the owner's display name, never an email
            cells = [p.get("name", ""), owner, p.get("template", ""), str(p.get("members", 0))]
            for col, text in enumerate(cells):
                self.pools.setItem(row, col, QTableWidgetItem(str(text)))
            self.pools.setCellWidget(row, 4, self._join_cell(p, row))
        if self.chosen:  # the list came after a pool was chosen: keep what that said
            return
        self.pools_note.setText(
            "Click Join on a pool, check the limits below, then press Join."
            if pools
            else "No community pools on this platform yet: paste a token from a pool owner."
        )

    def _join_cell(self, p: dict[str, Any], row: int) -> QWidget:
        """Join, or "Not running yet" for a pool without a hub (a join could not work)."""
        name = p.get("name", row)
        if not p.get("running", p.get("hub") is not None):
            label = QLabel("Not running yet")
            label.setObjectName(f"not-running-{name}")
            label.setToolTip("Its owner has not started it: ask them to run `pool start`.")
            return label
        button = QPushButton("Join")
        button.setObjectName(f"join-{name}")
        button.clicked.connect(lambda _=False, p=p: self.on_pool_join_clicked(p))
        return button

    def on_pools_failed(self, exc: KalavaiError) -> None:
        self.pools_note.setText(f"Could not list the community pools: {exc.title}. {exc.message}")

    def on_pool_join_clicked(self, pool: dict[str, Any]) -> None:
        self.chosen = True
        self.pools_note.setText(f"Getting a join token for pool {pool.get('name')}…")
        self.ctx.bridge.call(
            self.ctx.fetch_token_for, str(pool["id"]),
            done=functools.partial(self.on_pool_token, pool),
            failed=functools.partial(self.on_pool_token_failed, pool),
        )  # fmt: skip

    def on_pool_token_failed(self, pool: dict[str, Any], exc: KalavaiError) -> None:
        self.pools_note.setText(f"{exc.title} for pool {pool.get('name')}. {exc.message}")

    def on_pool_token(self, pool: dict[str, Any], token: str) -> None:
        self.token.setPlainText(token)
        self.pools_note.setText(
            f"Ready to join pool {pool.get('name')}: check the limits, then press Join."
        )

    # ---- token and join -------------------------------------------------------------------

    def on_token_edited(self) -> None:
        tok, words, reason = check_token(self.token.toPlainText(), self.ctx.platform, time.time())
        self.token_ok, self.token_reason = tok, reason
        self.verdict.setText(words)
        empty = not self.token.toPlainText().strip()
        self.verdict.setStyleSheet(OK_STYLE if tok else ("" if empty else ERROR_STYLE))
        self.join_button.setEnabled(tok is not None and self.join_result is None)

    def on_join_clicked(self) -> None:
        if self.join_result is not None:
            self.accept()
            return
        tok, words, _ = check_token(self.token.toPlainText(), self.ctx.platform, time.time())
        if tok is None:  # expired while the dialog was open
            self.verdict.setText(words)
            return
        self._set_inputs(False)
        self.error.hide()
        self.steps.clear()
        self.steps.addItem(f"Joining pool {tok.pool_name}…")
        self.ctx.bridge.call(
            self.ctx.do_join, self.token.toPlainText().strip(), self.cpus.value(),
            int(self.memory.value() * GIB), self.gpus.value(), self.device_name.text().strip(),
            done=self.on_joined, failed=self.on_join_failed, progress=self.on_step,
        )  # fmt: skip

    def on_step(self, step: Step) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(step.at))
        self.steps.addItem(f"{stamp}  {step.text}")
        self.steps.scrollToBottom()

    def on_joined(self, result: JoinResult) -> None:
        self.join_result = result
        self.steps.addItem(f"Joined pool {result.pool_name} as {result.address}.")
        self.steps.scrollToBottom()
        self.join_button.setText("Done")
        self.join_button.setEnabled(True)
        self.close_button.setEnabled(False)
        self.joined.emit(result)

    def on_join_failed(self, exc: KalavaiError) -> None:
        self._set_inputs(True)
        self.error.setText(f"{exc.title}. {exc.message}".strip())
        self.error.show()

    def _set_inputs(self, enabled: bool) -> None:
        for w in (self.token, self.pools, self.cpus, self.memory, self.device_name):
            w.setEnabled(enabled)
        self.gpus.setEnabled(enabled and self.hardware.gpus > 0)
        self.join_button.setEnabled(enabled and self.token_ok is not None)
        self.close_button.setEnabled(enabled)

    @classmethod
    def ask(
        cls,
        ctx: Context,
        hardware: Hardware,
        parent: QWidget | None = None,
        link: JoinLink | None = None,
    ) -> JoinResult | None:
        """Show the dialog (for the pool of `link`); the JoinResult, or None if the user did
        not join."""
        dlg = cls(ctx, hardware, parent, link)
        dlg.exec()
        return dlg.join_result
