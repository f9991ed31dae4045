"""Head pose panel: re-sample, lock the timeline selection, preview N candidate takes and pick one.

The candidates are the point of the panel (an animator compares several takes before keeping
one), so they get the space: a scrolling list of cards (:mod:`pose_candidates`) below compact
controls, the lock list only as tall as its few entries.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mmface_studio.core.document import RemovePoseLock
from mmface_studio.core.performance import Performance
from mmface_studio.ui.panels.pose_candidates import CandidateRow, legend_html, shared_range
from mmface_studio.ui.project_controller import ProjectController


class PosePanel(QWidget):
    def __init__(self, controller: ProjectController, selection_source=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.selection_source = selection_source  # callable -> (t0, t1) | None (the timeline's selection)
        self.resample_button = QPushButton("Re-sample pose")
        self.resample_button.setToolTip("A new head-motion take with the next seed; locked ranges are kept (R)")
        self.lock_button = QPushButton("Lock selection")
        self.lock_button.setToolTip("Keep the head pose inside the timeline selection on re-sample")
        self.locks = QListWidget()
        self.no_locks = QLabel("No locked ranges. Select one on the timeline (Shift+drag the ruler, or I / O), "
                               "then Lock selection.")
        self.no_locks.setProperty("role", "muted")
        self.no_locks.setWordWrap(True)
        self.unlock_button = QPushButton("Unlock")
        self.count = QSpinBox()
        self.count.setRange(2, 8)
        self.count.setValue(4)
        self.count.setSuffix(" takes")
        self.preview_button = QPushButton("Preview takes")
        self.preview_button.setToolTip("Sample this many new head-pose takes to compare (locked ranges are kept)")
        self.candidates = QVBoxLayout()  # the cards only
        self.candidates.setContentsMargins(0, 0, 0, 0)
        self.candidates.setSpacing(8)
        self.empty = QLabel("Preview takes to compare head motions here.")
        self.empty.setProperty("role", "muted")
        self.empty.setWordWrap(True)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 4, 0)
        column.addWidget(self.empty)
        column.addLayout(self.candidates)
        column.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setWidget(holder)
        self.scroll.setMinimumHeight(100)
        legend = QLabel(f"{legend_html()} &nbsp; in degrees; shaded: locked")
        legend.setProperty("role", "muted")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        row = QHBoxLayout()
        row.addWidget(self.resample_button)
        row.addWidget(self.lock_button)
        layout.addLayout(row)
        layout.addWidget(self.no_locks)
        lock_row = QHBoxLayout()
        self.locks_label = QLabel("Locked:")
        lock_row.addWidget(self.locks_label, 0, Qt.AlignTop)
        lock_row.addWidget(self.locks, 1)
        lock_row.addWidget(self.unlock_button, 0, Qt.AlignTop)
        layout.addLayout(lock_row)
        layout.addSpacing(4)
        row2 = QHBoxLayout()
        row2.addWidget(self.count)
        row2.addWidget(self.preview_button, 1)
        layout.addLayout(row2)
        layout.addWidget(legend)
        layout.addWidget(self.scroll, 1)

        self.resample_button.clicked.connect(controller.resample_pose)
        self.lock_button.clicked.connect(self._lock_selection)
        self.unlock_button.clicked.connect(self._unlock)
        self.preview_button.clicked.connect(lambda: controller.request_candidates(self.count.value()))
        controller.candidates_ready.connect(self.show_candidates)
        controller.project_replaced.connect(self._watch)
        self._watch(controller.project)

    def _watch(self, project) -> None:
        project.events.connect(self._on_change)
        self._refresh_locks()
        self.show_candidates([])

    def _on_change(self, change) -> None:
        if change.kind == "locks":
            self._refresh_locks()

    def _refresh_locks(self) -> None:
        self.locks.clear()
        for lock in self.controller.project.locks:
            item = QListWidgetItem(f"{lock.start:6.2f} s – {lock.end:6.2f} s")
            item.setData(Qt.UserRole, lock)
            self.locks.addItem(item)
        has_locks = bool(self.controller.project.locks)  # an empty list would only take room from the takes
        rows = min(self.locks.count(), 3)
        self.locks.setFixedHeight(rows * max(self.locks.sizeHintForRow(0), 18) + 2 * self.locks.frameWidth() + 2)
        self.locks.setVisible(has_locks)
        self.unlock_button.setVisible(has_locks)
        self.locks_label.setVisible(has_locks)
        self.no_locks.setVisible(not has_locks)

    def _lock_selection(self) -> None:
        selection = self.selection_source() if self.selection_source else None
        if not selection:
            self.controller.message.emit("Select a time range on the timeline first (Shift+drag on the ruler, or "
                                         "I / O at the playhead).", 5000)
            return
        self.controller.lock_range(*selection)

    def _unlock(self) -> None:
        for item in self.locks.selectedItems():
            self.controller.stack.push(RemovePoseLock(self.controller.project, item.data(Qt.UserRole)))

    def show_candidates(self, candidates: list) -> None:
        """One card per ``(seed, take)``, all on one vertical scale; the hint when there are none."""
        while self.candidates.count():
            widget = self.candidates.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.empty.setVisible(not candidates)
        y_range = shared_range([take for _, take in candidates])
        locks = [(lk.start, lk.end) for lk in self.controller.project.locks]
        for seed, take in candidates:
            self.candidates.addWidget(CandidateRow(seed, take, self._use, y_range, locks))

    def _use(self, seed: int, take: Performance) -> None:
        self.controller.use_candidate(seed, take)
        self.controller.message.emit(f"Using head-pose take {seed}.", 4000)


__all__ = ["CandidateRow", "PosePanel"]
