"""The Preferences window: the volunteer's limits and rules (the keys of
kalavai_like.volunteer.prefs, in
the same notation as `kalavai-like prefs set`), each checked as it is typed against this
machine's hardware, saved to the [prefs] table of settings.toml and handed to the agent when
it takes them; plus "Start at login" (an XDG autostart entry).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from kalavai_like.errors import KalavaiError
from kalavai_like.gui import autostart
from kalavai_like.gui.assets import icon_path
from kalavai_like.gui.context import Context
from kalavai_like.gui.login import ERROR_STYLE
from kalavai_like.home import settings as settings_mod
from kalavai_like.volunteer.prefs import KEYS, Hardware, Prefs

LABELS = {
    "in_use.cpu": "CPU", "in_use.memory": "Memory cap", "in_use.gpu": "Use the GPUs",
    "idle.cpu": "CPU", "idle.memory": "Memory cap", "idle.gpu": "Use the GPUs",
    "idle_only": "Only when idle", "idle_after": "Idle after", "schedule": "Allowed hours",
    "battery_pause": "Pause on battery", "battery_resume": "…unless charged above",
    "load_pause": "Pause when other programs use", "load_pause_after": "…for longer than",
    "load_resume_after": "Resume after a quiet",
}  # fmt: skip
SECTIONS = (
    ("While you use the computer", ("in_use.cpu", "in_use.memory", "in_use.gpu")),
    ("While the computer is idle", ("idle.cpu", "idle.memory", "idle.gpu")),
    ("When to compute", ("idle_only", "idle_after", "schedule", "battery_pause",
                         "battery_resume", "load_pause", "load_pause_after",
                         "load_resume_after")),
)  # fmt: skip


class PreferencesDialog(QDialog):
    """See the module docstring. `saved` carries the new Prefs."""

    saved = Signal(object)

    def __init__(self, ctx: Context, hardware: Hardware, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.hardware = hardware
        self.setWindowTitle("Preferences — kalavai-like")
        self.setMinimumWidth(560)
        current = ctx.prefs().to_flat()
        self.fields: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        for title, keys in SECTIONS:
            box = QGroupBox(title)
            form = QFormLayout(box)
            for key in keys:
                edit = QLineEdit(current[key])
                edit.setObjectName(key)
                edit.setToolTip(KEYS[key])
                edit.setPlaceholderText(KEYS[key])
                edit.textChanged.connect(lambda _t, k=key: self.on_edited(k))
                err = QLabel()
                err.setStyleSheet(ERROR_STYLE)
                err.setWordWrap(True)
                err.hide()
                form.addRow(LABELS[key], edit)
                form.addRow("", err)
                self.fields[key], self.errors[key] = edit, err
            layout.addWidget(box)
        self.autostart = QCheckBox("Start kalavai-like when I log in")
        self.autostart.setChecked(autostart.enabled())
        layout.addWidget(self.autostart)
        self.note = QLabel(
            f"This computer: {hardware.cores} cores, {hardware.memory_bytes / 2**30:.1f} GiB, "
            f"{hardware.gpus} GPUs."
        )
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.on_save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def build(self) -> tuple[Prefs | None, dict[str, str]]:
        """The preferences the fields describe, and each bad field's reason."""
        prefs, bad = Prefs(), {}
        for key, edit in self.fields.items():
            try:
                prefs = prefs.set(key, edit.text(), self.hardware)
            except KalavaiError as exc:
                bad[key] = exc.message or exc.title
        return (None if bad else prefs), bad

    def on_edited(self, key: str) -> None:
        try:
            Prefs().set(key, self.fields[key].text(), self.hardware)
        except KalavaiError as exc:
            self.errors[key].setText(exc.message or exc.title)
            self.errors[key].show()
        else:
            self.errors[key].hide()
        _, bad = self.build()
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not bad)

    def on_save(self) -> None:
        prefs, bad = self.build()
        if prefs is None:
            for key, why in bad.items():
                self.errors[key].setText(why)
                self.errors[key].show()
            return
        home = self.ctx.home
        try:
            current = settings_mod.load(home.paths.settings_file)
            table = {**current.prefs, **prefs.to_toml()}
            table.pop("paused_until", None)  # pauses are the tray menu's: keep a timed one
            if "paused_until" in current.prefs:
                table["paused_until"] = current.prefs["paused_until"]
            new = current.replace(prefs=table)
            settings_mod.save(home.paths.settings_file, new)
            home.settings = new
            autostart.set_enabled(
                self.autostart.isChecked(), home.paths.home, str(icon_path("app"))
            )
        except KalavaiError as exc:
            self.note.setText(f"{exc.title}. {exc.message}")
            self.note.setStyleSheet(ERROR_STYLE)
            return
        apply = getattr(self.ctx.node, "set_prefs", None)
        if callable(apply):  # an agent that takes preferences live
            self.ctx.bridge.call(apply, table)
        self.saved.emit(prefs)
        self.accept()

    @classmethod
    def ask(cls, ctx: Context, hardware: Hardware, parent: QWidget | None = None) -> Prefs | None:
        """Show the dialog; the saved Prefs, or None if cancelled."""
        dlg = cls(ctx, hardware, parent)
        got: list[Prefs] = []
        dlg.saved.connect(got.append)
        dlg.exec()
        return got[0] if got else None
