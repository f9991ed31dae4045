"""The emotion key panel: exact values for the emotion keyframe selected in the curve editor.

Dragging handles is quick but imprecise; animators also want to type a time and set each
intensity on a slider. The panel shows the selected key of the project's emotion track (it keeps
only that key's time, never a copy of its values) and turns every change into a command on the
app's undo stack; one slider drag merges into one undo step (``SetEmotionKey`` merges, the
panel seals the stack on release).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from mmface_studio.core.document import (
    EMOTIONS,
    INTERPOLATIONS,
    Change,
    Command,
    EditError,
    EmotionKey,
    MoveEmotionKeys,
    Project,
    SetEmotionKey,
    UndoStack,
)
from mmface_studio.ui.panels.follow_voice import FollowVoiceControl
from mmface_studio.ui.project_binding import ProjectBound
from mmface_studio.ui.timeline.emotion_editor import EMOTION_COLOURS

STEPS = 1000  # slider resolution: 0.001 per step


class EmotionKeyPanel(ProjectBound, QWidget):
    """Time field, interpolation combo and 7 intensity sliders (0..1) for one emotion key.

    Connect the curve editor with ``editor.selection_changed.connect(panel.show_key)`` (or
    :meth:`connect_editor`, which also keeps the editor's selection on a key the panel moves).
    """

    key_moved = Signal(float, float)
    status_message = Signal(str)

    def __init__(self, project: Project, stack: UndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.stack = stack
        self._time: float | None = None
        self._count = 0
        self.title = QLabel("Emotion key")
        self.title.setProperty("role", "heading")
        self.info = QLabel("")
        self.info.setProperty("role", "muted")
        self.info.setWordWrap(True)
        self.time_field = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=36_000.0, singleStep=1 / 30, suffix=" s")
        self.time_field.setKeyboardTracking(False)
        self.time_field.valueChanged.connect(self._time_edited)
        self.interpolation = QComboBox()
        self.interpolation.addItems(list(INTERPOLATIONS))
        self.interpolation.activated.connect(self._interpolation_chosen)
        self.sliders: dict[str, QSlider] = {}
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setContentsMargins(0, 4, 0, 4)
        form.addRow("Time", self.time_field)
        form.addRow("Interpolation", self.interpolation)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        for row, name in enumerate(EMOTIONS):
            grid.addWidget(self._name_label(name), row, 0)
            grid.addWidget(self._slider(name), row, 1)
            value = QLabel("0.00")
            value.setMinimumWidth(34)
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.values[name] = value
            grid.addWidget(value, row, 2)
        grid.setColumnStretch(1, 1)
        voice = QLabel("Voice (dotted in the editor)")
        voice.setProperty("role", "heading")
        self.follow_voice = FollowVoiceControl(project, stack)
        self.follow_voice.status_message.connect(self.status_message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.info)
        layout.addLayout(form)
        layout.addLayout(grid)
        layout.addSpacing(8)
        layout.addWidget(voice)
        layout.addWidget(self.follow_voice)
        layout.addStretch(1)
        self.set_project(project, stack)

    @staticmethod
    def _name_label(name: str) -> QLabel:
        label = QLabel(f"<span style='color:{EMOTION_COLOURS[name]}'>●</span>&nbsp;{name}")
        label.setMinimumWidth(84)
        return label

    def _slider(self, name: str) -> QSlider:
        slider = QSlider(Qt.Horizontal)
        slider.setRange(0, STEPS)
        slider.setPageStep(STEPS // 10)
        slider.setObjectName(f"emotion-{name}")
        slider.setStyleSheet(f"QSlider::sub-page:horizontal {{ background: {EMOTION_COLOURS[name]}; "
                             f"border-radius: 2px; }}")
        slider.sliderPressed.connect(self._seal)
        slider.sliderReleased.connect(self._seal)
        slider.valueChanged.connect(lambda raw, n=name: self._slider_moved(n, raw))
        self.sliders[name] = slider
        return slider

    # --- binding ----------------------------------------------------------------------------------

    def set_project(self, project: Project, stack: UndoStack) -> None:
        self._bind(project, stack)
        if hasattr(self, "follow_voice"):
            self.follow_voice.set_project(project, stack)
        self.show_key(None)

    def detach(self) -> None:
        """Stop observing the project, the follow-voice control included."""
        if hasattr(self, "follow_voice"):
            self.follow_voice.detach()
        super().detach()

    def connect_editor(self, editor: Any) -> None:
        """Follow ``editor``'s selection and keep it on a key whose time the panel changed."""
        editor.selection_changed.connect(self.show_key)
        self.key_moved.connect(lambda _old, new: editor.select_keys([new]))

    def _on_change(self, change: Change) -> None:
        if change.kind == "emotion":
            self._refresh()

    # --- showing a key ----------------------------------------------------------------------------

    @property
    def key_time(self) -> float | None:
        return self._time

    def show_key(self, selection: float | Sequence[float] | None) -> None:
        """Show the key at a time, or the first of a selection's key times; None/empty shows nothing."""
        if selection is None or isinstance(selection, (int, float)):
            times = [] if selection is None else [float(selection)]
        else:
            times = sorted(float(t) for t in selection)
        self._time, self._count = (times[0] if times else None), len(times)
        self._refresh()

    def _key(self) -> EmotionKey | None:
        if self.project is None or self._time is None:
            return None
        return next((k for k in self.project.emotion.keys if abs(k.time - self._time) < 1e-5), None)

    def _refresh(self) -> None:
        key = self._key()
        for widget in (self.time_field, self.interpolation, *self.sliders.values()):
            widget.setEnabled(key is not None)
        if key is None:
            self.info.setText("No key selected: click a key in the emotion editor, or press K there to add one.")
            return
        self._time = key.time
        more = f" (first of {self._count} selected)" if self._count > 1 else ""
        self.info.setText(f"Key at {key.time:.3f} s{more}")
        self._set(self.time_field, key.time)
        self.interpolation.blockSignals(True)
        self.interpolation.setCurrentText(key.interpolation)
        self.interpolation.blockSignals(False)
        for name, gamma in zip(EMOTIONS, key.gammas, strict=True):
            self._set(self.sliders[name], round(gamma * STEPS))
            self.values[name].setText(f"{gamma:.2f}")

    @staticmethod
    def _set(widget: Any, value: float) -> None:
        if widget.value() != value:
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    # --- edits -> commands ------------------------------------------------------------------------

    def _ready(self) -> bool:
        return self.project is not None and self._key() is not None

    def _seal(self) -> None:
        self.stack.seal()

    def _push(self, command: Command, *, seal: bool = True) -> bool:
        try:
            self.stack.push(command)
        except EditError as exc:
            self.status_message.emit(str(exc))
            self._refresh()
            return False
        if seal:
            self.stack.seal()
        return True

    def _slider_moved(self, name: str, raw: int) -> None:
        if not self._ready():
            return
        dragging = self.sliders[name].isSliderDown()
        if not dragging:
            self.stack.seal()  # a click or key step is its own undo step
        self.values[name].setText(f"{raw / STEPS:.2f}")
        self._push(SetEmotionKey(self.project, self._time, {name: raw / STEPS}), seal=not dragging)

    def _interpolation_chosen(self, index: int) -> None:
        if self._ready():
            self.stack.seal()
            self._push(SetEmotionKey(self.project, self._time, interpolation=INTERPOLATIONS[index]))

    def _time_edited(self, seconds: float) -> None:
        if not self._ready() or self._time is None or abs(seconds - self._time) < 1e-9:
            return
        old = self._time
        self.stack.seal()
        if self._push(MoveEmotionKeys(self.project, [old], seconds - old)):
            self._time = seconds
            self._refresh()
            self.key_moved.emit(old, seconds)
