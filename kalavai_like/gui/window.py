"""The status window: the tray's state and menu as a window, for desktops without a tray host
(and when a second launch asks the running tray to show itself). Its buttons come from the
same `menu_model` as the tray menu, so both always offer the same actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from kalavai_like.client.boinc import boinc_rows
from kalavai_like.gui.menu import MenuItem, Snapshot, icon_state, menu_model, tooltip

if TYPE_CHECKING:
    from kalavai_like.gui.tray import Tray


class StatusWindow(QWidget):
    """See the module docstring."""

    def __init__(self, tray: Tray) -> None:
        super().__init__()
        self.tray = tray
        self.setWindowTitle("kalavai-like")
        self.setWindowIcon(tray.icons["contributing"])
        self.setMinimumWidth(460)
        top = QHBoxLayout()
        self.state_icon = QLabel()
        self.state_icon.setFixedSize(64, 64)
        self.headline = QLabel()
        self.headline.setObjectName("headline")
        self.headline.setWordWrap(True)
        self.headline.setStyleSheet("font-size: 14pt; font-weight: bold;")
        top.addWidget(self.state_icon)
        top.addWidget(self.headline, 1)
        self.details = QLabel()
        self.details.setObjectName("details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_grid = QGridLayout()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details)
        layout.addLayout(self.action_grid)
        layout.addStretch(1)
        self.buttons: dict[str, QPushButton] = {}
        tray.snapshot_changed.connect(self.on_snapshot_changed)
        self.on_snapshot_changed(tray.snapshot)

    def on_snapshot_changed(self, snap: Snapshot) -> None:
        self.state_icon.setPixmap(self.tray.icons[icon_state(snap)].pixmap(64, 64))
        lines = tooltip(snap).split("\n")
        self.headline.setText(lines[0].partition(": ")[2] or lines[0])
        w = snap.status.worker if snap.status else None
        more = [f"{k}: {v}" for k, v in boinc_rows(w.boinc if w else None, snap.now)]
        self.details.setText("\n".join(lines[1:] + more))
        items = [i for i in menu_model(snap) if i.key and i.key != "status"]
        if [(k, b.text()) for k, b in self.buttons.items()] != [(i.key, i.text) for i in items]:
            self._rebuild(items)
        for item in items:
            self.buttons[item.key].setEnabled(item.enabled)

    def _rebuild(self, items: list[MenuItem]) -> None:
        while self.action_grid.count():
            taken = self.action_grid.takeAt(0)
            w = taken.widget() if taken is not None else None
            if w is not None:
                w.hide()  # gone from the screen now, deleted when Qt gets to it
                w.deleteLater()
        self.buttons = {}
        for n, item in enumerate(items):
            b = QPushButton(item.text)
            b.setObjectName(item.key)
            if item.tip:
                b.setToolTip(item.tip)
            b.clicked.connect(lambda _=False, k=item.key: self.tray.on_action(k))
            self.action_grid.addWidget(b, n // 2, n % 2)
            self.buttons[item.key] = b
