"""Identity panel: sliders for the current rig's identity controls."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from mmface_studio.rig.base import IdentityControl

_STEPS = 100


class IdentityPanel(QWidget):
    """Emits ``identity_changed`` with every slider value whenever one moves."""

    identity_changed = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controls: list[IdentityControl] = []
        self._sliders: dict[str, QSlider] = {}
        self._values: dict[str, QLabel] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 8)
        self._title = QLabel("No rig loaded")
        self._title.setProperty("role", "muted")
        outer.addWidget(self._title)
        self._form = QFormLayout()
        self._form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self._form.setHorizontalSpacing(8)
        outer.addLayout(self._form)
        reset = QPushButton("Reset identity")
        reset.clicked.connect(self.reset)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(reset)
        outer.addLayout(row)
        outer.addStretch(1)

    def set_controls(self, rig_name: str, controls: list[IdentityControl], values: dict[str, float]) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        self._controls = controls
        self._sliders.clear()
        self._values.clear()
        self._title.setText(f"{rig_name}: {len(controls)} identity controls" if controls else
                            f"{rig_name} has no identity controls")
        for control in controls:
            slider = QSlider(Qt.Horizontal)
            slider.setRange(0, _STEPS)
            slider.setObjectName(f"identity-{control.name}")
            slider.setValue(self._to_slider(control, values.get(control.name, control.default)))
            value_label = QLabel()
            value_label.setMinimumWidth(36)
            value_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            row = QWidget()
            layout = QHBoxLayout(row)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.addWidget(slider, 1)
            layout.addWidget(value_label)
            self._form.addRow(control.label, row)
            self._sliders[control.name] = slider
            self._values[control.name] = value_label
            slider.valueChanged.connect(self._emit)
        self._refresh_labels()

    def values(self) -> dict[str, float]:
        return {c.name: self._from_slider(c, self._sliders[c.name].value()) for c in self._controls}

    def set_value(self, name: str, value: float) -> None:
        control = next(c for c in self._controls if c.name == name)
        self._sliders[name].setValue(self._to_slider(control, value))

    def reset(self) -> None:
        for control in self._controls:
            self._sliders[control.name].blockSignals(True)
            self._sliders[control.name].setValue(self._to_slider(control, control.default))
            self._sliders[control.name].blockSignals(False)
        self._emit()

    def _emit(self) -> None:
        self._refresh_labels()
        self.identity_changed.emit(self.values())

    def _refresh_labels(self) -> None:
        for name, value in self.values().items():
            self._values[name].setText(f"{value:+.2f}")

    @staticmethod
    def _to_slider(control: IdentityControl, value: float) -> int:
        span = control.maximum - control.minimum
        return int(round((value - control.minimum) / span * _STEPS)) if span else 0

    @staticmethod
    def _from_slider(control: IdentityControl, position: int) -> float:
        return control.minimum + (control.maximum - control.minimum) * position / _STEPS
