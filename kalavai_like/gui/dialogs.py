"""What the tray's dialogs share: their base (the tray's context and a title), the label that
shows an error under a field or a form, the styles of good and bad news, and running a dialog
until it answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QDialog, QLabel, QWidget

if TYPE_CHECKING:
    from kalavai_like.gui.context import Context

ERROR_STYLE = "color: #b3261e;"
OK_STYLE = "color: #1b6e37;"


class ContextDialog(QDialog):
    """A dialog on the tray's context."""

    def __init__(self, ctx: Context, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(title)


def error_label(name: str = "", *, selectable: bool = False) -> QLabel:
    """A hidden, word-wrapped label in the error style (`name` is its object name)."""
    label = QLabel()
    if name:
        label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    if selectable:  # people copy error messages into searches and bug reports
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def answer(dialog: QDialog, signal: SignalInstance) -> Any:
    """Show `dialog` until it closes; what `signal` carried, or None if it never fired."""
    got: list[Any] = []
    signal.connect(got.append)
    dialog.exec()
    return got[0] if got else None
