"""Export dialog: format, file, frame range, fps, axis and units, with progress and cancel.

The export runs on a worker thread; the dialog stays responsive and Cancel
stops it between frames, leaving no partial file behind (the exporters write
to a temporary name and rename on success).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mmface_studio.core.performance import Performance
from mmface_studio.engine import CancelToken
from mmface_studio.export import export_performance
from mmface_studio.export.errors import ExportCancelled
from mmface_studio.rig.base import Rig
from mmface_studio.ui.workers import TaskRunner

#: (label, suffix, fixed to Y-up metres?)
FORMATS: tuple[tuple[str, str, bool], ...] = (
    ("FBX binary (.fbx)", ".fbx", False),
    ("glTF binary (.glb)", ".glb", True),
    ("glTF (.gltf)", ".gltf", True),
    ("USD crate (.usdc)", ".usdc", False),
    ("USD text (.usda)", ".usda", False),
    ("OBJ sequence (.obj per frame)", ".obj", False),
    ("ARKit CSV, Live Link Face (.csv)", ".csv", True),
)


class _Bridge(QObject):
    progressed = Signal(float, str)


class ExportDialog(QDialog):
    """Modal dialog; ``exported`` fires with the written path."""

    exported = Signal(str)

    def __init__(self, performance: Performance, rig: Rig, default_dir: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export performance")
        self.setMinimumWidth(520)
        self.performance, self.rig = performance, rig
        self.tasks = TaskRunner(self)
        self._cancel: CancelToken | None = None
        self._bridge = _Bridge(self)
        self._bridge.progressed.connect(self._progress)
        self.result_path: Path | None = None
        self.error: str | None = None

        form = QFormLayout()
        self.format_box = QComboBox()
        for label, suffix, _ in FORMATS:
            self.format_box.addItem(label, suffix)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format", self.format_box)
        self.path_edit = QLineEdit(str((default_dir or Path.home()) / "performance.fbx"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        last = performance.frame_count - 1
        self.start_spin, self.end_spin = QSpinBox(), QSpinBox()
        for spin, value in ((self.start_spin, 0), (self.end_spin, last)):
            spin.setRange(0, last)
            spin.setValue(value)
        range_row = QHBoxLayout()
        range_row.addWidget(self.start_spin)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.end_spin)
        range_row.addStretch(1)
        form.addRow("Frames", range_row)
        self.step_spin = QSpinBox()
        self.step_spin.setRange(1, 100)
        form.addRow("Every n-th frame", self.step_spin)
        self.fps_spin = QDoubleSpinBox()
        self.fps_spin.setRange(1.0, 240.0)
        self.fps_spin.setDecimals(3)
        self.fps_spin.setValue(performance.fps)
        form.addRow("Frame rate", self.fps_spin)
        self.up_box, self.units_box = QComboBox(), QComboBox()
        self.up_box.addItems(["Y", "Z"])
        self.units_box.addItems(["cm", "m"])
        form.addRow("Up axis", self.up_box)
        form.addRow("Units", self.units_box)
        form.addRow("Rig", QLabel(f"{rig.name} ({rig.space.name})"))

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setProperty("role", "muted")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        self.export_button.clicked.connect(self.start_export)
        self.buttons.rejected.connect(self._cancel_or_close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._format_changed()

    # ------------------------------------------------------------------ inputs
    def suffix(self) -> str:
        return str(self.format_box.currentData())

    def _format_changed(self) -> None:
        fixed = FORMATS[self.format_box.currentIndex()][2]
        self.up_box.setEnabled(not fixed)
        self.units_box.setEnabled(not fixed)
        if fixed:
            self.up_box.setCurrentText("Y")
            self.units_box.setCurrentText("m")
        path = Path(self.path_edit.text() or "performance")
        self.path_edit.setText(str(path.with_suffix(self.suffix())))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), f"*{self.suffix()}")
        if path:
            self.path_edit.setText(str(Path(path).with_suffix(self.suffix())))

    def options(self) -> dict[str, object]:
        return {"frame_range": (self.start_spin.value(), self.end_spin.value()), "step": self.step_spin.value(),
                "fps": self.fps_spin.value(), "up": self.up_box.currentText(), "units": self.units_box.currentText()}

    # ------------------------------------------------------------------ export
    def start_export(self) -> None:
        if self._cancel is not None:
            return
        path = Path(self.path_edit.text()).with_suffix(self.suffix())
        token = self._cancel = CancelToken()
        bridge, options = self._bridge, self.options()
        self.export_button.setEnabled(False)
        self.error = None
        self.status.setText(f"Exporting {path.name}…")

        def work() -> Path:
            return export_performance(self.performance, self.rig, path, cancel=token,
                                      progress=lambda fraction, message="": bridge.progressed.emit(fraction, message),
                                      **options)

        self.tasks.submit(work, self._done, self._failed)

    def _progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))

    def _done(self, path: Path) -> None:
        self._cancel = None
        self.result_path = Path(path)
        self.progress_bar.setValue(1000)
        self.status.setText(f"Wrote {path}")
        self.exported.emit(str(path))
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._cancel = None
        self.export_button.setEnabled(True)
        self.progress_bar.setValue(0)
        self.error = "Export cancelled; nothing was written." if isinstance(exc, ExportCancelled) else str(exc)
        self.status.setText(self.error)

    def _cancel_or_close(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
        else:
            self.reject()

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        if self._cancel is not None:
            self._cancel.cancel()
        self.tasks.wait_all()
        super().done(result)
