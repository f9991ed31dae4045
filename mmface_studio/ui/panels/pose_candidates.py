"""One candidate head-pose take as a card: its yaw/pitch/roll over time, how big the motion is, and "Use".

The animator compares takes by shape and size of the motion, so every card plots degrees (not
radians) on the same vertical scale as the other cards, with a time axis in seconds, and shades
the locked ranges (those keep the current pose whatever the take). The plot is only a picture:
it takes no mouse input, and the wheel scrolls the list it sits in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont, QWheelEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mmface_studio.core.performance import Performance
from mmface_studio.ui import theme

#: The head-pose channels drawn, with their colours (also the panel's legend).
POSE_CURVES: dict[str, str] = {"HeadYaw": theme.ACCENT, "HeadPitch": "#e0a040", "HeadRoll": "#7cc47c"}
PLOT_HEIGHT = 92


class _PicturePlot(pg.PlotWidget):
    """A plot that ignores the wheel, so scrolling over a card scrolls the list of cards."""

    def wheelEvent(self, ev: QWheelEvent) -> None:  # noqa: N802 - Qt naming
        ev.ignore()


def pose_degrees(take: Performance) -> dict[str, np.ndarray]:
    """The take's head rotations in degrees, by channel name."""
    return {name: np.degrees(take.curve(name)) for name in POSE_CURVES}


class CandidateRow(QFrame):
    """A card for the take of ``seed``: title, motion range, "Use" button, and the curves.

    ``y_range`` (degrees) is shared by all cards of one preview so that their sizes compare;
    ``locks`` are ``(start, end)`` seconds kept from the current take.
    """

    def __init__(self, seed: int, take: Performance, on_use: Callable[[int, Performance], object],
                 y_range: tuple[float, float] | None = None, locks: Sequence[tuple[float, float]] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seed, self.take = seed, take
        self.setObjectName("candidate")
        self.setStyleSheet(f"#candidate {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; "
                           f"border-radius: 4px; }}")
        curves = pose_degrees(take)
        self.title = QLabel(f"Seed {seed}")
        self.title.setStyleSheet("font-weight: 600; background: transparent;")
        # The motion's size per channel, in the legend's colours: compact enough for a narrow dock.
        spans = " ".join(f"<span style='color:{POSE_CURVES[name]}'>{np.ptp(values):.0f}°</span>"
                         for name, values in curves.items())
        self.summary = QLabel(spans)
        self.summary.setStyleSheet("background: transparent;")
        self.summary.setToolTip("How far the head turns (yaw), nods (pitch) and tilts (roll) in this take: "
                                "largest minus smallest angle, in degrees")
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip(f"Replace the head pose with this take (seed {seed}); undoable")
        self.use_button.clicked.connect(lambda: on_use(seed, take))
        self.plot = self._plot(curves, take, y_range, locks)
        head = QHBoxLayout()
        head.setSpacing(10)
        head.addWidget(self.title)
        head.addWidget(self.summary, 1)
        head.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.plot)

    @staticmethod
    def _plot(curves: dict[str, np.ndarray], take: Performance, y_range: tuple[float, float] | None,
              locks: Sequence[tuple[float, float]]) -> pg.PlotWidget:
        plot = _PicturePlot(background=theme.BACKGROUND)
        plot.setFixedHeight(PLOT_HEIGHT)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        item = plot.getPlotItem()
        font = QFont(plot.font())
        font.setPointSizeF(7.5)
        for name, size in (("left", 28), ("bottom", 20)):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(theme.BORDER))
            axis.setTextPen(pg.mkPen(theme.MUTED))
            axis.setTickFont(font)
            if name == "left":
                axis.setWidth(size)
            else:
                axis.setHeight(size)
        plot.showGrid(x=False, y=True, alpha=0.15)
        times = np.arange(take.frame_count) / take.fps
        for start, end in locks:
            region = pg.LinearRegionItem((start, end), movable=False, brush=pg.mkBrush(165, 126, 224, 40),
                                         pen=pg.mkPen(165, 126, 224, 110))
            item.addItem(region, ignoreBounds=True)
        for name, colour in POSE_CURVES.items():
            plot.plot(times, curves[name], pen=pg.mkPen(colour, width=1.4))
        view = item.getViewBox()
        view.setXRange(0.0, max(take.duration, 1e-3), padding=0.01)
        if y_range is not None:
            view.setYRange(*y_range, padding=0.05)
        return plot


def shared_range(takes: Sequence[Performance]) -> tuple[float, float]:
    """Degrees that hold every take's curves (symmetric around 0, so left and right turns look alike)."""
    extent = max((float(np.abs(v).max()) for take in takes for v in pose_degrees(take).values()), default=1.0)
    extent = max(extent, 1.0)
    return -extent, extent


def legend_html() -> str:
    return "&nbsp;&nbsp;".join(f"<span style='color:{c}'>■</span> {n[4:].lower()}" for n, c in POSE_CURVES.items())


__all__ = ["POSE_CURVES", "CandidateRow", "legend_html", "pose_degrees", "shared_range"]
