"""The installed PySide6 keeps Python's reference counts straight across signal emissions.

PySide6 6.12.0 on CPython 3.11 drops a reference to a bool on every emit, so a tray that runs
for hours dies with "bool_dealloc: deallocating True or False" (pyproject.toml excludes it).
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal()
    carried = Signal(object)


def test_signal_emission_does_not_release_references_it_does_not_own(qapp):
    e = _Emitter()
    e.fired.connect(lambda: None)
    e.carried.connect(lambda _v: None)
    watched = (None, True, False)
    before = [sys.getrefcount(v) for v in watched]
    for _ in range(2000):
        e.fired.emit()
        e.carried.emit(None)
    after = [sys.getrefcount(v) for v in watched]
    assert all(a >= b - 5 for a, b in zip(after, before, strict=True)), (before, after)
