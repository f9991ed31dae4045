"""Head pose panel: re-sample, lock the timeline selection, preview N candidate takes and pick one."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
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
from mmface_studio.ui.project_controller import ProjectController
from mmface_studio.ui.theme import ACCENT, PANEL

_CURVE_COLOURS = {"HeadYaw": ACCENT, "HeadPitch": "#e0a040", "HeadRoll": "#7cc47c"}


class CandidateRow(QWidget):
    """A small plot of one take's head yaw/pitch/roll with a "Use" button."""

    def __init__(self, seed: int, take: Performance, on_use, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seed, self.take = seed, take
        plot = pg.PlotWidget(background=PANEL)
        plot.setFixedHeight(64)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        times = np.arange(take.frame_count) / take.fps
        for name, colour in _CURVE_COLOURS.items():
            plot.plot(times, take.curve(name), pen=pg.mkPen(colour, width=1.4))
        self.use_button = QPushButton(f"Use seed {seed}")
        self.use_button.clicked.connect(lambda: on_use(seed, take))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addWidget(plot, 1)
        layout.addWidget(self.use_button)


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
        self.locks.setMaximumHeight(90)
        self.unlock_button = QPushButton("Unlock")
        self.count = QSpinBox()
        self.count.setRange(2, 8)
        self.count.setValue(4)
        self.preview_button = QPushButton("Preview takes")
        self.candidates = QVBoxLayout()
        holder = QWidget()
        holder.setLayout(self.candidates)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        legend = QLabel("  ".join(f"<span style='color:{c}'>■</span> {n[4:]}" for n, c in _CURVE_COLOURS.items()))
        legend.setProperty("role", "muted")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        row = QHBoxLayout()
        row.addWidget(self.resample_button)
        row.addWidget(self.lock_button)
        layout.addLayout(row)
        heading = QLabel("Locked ranges")
        heading.setProperty("role", "heading")
        layout.addWidget(heading)
        layout.addWidget(self.locks)
        layout.addWidget(self.unlock_button, 0, Qt.AlignRight)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Candidates"))
        row2.addWidget(self.count)
        row2.addWidget(self.preview_button, 1)
        layout.addLayout(row2)
        layout.addWidget(legend)
        layout.addWidget(scroll, 1)

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

    def _lock_selection(self) -> None:
        selection = self.selection_source() if self.selection_source else None
        if not selection:
            self.controller.message.emit("Select a time range on the timeline first (Shift+drag on the ruler).", 5000)
            return
        self.controller.lock_range(*selection)

    def _unlock(self) -> None:
        for item in self.locks.selectedItems():
            self.controller.stack.push(RemovePoseLock(self.controller.project, item.data(Qt.UserRole)))

    def show_candidates(self, candidates: list) -> None:
        while self.candidates.count():
            widget = self.candidates.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for seed, take in candidates:
            self.candidates.addWidget(CandidateRow(seed, take, self._use))
        if candidates:
            self.candidates.addStretch(1)

    def _use(self, seed: int, take: Performance) -> None:
        self.controller.use_candidate(seed, take)
        self.controller.message.emit(f"Using head-pose take {seed}.", 4000)


__all__ = ["CandidateRow", "PosePanel"]
