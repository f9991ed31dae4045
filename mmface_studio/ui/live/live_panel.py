"""The Live dock: input device picker, Start/Stop, Record, level meter and the latency readout.

A view only: it emits what the animator asked for and shows what :class:`LiveMode` tells it
(``show_stats``, ``show_message``, ``set_state``); the live worker and the project are not here.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mmface_studio.audio.capture import InputDevice
from mmface_studio.engine.live import LATE_S, LiveStats
from mmface_studio.ui.live.level_meter import InputLevelMeter

_WARN = "#e8a13c"
_REC = "#e0573c"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


class LivePanel(QWidget):
    """Signals: ``start_requested(device)`` (None: system default), ``stop_requested``, ``record_toggled``."""

    start_requested = Signal(object)
    stop_requested = Signal()
    record_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("live-panel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(8)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("input-device")
        self.device_combo.setToolTip("Microphone to listen to. Devices connected after start-up appear after "
                                     "a restart of MMFace Studio.")
        self.device_combo.setMinimumContentsLength(18)
        self.device_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        form.addRow("Input", self.device_combo)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start live")
        self.start_button.setObjectName("live-start")
        self.start_button.setToolTip("Listen to the microphone and move the head with the voice (Ctrl+Shift+L)")
        self.start_button.clicked.connect(self._start_clicked)
        self.record_button = QPushButton("● Record")
        self.record_button.setObjectName("live-record")
        self.record_button.setCheckable(True)
        self.record_button.setEnabled(False)
        self.record_button.setToolTip("Keep what you say as the project's clip (audio + animation, one undo step)")
        self.record_button.toggled.connect(self._record_clicked)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.record_button)
        layout.addLayout(buttons)

        self.meter = InputLevelMeter()
        layout.addWidget(self.meter)
        self.level_label = self._label("level-readout", muted=True)
        self.latency_label = self._label("latency-readout")
        self.drops_label = self._label("drops-readout", muted=True)
        self.record_label = self._label("record-readout")
        self.take_label = self._label("take-note")
        self.take_label.hide()
        self.settings_label = self._label("live-settings", muted=True)
        self.message_label = self._label("live-message")
        self.message_label.setStyleSheet(f"color: {_WARN};")
        self.message_label.hide()
        for label in (self.level_label, self.latency_label, self.drops_label, self.record_label, self.take_label,
                      self.settings_label, self.message_label):
            layout.addWidget(label)
        layout.addStretch(1)
        self._running = False
        self.set_state(False)

    def _label(self, name: str, muted: bool = False) -> QLabel:
        label = QLabel("")
        label.setObjectName(name)
        label.setWordWrap(True)
        if muted:
            label.setProperty("role", "muted")
        return label

    # ------------------------------------------------------------------ input from LiveMode

    def set_devices(self, devices: list[InputDevice], default_name: str = "") -> None:
        """Fill the picker: "System default" first, then every input device; keeps the current choice."""
        current = self.device_combo.currentData()
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        if not devices:
            self.device_combo.addItem("No microphone found", None)
        else:
            label = f"System default ({default_name})" if default_name else "System default"
            self.device_combo.addItem(label, None)
            for device in devices:
                self.device_combo.addItem(device.label, device.index)
        found = self.device_combo.findData(current)
        self.device_combo.setCurrentIndex(max(found, 0))
        self.device_combo.blockSignals(False)

    def selected_device(self) -> int | None:
        return self.device_combo.currentData()

    def set_state(self, running: bool, recording: bool = False) -> None:
        self._running = running
        self.start_button.setText("Stop live" if running else "Start live")
        self.device_combo.setEnabled(not running)
        self.record_button.setEnabled(running)
        self.record_button.blockSignals(True)
        self.record_button.setChecked(recording)
        self.record_button.blockSignals(False)
        self.record_button.setText("■ Stop recording" if recording else "● Record")
        self.record_button.setStyleSheet(f"background: {_REC}; color: white;" if recording else "")
        if not running:
            self.meter.set_level(-120.0, -120.0)
            self.level_label.setText("Level: – (not listening)")
            self.latency_label.setText("Latency: –")
            self.drops_label.setText("")
            self.record_label.setText("")
            self.record_label.hide()

    def show_stats(self, stats: LiveStats, display_fps: float) -> None:
        self.meter.set_level(stats.rms_db, stats.peak_db)
        self.level_label.setText(f"Level {stats.rms_db:.0f} dBFS RMS · peak {stats.peak_db:.0f} dBFS · "
                                 f"{stats.device} at {stats.rate / 1000:g}\u00a0kHz")
        self.latency_label.setText(
            f"Latency {_ms(stats.latency_ms)} ms (p95 {_ms(stats.latency_p95_ms)}) = buffer {_ms(stats.buffer_ms)} "
            f"+ lookahead {_ms(stats.lookahead_ms)} + compute {_ms(stats.compute_ms)} · {display_fps:.0f} fps")
        self.drops_label.setText(f"Dropped blocks {stats.dropped} · late frames {stats.late} "
                                 f"(> {LATE_S * 1000:.0f} ms)")
        recording = f"<span style='color:{_REC}'>● REC</span> {stats.recorded_s:5.1f} s" if stats.recording else ""
        self.record_label.setText(recording)
        self.record_label.setVisible(bool(recording))

    def show_settings(self, text: str) -> None:
        self.settings_label.setText(text)

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def show_record_note(self, text: str) -> None:
        """What became of the last take (kept as the project's clip, too short, ...)."""
        self.take_label.setText(text)
        self.take_label.setVisible(bool(text))

    # ------------------------------------------------------------------ user input

    def _start_clicked(self) -> None:
        if self._running:
            self.stop_requested.emit()
        else:
            self.start_requested.emit(self.selected_device())

    def _record_clicked(self, checked: bool) -> None:
        self.record_toggled.emit(checked)
