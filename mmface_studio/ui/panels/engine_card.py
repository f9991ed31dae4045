"""The engine picker's companion: what the chosen engine is, and its model card on request.

Neural engines are checkpoints; an animator choosing one should see what it was trained on and
how it scored (the model card shipped beside the weights) before trusting its output.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from mmface_studio.engine.neural import InstalledCheckpoint, scan_checkpoints

CLASSIC_TEXT = "Classic phonetic engine (no weights)."


def _summary(info: InstalledCheckpoint) -> str:
    """The card's "Family:" line (family, space, fps, features, size): the tooltip and dialog-free detail."""
    first = next((line.strip() for line in info.card.splitlines() if line.startswith("Family:")), "")
    text = first.replace("**", "") if first else f"{info.family} checkpoint ({info.space})."
    return f"{info.name}: {text}"


def _short(info: InstalledCheckpoint) -> str:
    """One line that fits beside the button: family, space and weight size."""
    try:
        size = f", {info.path.stat().st_size / 1e6:.1f} MB"
    except OSError:
        size = ""
    return f"Neural: {info.family}, {info.space}{size}"


class EngineCard(QWidget):
    """One line about the selected engine plus a "Model card…" button (neural engines only)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._installed = {c.name: c for c in scan_checkpoints()}
        self.label = QLabel(CLASSIC_TEXT)
        self.label.setWordWrap(True)
        self.label.setProperty("role", "muted")
        self.button = QPushButton("Model card…")
        self.button.clicked.connect(self.show_card)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self._name = "classic"
        self.show_engine("classic")

    def tooltip_for(self, name: str) -> str:
        info = self._installed.get(name)
        return _summary(info) if info else (CLASSIC_TEXT if name == "classic" else name)

    def show_engine(self, name: str) -> None:
        self._name = name
        info = self._installed.get(name)
        self.label.setText(_short(info) if info else self.tooltip_for(name))
        self.label.setToolTip(self.tooltip_for(name))
        self.button.setVisible(bool(info and info.card))

    def show_card(self) -> None:
        info = self._installed.get(self._name)
        if info is None or not info.card:
            return
        dialog = QDialog(self)
        dialog.setWindowTitle(f"Model card — {info.name}")
        view = QTextBrowser()
        view.setMarkdown(info.card)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(view)
        layout.addWidget(buttons)
        dialog.resize(720, 560)
        dialog.open()
        self.dialog = dialog  # kept for tests and so it is not collected while open
