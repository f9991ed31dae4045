"""The follow-voice control: how much the voice-predicted emotion bends the keyed emotion curves.

The weight is w in gamma_t = gamma_u,t + w (gamma_a,t - mean gamma_a) (DESIGN 1), a project
setting (``Project.emotion_prior_weight``), so the control shows the document's value and edits
it with ``SetProperty`` on the app's undo stack; a slider drag merges into one undo step (the
setting merges, the control seals the stack on press and release). The emotion editor draws the
effect as its dotted overlay, so both the editor header and the emotion key panel carry one.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from mmface_studio.core.document import Change, EditError, Project, SetProperty, UndoStack
from mmface_studio.ui.project_binding import ProjectBound

FIELD = "emotion_prior_weight"
TIP = ("Follow voice: how much the emotion the voice suggests bends your keyed curves "
       "(the dotted overlay shows the result; 0 % = only your keys). Undoable.")


class FollowVoiceControl(ProjectBound, QWidget):
    """"Follow voice" label, a 0..100 % slider and its value; ``compact`` keeps the slider short (a header)."""

    status_message = Signal(str)

    def __init__(self, project: Project, stack: UndoStack, parent: QWidget | None = None, *,
                 compact: bool = False) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.stack = stack
        self.label = QLabel("Follow voice")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("follow-voice")
        self.slider.setRange(0, 100)
        self.slider.setPageStep(10)
        self.value = QLabel("")
        self.value.setMinimumWidth(self.value.fontMetrics().horizontalAdvance("100 %") + 4)
        self.value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        for widget in (self, self.label, self.slider, self.value):
            widget.setToolTip(TIP)
        if compact:
            self.slider.setFixedWidth(110)
            self.label.setProperty("role", "muted")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.label)
        row.addWidget(self.slider, 0 if compact else 1)
        row.addWidget(self.value)
        self.slider.sliderPressed.connect(lambda: self.stack.seal())
        self.slider.sliderReleased.connect(lambda: self.stack.seal())
        self.slider.valueChanged.connect(self._moved)
        self.set_project(project, stack)

    def set_project(self, project: Project, stack: UndoStack) -> None:
        self._bind(project, stack)
        self._show(project.emotion_prior_weight)

    def _on_change(self, change: Change) -> None:
        if change.kind == "meta" and change.field == FIELD and self.project is not None:
            self._show(self.project.emotion_prior_weight)

    def _show(self, weight: float) -> None:
        percent = round(weight * 100)
        self.value.setText(f"{percent} %")
        if self.slider.value() != percent:
            self.slider.blockSignals(True)
            self.slider.setValue(percent)
            self.slider.blockSignals(False)

    def _moved(self, percent: int) -> None:
        if self.project is None:
            return
        dragging = self.slider.isSliderDown()
        if not dragging:
            self.stack.seal()  # a click or a key step is an undo step of its own
        try:
            self.stack.push(SetProperty(self.project, FIELD, percent / 100))
        except EditError as exc:
            self.status_message.emit(str(exc))
        if not dragging:
            self.stack.seal()
        self._show(self.project.emotion_prior_weight)
