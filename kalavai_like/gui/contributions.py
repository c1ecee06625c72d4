"""The "My contributions" window: the platform's totals for the logged-in user (CPU core-hours,
RAM GiB-hours, GPU-hours, credit, recent average: granted, that is witnessed), the credit still
pending and unverified in the words every view uses (kalavai_like.client.credit), a live chart
of CPU/RAM/GPU over the last hour, day or week, the per-day table, the per-pool breakdown with
who witnessed each pool's credit, and CSV export.

The hour and day views start from the agent's usage history (its ledger, fetched through the
bridge when the window opens or the range changes) and grow with the snapshots that follow;
the week view shows the platform's daily rows.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCharts import QChart, QChartView, QDateTimeAxis, QLineSeries, QValueAxis
from PySide6.QtCore import QDateTime, QPointF, Qt
from PySide6.QtGui import QPainter, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kalavai_like.client.credit import (
    AMOUNTS,
    LEADERBOARD,
    MEANING,
    PARTS,
    UNTRUSTED,
    WITNESS,
    owner_witnessed,
    write_daily_csv,
)
from kalavai_like.client.local import NodeClient
from kalavai_like.client.records import NodeStatus
from kalavai_like.errors import KalavaiError
from kalavai_like.gui.context import Context, Credit
from kalavai_like.gui.dialogs import ERROR_STYLE
from kalavai_like.gui.series import (
    GAPS,
    RANGES,
    STEPS,
    Point,
    UsageSeries,
    daily_points,
    history_points,
    merged,
    split_at_gaps,
)
from kalavai_like.units import MEMORY_UNIT, format_amount

TOTALS = (
    *((key, name) for key, name, _ in AMOUNTS),
    ("credit", "Credit"),
    ("recent_average", "Recent average (credit/day)"),
)
COLUMNS = (*(key for key, _, _ in AMOUNTS), "credit")
HEADERS = [*(short for _, _, short in AMOUNTS), "Credit"]
POOL_HEADERS = ["Pool", *HEADERS, "Pending credit", "Unverified credit", "Witness"]


def _num(v: object) -> str:
    x = float(v or 0)  # type: ignore[arg-type]
    if x == 0:
        return "0"
    return format_amount(x, 3 if abs(x) < 10 else 1)  # 0.003, 4.250, 210.0, 1,234


def _cell(text: str, number: bool) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if number:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


History = tuple[str, list[Point] | None, KalavaiError | None]


def fetch_history(node: NodeClient, which: str, since: float, step: float) -> History:
    """The agent's history for the range `which` (blocks: run it through the bridge)."""
    try:
        return which, history_points(node.usage_history(since, step)), None
    except KalavaiError as exc:
        return which, None, exc


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().hide()
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return t


class ContributionsWindow(QWidget):
    """See the module docstring. Feed it snapshots through `on_status` for the live chart."""

    def __init__(self, ctx: Context, series: UsageSeries, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.series = series
        self.credit: Credit | None = None
        self.history: dict[str, list[Point]] = {}  # per range, from the agent's ledger
        self.history_error: dict[str, KalavaiError] = {}
        self.setWindowTitle("My contributions — kalavai-like")
        self.resize(760, 620)
        layout = QVBoxLayout(self)
        totals = QGroupBox("Granted by the platform: witnessed by the pool's head (all pools, "
                           "all devices)")  # fmt: skip
        grid = QGridLayout(totals)
        self.totals: dict[str, QLabel] = {}
        for i, (key, label) in enumerate(TOTALS):
            value = QLabel("…")
            value.setObjectName(f"total-{key}")
            value.setStyleSheet("font-size: 15pt; font-weight: bold;")
            grid.addWidget(QLabel(label), 0, i)
            grid.addWidget(value, 1, i)
            self.totals[key] = value
        layout.addWidget(totals)
        layout.addWidget(self._parts_box())
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(ERROR_STYLE)
        self.note.hide()
        layout.addWidget(self.note)
        tabs = QTabWidget()
        tabs.addTab(self._chart_tab(), "Chart")
        self.daily = _table(["Day (UTC)", *HEADERS])
        self.daily.setObjectName("daily")
        tabs.addTab(self.daily, "Per day")
        self.per_pool = _table(POOL_HEADERS)
        self.per_pool.setObjectName("per-pool")
        tabs.addTab(self.per_pool, "Per pool")
        layout.addWidget(tabs, 1)
        bottom = QHBoxLayout()
        self.updated = QLabel()
        bottom.addWidget(self.updated, 1)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.on_export_clicked)
        bottom.addWidget(self.refresh_button)
        bottom.addWidget(self.export_button)
        layout.addLayout(bottom)
        self.refresh()

    def _parts_box(self) -> QGroupBox:
        """Credit not granted (yet): pending and unverified, each with what it means."""
        box = QGroupBox("Not granted")
        grid = QGridLayout(box)
        self.parts: dict[str, QLabel] = {}
        for row, part in enumerate(PARTS[1:]):
            value = QLabel("…")
            value.setObjectName(f"part-{part}")
            grid.addWidget(QLabel(part.capitalize()), row, 0)
            grid.addWidget(value, row, 1)
            grid.addWidget(QLabel(f"credit: {MEANING[part]}"), row, 2)
            self.parts[part] = value
        grid.setColumnStretch(2, 1)
        self.standing = QLabel()  # the leaderboard, and credit witnessed by a pool's owner
        self.standing.setObjectName("standing")
        self.standing.setWordWrap(True)
        grid.addWidget(self.standing, len(PARTS) - 1, 0, 1, 3)
        return box

    def _chart_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show the last"))
        self.range = QComboBox()
        self.range.addItems(list(RANGES))
        self.range.currentTextChanged.connect(self.on_range_changed)
        top.addWidget(self.range)
        top.addStretch(1)
        lay.addLayout(top)
        self.chart = QChart()
        self.chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self.lines: dict[str, QLineSeries] = {}  # each metric's line up to its first gap
        self.gap_lines: dict[str, list[QLineSeries]] = {}  # and its runs after each gap
        for key, name in (
            ("cpu", "CPU (cores)"),
            ("ram", f"RAM ({MEMORY_UNIT})"),
            ("gpu", "GPU (GPUs)"),
        ):
            s = QLineSeries()
            s.setName(name)
            self.chart.addSeries(s)
            self.lines[key] = s
            self.gap_lines[key] = []
        self.x_axis = QDateTimeAxis()
        self.x_axis.setFormat("HH:mm")
        self.y_axis = QValueAxis()
        self.y_axis.setLabelFormat("%.2f")
        self.chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        for s in self.lines.values():
            s.attachAxis(self.x_axis)
            s.attachAxis(self.y_axis)
        view = QChartView(self.chart)
        view.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.setMinimumHeight(260)
        lay.addWidget(view, 1)
        self.chart_note = QLabel()
        self.chart_note.setWordWrap(True)
        lay.addWidget(self.chart_note)
        return tab

    # ---- data -----------------------------------------------------------------------------

    def refresh(self) -> None:
        self.refresh_button.setEnabled(False)
        self.ctx.bridge.call(self.ctx.fetch_credit, 30, done=self.on_credit, failed=self.on_failed)

    def on_credit(self, credit: Credit) -> None:
        self.credit = credit
        self.refresh_button.setEnabled(True)
        self.note.hide()
        for key, label in self.totals.items():
            label.setText(_num(credit.granted.get(key, 0)))
        for part, label in self.parts.items():
            label.setText(_num(getattr(credit, part).get("credit", 0)))
        self.standing.setText(_standing(credit))
        rows = list(reversed(credit.daily))
        self.daily.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [row.get("day", "")] + [_num(row.get(k, 0)) for k in COLUMNS]
            for c, text in enumerate(cells):
                self.daily.setItem(r, c, _cell(str(text), c > 0))
        self.per_pool.setRowCount(len(credit.pools))
        for r, row in enumerate(credit.pools):
            cells = [(row.get("pool") or {}).get("name", "")] + [_num(row.get(k)) for k in COLUMNS]
            cells += [_num((row.get(part) or {}).get("credit")) for part in PARTS[1:]]
            for c, text in enumerate(cells):
                self.per_pool.setItem(r, c, _cell(str(text), c > 0))
            witness = WITNESS.get(str(row.get("witness")), "")
            self.per_pool.setItem(r, len(cells), _cell(witness, False))
        self.updated.setText("Updated " + time.strftime("%H:%M:%S"))
        self.redraw()

    def on_failed(self, exc: KalavaiError) -> None:
        self.refresh_button.setEnabled(True)
        self.note.setText(f"Could not get your contributions: {exc.title}. {exc.message}")
        self.note.show()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.load_history()

    def on_range_changed(self, _text: str) -> None:
        self.redraw()
        self.load_history()

    def load_history(self) -> None:
        """Ask the agent (off the GUI thread) for the shown range's history."""
        which = self.range.currentText()
        if which not in STEPS:
            return
        since = time.time() - RANGES[which]
        self.ctx.bridge.call(fetch_history, self.ctx.node, which, since, STEPS[which],
                             done=self.on_history)  # fmt: skip

    def on_history(self, got: History) -> None:
        which, points, error = got
        if error is not None:
            self.history.pop(which, None)
            self.history_error[which] = error
        else:
            self.history[which] = points or []
            self.history_error.pop(which, None)
        self.redraw()

    def on_status(self, status: NodeStatus) -> None:
        """A new snapshot arrived (the tray already added it to the series): redraw live."""
        if self.isVisible() and self.range.currentText() != "week":
            self.redraw()

    # ---- chart ----------------------------------------------------------------------------

    def points(self) -> list[Point]:
        which = self.range.currentText()
        now = time.time()
        if which == "week":
            return [p for p in daily_points(self.credit.daily if self.credit else [])
                    if p.at >= now - RANGES["week"] - 86400]  # fmt: skip
        # without the agent's history (agent down), only the snapshots this tray saw
        history = [p for p in self.history.get(which, []) if p.at >= now - RANGES[which]]
        return merged(history, self.series.within(RANGES[which], now))

    def redraw(self) -> None:
        which = self.range.currentText()
        pts = self.points()
        now = time.time()
        first, *rest = split_at_gaps(pts, GAPS[which]) or [[]]
        for key, line in self.lines.items():
            line.replace([_qpoint(p.at, getattr(p, key)) for p in first])
            self._show_runs(key, [[_qpoint(p.at, getattr(p, key)) for p in run] for run in rest])
        self.x_axis.setFormat("ddd dd" if which == "week" else "HH:mm")
        self.x_axis.setRange(QDateTime.fromSecsSinceEpoch(int(now - RANGES[which])),
                        QDateTime.fromSecsSinceEpoch(int(now)))  # fmt: skip
        top = max([max(p.cpu, p.ram, p.gpu) for p in pts] or [0.0])
        self.y_axis.setRange(0, max(1.0, top * 1.15))
        self.y_axis.applyNiceNumbers()
        error = self.history_error.get(which)
        if which == "week":
            self.chart_note.setText("Average use per day, as the platform granted it.")
        elif error is not None:
            self.chart_note.setText(f"No history to show: {error.title}. {error.message}")
        elif pts:
            per = "minute" if which == "hour" else "15 minutes"
            self.chart_note.setText(
                f"Measured by this computer's agent: average per {per}, then live."
            )
        else:
            self.chart_note.setText(
                "No samples yet: the chart fills in while this computer contributes."
            )

    def _show_runs(self, key: str, runs: list[list[QPointF]]) -> None:
        """One more line per run after a gap, in the metric's colour, out of the legend."""
        extra = self.gap_lines[key]
        while len(extra) > len(runs):
            self.chart.removeSeries(extra.pop())
        while len(extra) < len(runs):
            s = QLineSeries()
            self.chart.addSeries(s)
            s.attachAxis(self.x_axis)
            s.attachAxis(self.y_axis)
            s.setColor(self.lines[key].color())
            for marker in self.chart.legend().markers(s):
                marker.setVisible(False)
            extra.append(s)
        for s, run in zip(extra, runs, strict=True):
            s.replace(run)

    def on_export_clicked(self) -> None:
        if self.credit is None:
            return
        path = self.ask_path(self)
        if path is None:
            return
        try:
            write_daily_csv(path, self.credit.daily)
        except OSError as exc:
            self.note.setText(f"Could not write {path}: {exc.strerror or exc}")
            self.note.show()
            return
        self.updated.setText(f"Exported {len(self.credit.daily)} days to {path}")

    @classmethod
    def ask_path(cls, parent: QWidget | None) -> Path | None:
        """Where to save the CSV (tests replace this)."""
        name, _ = QFileDialog.getSaveFileName(
            parent, "Export contributions", "kalavai-like-contributions.csv", "CSV (*.csv)"
        )
        return Path(name) if name else None


def _standing(credit: Credit) -> str:
    """What counts on the leaderboard, and the granted credit only a pool's owner witnessed."""
    text = f"On the leaderboard: {_num(credit.counted.get('credit', 0))} credit ({LEADERBOARD})."
    if by_owner := owner_witnessed(credit.pools):
        text += f" {_num(by_owner)} credit granted was {WITNESS['owner']} ({UNTRUSTED})."
    return text


def _qpoint(at: float, value: float) -> QPointF:
    return QPointF(float(at * 1000), float(value))
