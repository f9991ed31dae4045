"""Generate panel: prompt, transcript, engine, seed, pose style, emotion preset; Generate / Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mmface_studio.core.document import EMOTIONS, EmotionKey, EmotionTrack, SetEmotionTrack, SetProperty
from mmface_studio.engine import POSE_STYLES, engine_names
from mmface_studio.ui.panels.engine_card import EngineCard
from mmface_studio.ui.project_controller import ProjectController

#: Presets set one emotion key at the start of the clip (editable afterwards on the emotion curves).
PRESETS: dict[str, dict[str, float]] = {
    "Neutral": {},
    "Happy": {"happiness": 0.7},
    "Sad": {"sadness": 0.7},
    "Surprised": {"surprise": 0.7},
    "Afraid": {"fear": 0.6},
    "Disgusted": {"disgust": 0.6},
    "Angry": {"anger": 0.7},
}


class GeneratePanel(QWidget):
    """Edits go through commands (prompt/transcript edits merge into one undo step while typing)."""

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("e.g. a nervous man, glancing down, nodding when he agrees")
        self.prompt.setMaximumHeight(70)
        self.prompt.setMinimumHeight(44)  # two lines; a taller minimum would take the timeline's height
        self.transcript = QPlainTextEdit()
        self.transcript.setPlaceholderText("Transcript (optional): enables forced alignment")
        self.transcript.setMaximumHeight(90)
        self.transcript.setMinimumHeight(44)
        self.engine = QComboBox()
        self.engine.addItems(list(engine_names()))
        self.engine_card = EngineCard()
        for i in range(self.engine.count()):
            tip = self.engine_card.tooltip_for(self.engine.itemText(i))
            self.engine.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.style = QComboBox()
        self.style.addItems(list(POSE_STYLES))
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.generate_button = QPushButton("Generate")
        self.generate_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.stage = QLabel("")
        self.stage.setProperty("role", "muted")

        form = QFormLayout()
        form.addRow("Prompt", self.prompt)
        form.addRow("Transcript", self.transcript)
        form.addRow("Engine", self.engine)
        form.addRow("", self.engine_card)
        form.addRow("Pose style", self.style)
        form.addRow("Pose seed", self.seed)
        form.addRow("Emotion preset", self.preset)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.stage)
        layout.addStretch(1)

        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(400)
        self._typing.timeout.connect(self._commit_text)
        self.prompt.textChanged.connect(self._typing.start)
        self.transcript.textChanged.connect(self._typing.start)
        self.engine.currentTextChanged.connect(lambda v: self._set("engine", v))
        self.engine.currentTextChanged.connect(self.engine_card.show_engine)
        self.style.currentTextChanged.connect(lambda v: self._set("pose_style", v))
        self.seed.valueChanged.connect(lambda v: self._set("pose_seed", int(v)))
        self.preset.activated.connect(self._apply_preset)
        self.generate_button.clicked.connect(self._generate)
        self.cancel_button.clicked.connect(controller.cancel)
        controller.busy_changed.connect(self._busy)
        controller.progressed.connect(self._progressed)
        controller.project_replaced.connect(lambda _p: self.refresh())
        self.refresh()

    def _set(self, field: str, value) -> None:
        project = self.controller.project
        if getattr(project, field) != value:
            self.controller.stack.push(SetProperty(project, field, value))

    def _commit_text(self) -> None:
        self._set("prompt", self.prompt.toPlainText().strip())
        self._set("transcript", self.transcript.toPlainText().strip())

    def _apply_preset(self, index: int) -> None:
        values = PRESETS[self.preset.itemText(index)]
        gammas = tuple(values.get(name, 1.0 if name == "neutral" and not values else 0.0) for name in EMOTIONS)
        track = EmotionTrack((EmotionKey(0.0, gammas),))
        self.controller.stack.push(SetEmotionTrack(self.controller.project, track))

    def _generate(self) -> None:
        self._typing.stop()
        self._commit_text()
        self.controller.generate()

    def refresh(self) -> None:
        """Show the document's values (after New/Open/undo) without pushing commands."""
        project = self.controller.project
        for widget, text in ((self.prompt, project.prompt), (self.transcript, project.transcript)):
            if widget.toPlainText().strip() != text:
                widget.blockSignals(True)
                widget.setPlainText(text)
                widget.blockSignals(False)
        for widget, value in ((self.engine, project.engine), (self.style, project.pose_style)):
            widget.blockSignals(True)
            widget.setCurrentText(value)
            widget.blockSignals(False)
        self.seed.blockSignals(True)
        self.seed.setValue(project.pose_seed)
        self.seed.blockSignals(False)

    def _busy(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setValue(0)
            self.stage.setText("")

    def _progressed(self, fraction: float, stage: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.stage.setText(f"{stage}…" if fraction < 1.0 else "done")
