"""Live readout of the channels that are active at the current frame."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from mmface_studio.core.spaces import ParameterSpace
from mmface_studio.ui.theme import ACCENT, BORDER, MUTED, TEXT

_ROW = 18


class ChannelMeter(QWidget):
    """Horizontal bars for the strongest channels of the frame being shown.

    Signed channels (rotations) draw from the centre; weights draw from the left.
    """

    def __init__(self, parent: QWidget | None = None, rows: int = 8) -> None:
        super().__init__(parent)
        self._rows = rows
        self._space: ParameterSpace | None = None
        self._values: np.ndarray | None = None
        self.setMinimumHeight(_ROW * 3)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def show_frame(self, space: ParameterSpace, values: np.ndarray) -> None:
        self._space, self._values = space, values
        self.update()

    def active_channels(self) -> list[tuple[str, float]]:
        """(name, value) of the strongest channels, relative to each channel's range."""
        if self._space is None or self._values is None:
            return []
        span = np.maximum(self._space.maximums - self._space.minimums, 1e-6)
        strength = np.abs(self._values - self._space.defaults) / span
        order = [i for i in np.argsort(-strength) if strength[i] > 0.01]
        rows = max(1, self.height() // _ROW - 1)
        return [(self._space.names[i], float(self._values[i])) for i in order[:rows]]

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        width = self.width()
        label_w = min(170, width // 2)
        bar_x, bar_w = label_w + 10, max(40, width - label_w - 70)
        active = self.active_channels()
        if not active:
            painter.setPen(QColor(MUTED))
            painter.drawText(self.rect().adjusted(10, 0, 0, 0), Qt.AlignLeft | Qt.AlignVCenter,
                             "All channels at rest")
            return
        for row, (name, value) in enumerate(active):
            y = 6 + row * _ROW
            channel = self._space.channel(name)
            painter.setPen(QColor(TEXT))
            painter.drawText(QRectF(6, y, label_w, _ROW - 2), Qt.AlignRight | Qt.AlignVCenter, name)
            painter.fillRect(QRectF(bar_x, y + 5, bar_w, _ROW - 10), QColor(BORDER))
            lo, hi = channel.minimum, channel.maximum
            if lo < 0 < hi:
                mid = bar_x + bar_w * (-lo) / (hi - lo)
                end = bar_x + bar_w * (value - lo) / (hi - lo)
                rect = QRectF(min(mid, end), y + 5, abs(end - mid), _ROW - 10)
            else:
                rect = QRectF(bar_x, y + 5, bar_w * (value - lo) / (hi - lo), _ROW - 10)
            painter.fillRect(rect, QColor(ACCENT))
            painter.setPen(QColor(MUTED))
            painter.drawText(QRectF(bar_x + bar_w + 6, y, 60, _ROW - 2), Qt.AlignLeft | Qt.AlignVCenter,
                             f"{value:.2f}")
