"""Run expensive work off the GUI thread and deliver the result back on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal


class _Task(QThread):
    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the GUI as a message
            self.failed.emit(exc)
        else:
            self.succeeded.emit(result)


class TaskRunner(QObject):
    """Keeps references to running tasks so they are not garbage-collected mid-run."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[_Task] = set()

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[Exception], None]) -> QThread:
        task = _Task(fn, self)
        task.succeeded.connect(on_done)
        task.failed.connect(on_error)
        task.finished.connect(lambda: self._tasks.discard(task))
        task.finished.connect(task.deleteLater)
        self._tasks.add(task)
        task.start()
        return task

    def busy(self) -> bool:
        return bool(self._tasks)

    def wait_all(self, timeout_ms: int = 30000) -> None:
        for task in list(self._tasks):
            task.wait(timeout_ms)
