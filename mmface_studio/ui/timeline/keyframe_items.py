"""The graphics items of the keyframe plot: key handles, the seekable time axis, the editing ViewBox.

Kept apart from :mod:`keyframe_plot` (which owns curves, selection, picking and drags) because
they are self-contained Qt/pyqtgraph items: each only paints or forwards mouse events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QPainter, QPen, QPixmap, QPolygonF

from mmface_studio.ui.timeline.time_axis import AlignedViewBox

if TYPE_CHECKING:
    from mmface_studio.ui.timeline.keyframe_plot import KeyframePlot

__all__ = ["HandleItem", "KeyViewBox", "SeekAxis"]


class HandleItem(pg.GraphicsObject):
    """Key handles as fixed-size symbols ("d" diamond, "o" circle), blitted from one pre-rendered sprite.

    Why not pyqtgraph's ScatterPlotItem: its ``setData`` costs ~0.2 ms (per-spot bookkeeping) and a
    drag step updates every track's handles; this item only stores an array. Handles are picked by
    the plot (nearest, preferring the focused track), so the item takes no mouse events itself.
    """

    def __init__(self, symbol: str = "d", size: float = 10.0, pen: Any = None, brush: Any = None) -> None:
        super().__init__()
        self._symbol, self._size = symbol, float(size)
        self._pen = pg.mkPen(pen) if pen is not None else QPen(Qt.NoPen)
        self._xy = np.zeros((0, 2))
        self._data_rect = QRectF()
        self._render(pg.mkBrush(brush) if brush is not None else QBrush(Qt.NoBrush))

    def _render(self, brush: QBrush) -> None:
        self._brush = brush
        side = int(np.ceil(self._size + self._pen.widthF() + 2))
        self._sprite = QPixmap(side, side)
        self._sprite.fill(Qt.transparent)
        painter = QPainter(self._sprite)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(self._pen)
        painter.setBrush(brush)
        c, r = QPointF(side / 2.0, side / 2.0), self._size / 2.0
        if self._symbol == "d":
            corners = [QPointF(0, -r), QPointF(r, 0), QPointF(0, r), QPointF(-r, 0)]
            painter.drawPolygon(QPolygonF([c + d for d in corners]))
        else:
            painter.drawEllipse(c, r * 0.8, r * 0.8)
        painter.end()

    def setData(self, x: Any = None, y: Any = None, *, pos: Any = None, brush: Any = None) -> None:  # noqa: N802
        if brush is not None and pg.mkBrush(brush).color() != self._brush.color():
            self._render(pg.mkBrush(brush))
        xy = np.asarray(pos if pos is not None else np.column_stack([x, y]), dtype=np.float64).reshape(-1, 2)
        self.prepareGeometryChange()
        self._xy = xy
        lo, hi = (xy.min(axis=0), xy.max(axis=0)) if len(xy) else (np.zeros(2), np.zeros(2))
        self._data_rect = QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        self.update()

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph hook: the pixel padding changed
        self.prepareGeometryChange()

    def boundingRect(self) -> QRectF:  # noqa: N802
        if not len(self._xy):
            return QRectF()
        pw, ph = (abs(v or 0.0) * self._size for v in (self.pixelSize() or (0.0, 0.0)))  # (None, None) unviewed
        return self._data_rect.adjusted(-pw, -ph, pw, ph)

    def paint(self, painter: QPainter, *args: Any) -> None:
        half = QPointF(self._sprite.width() / 2.0, self._sprite.height() / 2.0)
        transform = painter.transform()
        painter.resetTransform()
        for x, y in self._xy:
            painter.drawPixmap(transform.map(QPointF(x, y)) - half, self._sprite)


class SeekAxis(pg.AxisItem):
    """The time axis: a left click or drag on it seeks (``seek``), as on the timeline's ruler."""

    seek = Signal(float)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        self.mouseDragEvent(ev)

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802
        view = self.linkedView()
        if ev.button() != Qt.LeftButton or view is None:
            return super().mouseDragEvent(ev)
        ev.accept()
        self.seek.emit(float(view.mapSceneToView(ev.scenePos()).x()))


class KeyViewBox(AlignedViewBox):
    """Left button edits keys (the plot decides what); middle pans, right-drag zooms, wheel zooms.

    An :class:`AlignedViewBox`, so that linked to the timeline its times sit at the timeline's x.
    """

    owner: Callable[[], KeyframePlot | None] = staticmethod(lambda: None)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 - pyqtgraph naming
        plot = self.owner()
        if plot is not None and ev.button() in (Qt.LeftButton, Qt.RightButton):
            plot._click(ev)
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:  # noqa: N802
        plot = self.owner()
        if plot is not None and axis is None and ev.button() == Qt.LeftButton:
            plot._drag_event(ev)
        else:
            super().mouseDragEvent(ev, axis)
