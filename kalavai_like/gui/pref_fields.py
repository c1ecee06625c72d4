"""The Preferences window's widgets, one per preference key: switches, spin boxes with their
units and ranges (a percentage always says what it is of), and the time-range editor of the
schedule (days, from, to). Each gives its value in the notation `kalavai-like prefs set`
takes, so the checks of kalavai_like.client.prefs stay the one validation."""

from __future__ import annotations

from PySide6.QtCore import QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from kalavai_like.client.prefs import Hardware
from kalavai_like.units import GIB, MEMORY_UNIT, parse_duration, parse_size

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Field(QWidget):
    """A preference's widget: `text()` is its value as `prefs set` takes it."""

    edited = Signal()

    def _emit(self, *_: object) -> None:
        self.edited.emit()

    def text(self) -> str:
        raise NotImplementedError

    def problem(self) -> str:
        """What is wrong that the value's own check cannot see ("" when nothing)."""
        return ""


def _row(widget: QWidget) -> QHBoxLayout:
    lay = QHBoxLayout(widget)
    lay.setContentsMargins(0, 0, 0, 0)
    return lay


class SwitchField(Field):
    """on/off as a check box."""

    def __init__(self, label: str, value: str) -> None:
        super().__init__()
        self.box = QCheckBox(label)
        self.box.setChecked(value == "on")
        self.box.toggled.connect(self._emit)
        _row(self).addWidget(self.box)

    def text(self) -> str:
        return "on" if self.box.isChecked() else "off"


class AmountField(Field):
    """CPU or memory: a share of this machine (%) or an absolute amount (cores, GiB)."""

    def __init__(self, kind: str, value: str, hw: Hardware) -> None:
        super().__init__()
        self.kind = kind
        self.max_abs = float(hw.cores) if kind == "cpu" else hw.memory_bytes / GIB
        self.spin = QDoubleSpinBox()
        self.unit = QComboBox()
        machine = (f"{hw.cores} cores" if kind == "cpu"
                   else f"{hw.memory_bytes / GIB:.1f} {MEMORY_UNIT} of memory")  # fmt: skip
        self.unit.addItem(f"% of this machine's {machine}", "%")
        self.unit.addItem("cores" if kind == "cpu" else MEMORY_UNIT, "abs")
        lay = _row(self)
        lay.addWidget(self.spin)
        lay.addWidget(self.unit, 1)
        percent = value.endswith("%")
        self.unit.setCurrentIndex(0 if percent else 1)
        self._ranges()
        amount = value.rstrip("%") if percent or kind == "cpu" else parse_size(value) / GIB
        self.spin.setValue(float(amount))
        self.unit.currentIndexChanged.connect(self.on_unit)
        self.spin.valueChanged.connect(self._emit)

    def _ranges(self) -> None:
        if self.unit.currentData() == "%":
            self.spin.setRange(1, 100)
            self.spin.setDecimals(0)
            self.spin.setSingleStep(5)
        else:
            low = 0.1 if self.kind == "cpu" else 0.125
            self.spin.setRange(low, self.max_abs)
            self.spin.setDecimals(1 if self.kind == "cpu" else 2)
            self.spin.setSingleStep(0.5)

    def on_unit(self) -> None:
        """Keep the same amount when the unit changes (50% of 8 cores -> 4 cores)."""
        value = self.spin.value()
        to_abs = self.unit.currentData() != "%"
        converted = value / 100 * self.max_abs if to_abs else value / self.max_abs * 100
        self._ranges()
        self.spin.setValue(converted)
        self.edited.emit()

    def text(self) -> str:
        v = round(self.spin.value(), self.spin.decimals())
        if self.unit.currentData() == "%":
            return f"{v:g}%"
        return f"{v:g}" if self.kind == "cpu" else f"{v:g}G"


class DurationField(Field):
    """A duration in whole minutes or seconds, within a range."""

    def __init__(self, value: str, unit: str, low: int, high: int) -> None:
        super().__init__()
        self.unit = unit
        self.spin = QSpinBox()
        self.spin.setRange(low, high)
        self.spin.setSuffix(" min" if unit == "m" else " s")
        self.spin.setValue(round(parse_duration(value) / (60 if unit == "m" else 1)))
        self.spin.valueChanged.connect(self._emit)
        lay = _row(self)
        lay.addWidget(self.spin)
        lay.addStretch(1)

    def text(self) -> str:
        return f"{self.spin.value()}{self.unit}"


class OptionalPercentField(Field):
    """A switch and a percentage ("off" when the switch is off), and what it is a share of."""

    def __init__(self, label: str, value: str, of: str) -> None:
        super().__init__()
        self.box = QCheckBox(label)
        self.spin = QSpinBox()
        self.spin.setRange(1, 100)
        self.spin.setSuffix(f" % {of}")
        on = value != "off"
        self.box.setChecked(on)
        self.spin.setValue(int(float(value.rstrip("%"))) if on else 80)
        self.spin.setEnabled(on)
        self.box.toggled.connect(self.spin.setEnabled)
        self.box.toggled.connect(self._emit)
        self.spin.valueChanged.connect(self._emit)
        lay = _row(self)
        lay.addWidget(self.box)
        lay.addWidget(self.spin, 1)

    def text(self) -> str:
        return f"{self.spin.value()}%" if self.box.isChecked() else "off"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _runs(days: list[int]) -> list[str]:
    """Day numbers as the schedule writes them: [0, 1, 2, 4] -> ["mon-wed", "fri"]."""
    out: list[str] = []
    prev = -2
    for d in sorted(days):
        if out and d - 1 == prev:
            out[-1] = f"{out[-1].split('-')[0]}-{DAYS[d]}"
        else:
            out.append(DAYS[d])
        prev = d
    return out


def schedule_rows(windows: tuple[tuple[int, int], ...]) -> list[tuple[list[int], int, int]]:
    """A schedule's windows (minutes of the week) as rows of (days, from, to) minutes of the
    day; `to` past 1440 runs into the next day, (0, 1440) is all day."""
    rows: dict[tuple[int, int], list[int]] = {}
    for start, end in windows:
        day = start // 1440
        rows.setdefault((start % 1440, end - day * 1440), []).append(day % 7)
    return [(sorted(days), a, b) for (a, b), days in sorted(rows.items(), key=lambda r: r[1])]


class HoursRow(QWidget):
    """One range of hours on some days: the day switches, all day, from, to."""

    edited = Signal()

    def _emit(self, *_: object) -> None:
        self.edited.emit()

    def __init__(self, days: list[int], start: int, end: int) -> None:
        super().__init__()
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 6)
        day_row, lay = QHBoxLayout(), QHBoxLayout()
        rows.addLayout(day_row)
        rows.addLayout(lay)
        self.days = [QCheckBox(name) for name in DAY_NAMES]
        for n, box in enumerate(self.days):
            box.setChecked(n in days)
            box.toggled.connect(self._emit)
            day_row.addWidget(box)
        day_row.addStretch(1)
        self.all_day = QCheckBox("all day")
        self.all_day.setChecked((start, end) == (0, 1440))
        self.start, self.end = QTimeEdit(), QTimeEdit()
        for edit, minutes in ((self.start, start), (self.end, end % 1440)):
            edit.setDisplayFormat("HH:mm")
            edit.setTime(QTime(minutes // 60, minutes % 60))
            edit.timeChanged.connect(self._emit)
            edit.setEnabled(not self.all_day.isChecked())
        self.all_day.toggled.connect(self.on_all_day)
        self.remove = QPushButton("Remove")
        lay.addWidget(self.all_day)
        for text, edit in (("from", self.start), ("to", self.end)):
            lay.addWidget(QLabel(text))
            edit.setMinimumWidth(80)
            lay.addWidget(edit)
        lay.addStretch(1)
        lay.addWidget(self.remove)

    def on_all_day(self, on: bool) -> None:
        self.start.setEnabled(not on)
        self.end.setEnabled(not on)
        self.edited.emit()

    def items(self) -> list[str]:
        """This row as schedule items ("mon-fri 18:00-08:00"); an end at or before the start
        runs past midnight."""
        days = [n for n, box in enumerate(self.days) if box.isChecked()]
        a = self.start.time().hour() * 60 + self.start.time().minute()
        b = self.end.time().hour() * 60 + self.end.time().minute()
        hours = "all" if self.all_day.isChecked() else f"{_hhmm(a)}-{_hhmm(b) if b else '24:00'}"
        return [f"{run} {hours}" for run in _runs(days)]


class ScheduleField(Field):
    """The allowed hours: any time, or ranges of hours on chosen days."""

    def __init__(self, windows: tuple[tuple[int, int], ...], always: bool) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.any_time = QCheckBox("Any time")
        self.any_time.setChecked(always)
        self.any_time.toggled.connect(self.on_any_time)
        lay.addWidget(self.any_time)
        self.rows_box = QVBoxLayout()
        lay.addLayout(self.rows_box)
        self.add = QPushButton("Add hours")
        self.add.clicked.connect(lambda: self.add_row([0, 1, 2, 3, 4], 18 * 60, 8 * 60 + 1440))
        lay.addWidget(self.add)
        self.rows: list[HoursRow] = []
        for days, start, end in [] if always else schedule_rows(windows):
            self.add_row(days, start, end)
        self.on_any_time(always)

    def add_row(self, days: list[int], start: int, end: int) -> None:
        row = HoursRow(days, start, end)
        row.edited.connect(self._emit)
        row.remove.clicked.connect(lambda: self.remove_row(row))
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self.edited.emit()

    def remove_row(self, row: HoursRow) -> None:
        self.rows.remove(row)
        row.hide()
        row.deleteLater()
        self.edited.emit()

    def on_any_time(self, on: bool) -> None:
        if not on and not self.rows:
            self.add_row([0, 1, 2, 3, 4], 18 * 60, 8 * 60 + 1440)
        for row in self.rows:
            row.setEnabled(not on)
        self.add.setEnabled(not on)
        self.edited.emit()

    def problem(self) -> str:
        if not self.any_time.isChecked() and any(not r.items() for r in self.rows):
            return "Tick at least one day for each range of hours (or remove it)."
        return ""

    def text(self) -> str:
        if self.any_time.isChecked():
            return "all"
        return ", ".join(item for row in self.rows for item in row.items()) or "all"
