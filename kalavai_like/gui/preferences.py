"""The Preferences window: the volunteer's limits and rules (the keys `kalavai-like prefs set`
takes) as switches, spin boxes with units and the schedule's time-range editor
(kalavai_like.gui.pref_fields), each checked as it changes against this machine's hardware and
handed to the agent, which saves and applies them (a timed pause set elsewhere stays); plus
"Start at login" (an XDG autostart entry).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from kalavai_like.client.prefs import KEYS, Hardware, Prefs, check
from kalavai_like.errors import KalavaiError
from kalavai_like.gui import autostart
from kalavai_like.gui.assets import icon_path
from kalavai_like.gui.context import Context
from kalavai_like.gui.dialogs import ERROR_STYLE, ContextDialog, answer, error_label
from kalavai_like.gui.pref_fields import (
    AmountField,
    DurationField,
    Field,
    OptionalPercentField,
    ScheduleField,
    SwitchField,
)

LABELS = {
    "in_use.cpu": "CPU", "in_use.memory": "Memory cap", "in_use.gpu": "GPUs",
    "idle.cpu": "CPU", "idle.memory": "Memory cap", "idle.gpu": "GPUs",
    "idle_only": "", "idle_after": "Idle after no input for", "schedule": "Allowed hours",
    "battery_pause": "Battery", "battery_resume": "", "load_pause": "Other programs",
    "load_pause_after": "…for longer than", "load_resume_after": "Resume after a quiet",
}  # fmt: skip
SECTIONS = (
    ("While you use the computer", ("in_use.cpu", "in_use.memory", "in_use.gpu")),
    ("While the computer is idle", ("idle.cpu", "idle.memory", "idle.gpu")),
    ("When to compute", ("idle_only", "idle_after", "schedule", "battery_pause",
                         "battery_resume", "load_pause", "load_pause_after",
                         "load_resume_after")),
)  # fmt: skip


def make_field(key: str, value: str, hw: Hardware) -> Field:
    """The widget for preference `key`, showing `value` (as `prefs show` writes it)."""
    kind = key.rpartition(".")[2]
    if kind in ("cpu", "memory"):
        return AmountField(kind, value, hw)
    if kind == "gpu":
        return SwitchField(f"Use the GPUs ({hw.gpus} on this machine)", value)
    if key == "schedule":
        schedule = Prefs().set("schedule", value).schedule
        return ScheduleField(schedule.windows, schedule.always)
    switches = {"idle_only": "Compute only when the computer is idle",
                "battery_pause": "Pause when the computer runs on battery"}  # fmt: skip
    if key in switches:
        return SwitchField(switches[key], value)
    if key == "idle_after":
        return DurationField(value, "m", 1, 240)
    if key in ("load_pause_after", "load_resume_after"):
        return DurationField(value, "s", 1, 3600)
    if key == "battery_resume":
        return OptionalPercentField("…unless the battery is charged above", value, "charge")
    return OptionalPercentField(  # load_pause
        "Pause when they use more than", value, "of this machine's CPU (all cores)"
    )


class PreferencesDialog(ContextDialog):
    """See the module docstring. `saved` carries the preferences as the agent now has them
    ({key: value as text})."""

    saved = Signal(object)

    def __init__(self, ctx: Context, hardware: Hardware, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "Preferences — kalavai-like", parent)
        self.hardware = hardware
        self.setMinimumWidth(560)
        current = ctx.prefs().to_flat()
        self.fields: dict[str, Field] = {}
        self.errors: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        for title, keys in SECTIONS:
            layout.addWidget(self._section(title, keys, current))
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

    def _section(self, title: str, keys: tuple[str, ...], current: dict[str, str]) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        for key in keys:
            edit = make_field(key, current[key], self.hardware)
            edit.setObjectName(key)
            edit.setToolTip(KEYS[key])
            edit.edited.connect(lambda k=key: self.on_edited(k))
            err = error_label()
            form.addRow(LABELS[key], edit)
            form.addRow("", err)
            self.fields[key], self.errors[key] = edit, err
        return box

    def values(self) -> tuple[dict[str, str], dict[str, str]]:
        """The fields' values, and each bad field's reason."""
        values = {key: edit.text() for key, edit in self.fields.items()}
        bad = {key: why for key in values if (why := self.problem(key))}
        return values, bad

    def problem(self, key: str) -> str:
        field = self.fields[key]
        return field.problem() or check(key, field.text(), self.hardware)

    def on_edited(self, key: str) -> None:
        if key not in self.fields:  # a widget speaks while the dialog is still being built
            return
        why = self.problem(key)
        self.errors[key].setText(why)
        self.errors[key].setVisible(bool(why))
        _, bad = self.values()
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not bad)

    def on_save(self) -> None:
        values, bad = self.values()
        if bad:
            for key, why in bad.items():
                self.errors[key].setText(why)
                self.errors[key].show()
            return
        home = self.ctx.home
        try:
            autostart.set_enabled(
                self.autostart.isChecked(), home.paths.home, str(icon_path("app"))
            )
        except KalavaiError as exc:
            self.on_failed(exc)
            return
        save = QDialogButtonBox.StandardButton.Save
        self.buttons.button(save).setEnabled(False)
        self.ctx.bridge.call(
            self.ctx.node.update_prefs, values, done=self.on_saved, failed=self.on_failed
        )

    def on_saved(self, prefs: dict[str, str]) -> None:
        self.saved.emit(prefs)
        self.accept()

    def on_failed(self, exc: KalavaiError) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        self.note.setText(f"{exc.title}. {exc.message}")
        self.note.setStyleSheet(ERROR_STYLE)

    @classmethod
    def ask(
        cls, ctx: Context, hardware: Hardware, parent: QWidget | None = None
    ) -> dict[str, str] | None:
        """Show the dialog; the saved preferences, or None if cancelled."""
        dlg = cls(ctx, hardware, parent)
        saved: dict[str, str] | None = answer(dlg, dlg.saved)
        return saved
