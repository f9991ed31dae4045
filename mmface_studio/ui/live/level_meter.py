"""Input level meter: RMS bar, held peak tick and a clip light, on a -60..0 dBFS scale.

Why RMS and peak both: RMS is what the voice's loudness looks like (the lip-sync follows it), the
peak is what clips. Zones follow recording practice: green up to -18 dBFS (speech should sit
around -24..-12 RMS), yellow to -6, red above; a peak that reached full scale lights "CLIP".
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from mmface_studio.ui.theme import BORDER, MUTED, RAISED, TEXT

FLOOR_DB = -60.0
_GREEN, _YELLOW, _RED = QColor("#4caf6a"), QColor("#e0b43c"), QColor("#e0573c")
_TICKS = (-48, -36, -24, -12, -6, 0)


class InputLevelMeter(QWidget):
    """Shows ``set_level(rms_db, peak_db)``; reading ``rms_db``/``peak_db`` back is for tests."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rms_db = FLOOR_DB
        self.peak_db = FLOOR_DB
        self.clipping = False
        self.setObjectName("input-level")
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setToolTip("Microphone level: bar = RMS, tick = peak (held 1 s). Speech should sit in the green.")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(240, 34)

    def set_level(self, rms_db: float, peak_db: float) -> None:
        rms, peak = max(FLOOR_DB, min(0.0, rms_db)), max(FLOOR_DB, min(0.0, peak_db))
        clipping = peak_db >= -0.1
        if (rms, peak, clipping) != (self.rms_db, self.peak_db, self.clipping):
            self.rms_db, self.peak_db, self.clipping = rms, peak, clipping
            self.update()

    def _x(self, db: float, x0: float, width: float) -> float:
        return x0 + width * (db - FLOOR_DB) / -FLOOR_DB

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        painter = QPainter(self)
        clip_w = 38.0
        x0, width, bar_h = 2.0, max(20.0, self.width() - clip_w - 8.0), 12.0
        painter.fillRect(QRectF(x0, 2, width, bar_h), QColor(RAISED))
        painter.setPen(QColor(BORDER))
        painter.drawRect(QRectF(x0, 2, width, bar_h))
        for lo, hi, colour in ((FLOOR_DB, -18.0, _GREEN), (-18.0, -6.0, _YELLOW), (-6.0, 0.0, _RED)):
            if self.rms_db > lo:
                a, b = self._x(lo, x0, width), self._x(min(hi, self.rms_db), x0, width)
                painter.fillRect(QRectF(a, 3, b - a, bar_h - 1), colour)
        if self.peak_db > FLOOR_DB:
            px = self._x(self.peak_db, x0, width)
            painter.fillRect(QRectF(px - 1, 1, 2, bar_h + 2), QColor(TEXT))
        painter.setPen(QColor(MUTED))
        for db in _TICKS:
            x = self._x(db, x0, width)
            painter.drawLine(int(x), int(bar_h + 3), int(x), int(bar_h + 6))
            painter.drawText(QRectF(x - 16, bar_h + 5, 32, 14), Qt.AlignCenter, f"{db}")
        light = QRectF(x0 + width + 6, 1, clip_w, bar_h + 2)
        painter.fillRect(light, _RED if self.clipping else QColor(RAISED))
        painter.setPen(QColor("#ffffff") if self.clipping else QColor(MUTED))
        painter.drawText(light, Qt.AlignCenter, "CLIP")
