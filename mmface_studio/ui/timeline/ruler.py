"""The time axis of the timeline: tick choice, the pixel-space row base, the ruler, marker flags and overlays.

Every row of the timeline is a pyqtgraph ViewBox whose X axis is time in seconds and whose Y axis is
fixed to 0..1. Row items paint in device pixels (:class:`RowItem`), not in data units, because
what they draw is pixel-sized by nature (1 px lines, text, flags of a given width) and would be
distorted or blurred by a seconds-per-pixel transform; the ViewBox still supplies the mapping, so
zoom, pan and X links (the curve editors) work exactly as for ordinary pyqtgraph items.

What the rows show besides the document (playhead, selection, the marker under the mouse) lives
in one :class:`TimelineState` shared by all rows; the document itself (markers, locks, fps) is
read from the project at paint time, never copied (DESIGN 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from mmface_studio.core.document import Marker, Project
from mmface_studio.ui import theme

PLAYHEAD = "#f0604d"
LOOP = "#5cc98f"
MARKER = "#e3a83f"
MARKER_ACTIVE = "#ffd27a"
MARKER_TEXT = "#1c1d20"
LOCK = "#a57ee0"
TICK = "#5a5e68"
GRID = "#2c2e33"
ROW_BACKGROUND = {"ruler": theme.PANEL, "markers": "#26272b", "audio": "#1b1c1f", "words": "#212226",
                  "phones": "#1e1f23"}

_SECOND_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600,
                 900, 1800, 3600)
_NICE_FRAMES = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000)
MIN_MINOR_PX = 6.0


def small_font(bold: bool = False) -> QFont:
    """The timeline's label font: 8 pt keeps dense rows readable without crowding."""
    font = QFont()
    font.setPointSizeF(8.0)
    font.setBold(bold)
    return font


def color(name: str, alpha: int = 255) -> QColor:
    c = QColor(name)
    c.setAlpha(alpha)
    return c


# --- ticks -----------------------------------------------------------------------------------------


def format_seconds(t: float, step: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour) with as many decimals as ``step`` needs: a timecode reads faster."""
    decimals = 0 if step >= 1 else min(3, int(math.ceil(-math.log10(step) - 1e-9)))
    total = round(abs(t), decimals)
    sign = "-" if t < 0 and total > 0 else ""
    hours, rest = divmod(total, 3600.0)
    minutes, seconds = divmod(rest, 60.0)
    width = 2 + (decimals + 1 if decimals else 0)
    sec = f"{seconds:0{width}.{decimals}f}"
    if hours >= 1:
        return f"{sign}{int(hours)}:{int(minutes):02d}:{sec}"
    return f"{sign}{int(minutes)}:{sec}"


def frame_steps(fps: float) -> list[int]:
    """Candidate frame-label steps: round numbers plus whole multiples of the frame rate (1 s, 2 s, ...)."""
    steps = set(_NICE_FRAMES)
    if abs(fps - round(fps)) < 1e-9:
        f = int(round(fps))
        steps.update(f * k for k in (1, 2, 5, 10, 30, 60, 300, 600))
        if f % 2 == 0:
            steps.add(f // 2)
    return sorted(steps)


@dataclass(frozen=True)
class Ticks:
    """Ruler ticks for one view: labelled seconds, labelled frames and unlabelled minor frames."""

    seconds: np.ndarray
    second_step: float
    frames: np.ndarray
    frame_step: int
    minor_frames: np.ndarray


def compute_ticks(t0: float, t1: float, width_px: float, fps: float,
                  text_width: Callable[[str], float] = lambda s: 6.0 * len(s),
                  within: tuple[float, float] | None = None) -> Ticks:
    """Ticks adapted to the zoom: the finest steps whose labels (measured by ``text_width``) do not collide.

    Steps depend on the whole view ``t0 .. t1``; ticks are listed only ``within`` a part of it when given.
    """
    span = max(t1 - t0, 1e-9)
    pps = max(width_px, 1.0) / span
    second_step = _SECOND_STEPS[-1]
    for step in _SECOND_STEPS:
        if step * pps >= text_width(format_seconds(max(abs(t0), abs(t1)), step)) + 18:
            second_step = step
            break
    ppf = pps / fps
    digits = str(max(1, int(t1 * fps)))
    frame_step = frame_steps(fps)[-1]
    for step in frame_steps(fps):
        if step * ppf >= text_width(digits) + 14:
            frame_step = step
            break
    minor = frame_step
    for step in [1, *frame_steps(fps)]:
        if step >= frame_step or (frame_step % step == 0 and step * ppf >= MIN_MINOR_PX):
            minor = step
            break
    a, b = within if within is not None else (t0, t1)
    return Ticks(_multiples(a, b, second_step), second_step, _multiples(a * fps, b * fps, frame_step).astype(int),
                 frame_step, _multiples(a * fps, b * fps, minor).astype(int))


def _multiples(a: float, b: float, step: float) -> np.ndarray:
    first = max(0, math.ceil(a / step - 1e-9))
    last = math.floor(b / step + 1e-9)
    return np.arange(first, last + 1, dtype=np.float64) * step if last >= first else np.empty(0)


# --- the row base ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeMap:
    """Seconds <-> device pixels of one row, for one paint: ``x = sx * t + dx``.

    ``t0 .. t1`` is the visible range; ``e0 .. e1`` the part being repainted (a strip around the
    playhead during playback), which rows use to skip what lies outside it.
    """

    sx: float
    dx: float
    top: float
    bottom: float
    t0: float
    t1: float
    e0: float = -math.inf
    e1: float = math.inf

    def x(self, t: float) -> float:
        return self.sx * t + self.dx

    def exposed(self, margin_px: float = 0.0) -> tuple[float, float]:
        """The repainted time range widened by ``margin_px`` (for labels that reach into it), within the view."""
        pad = margin_px / self.sx
        return max(self.t0, self.e0 - pad), min(self.t1, self.e1 + pad)

    def xs(self, times: np.ndarray) -> np.ndarray:
        return self.sx * np.asarray(times, dtype=np.float64) + self.dx

    @property
    def left(self) -> float:
        return self.x(self.t0)

    @property
    def right(self) -> float:
        return self.x(self.t1)

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


class TimelineState:
    """What every row paints besides the document: playhead, selection, loop, the marker being hovered or dragged."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.playhead = 0.0
        self.selection: tuple[float, float] | None = None
        self.active_marker: Marker | None = None
        #: Whether playback loops (the transport's Loop button) and where the clip ends (None: no clip yet).
        self.loop = True
        self.clip_end: float | None = None

    def loop_span(self) -> tuple[float, float] | None:
        """What playback repeats: the selection, else the whole clip; None when not looping."""
        if not self.loop:
            return None
        if self.selection is not None:
            return self.selection
        return None if self.clip_end is None else (0.0, self.clip_end)


class RowItem(pg.GraphicsObject):
    """A row item painted in device pixels over its ViewBox's visible rectangle (see the module docstring)."""

    def __init__(self, state: TimelineState) -> None:
        super().__init__()
        self.state = state
        self._rect = QRectF(0.0, 0.0, 1.0, 1.0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # fills option.exposedRect

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._rect

    def viewRangeChanged(self) -> None:  # noqa: N802 - pyqtgraph hook
        view = self.getViewBox()
        if view is not None:
            self.prepareGeometryChange()
            self._rect = view.viewRect()
        self.update()

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph hook
        self.viewRangeChanged()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem | None = None, *_args: object) -> None:
        view = self.getViewBox()
        if view is None:
            return
        (t0, t1), _ = view.viewRange()
        tr = painter.transform()
        exposed = option.exposedRect if option is not None else QRectF()
        e0, e1 = (exposed.left(), exposed.right()) if not exposed.isEmpty() else (-math.inf, math.inf)
        tmap = TimeMap(tr.m11(), tr.dx(), tr.map(QPointF(0.0, 1.0)).y(), tr.map(QPointF(0.0, 0.0)).y(), t0, t1, e0, e1)
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self.paint_row(painter, tmap)
        painter.restore()

    def paint_row(self, painter: QPainter, m: TimeMap) -> None:
        raise NotImplementedError

    def paint_grid(self, painter: QPainter, m: TimeMap) -> None:
        """Faint vertical lines at the ruler's labelled seconds, so that rows read against the ruler."""
        fm = QFontMetricsF(small_font())
        ticks = compute_ticks(m.t0, m.t1, m.width, self.state.project.fps, fm.horizontalAdvance, m.exposed(1.0))
        painter.setPen(QPen(color(GRID), 0))
        painter.drawLines([QLineF(x, m.top, x, m.bottom) for x in m.xs(ticks.seconds)])


# --- the ruler -------------------------------------------------------------------------------------


class RulerItem(RowItem):
    """Seconds (timecode, top line) and frames at the project's fps (bottom line); steps adapt to the zoom."""

    def paint_row(self, painter: QPainter, m: TimeMap) -> None:
        font = small_font()
        fm = QFontMetricsF(font)
        painter.setFont(font)
        ticks = compute_ticks(m.t0, m.t1, m.width, self.state.project.fps, fm.horizontalAdvance, m.exposed(80.0))
        fps = self.state.project.fps
        painter.setPen(QPen(color(TICK), 0))
        minor = m.xs(ticks.minor_frames / fps)
        painter.drawLines([QLineF(x, m.bottom - 4, x, m.bottom) for x in minor])
        frames = m.xs(ticks.frames / fps)
        painter.drawLines([QLineF(x, m.bottom - 8, x, m.bottom) for x in frames])
        seconds = m.xs(ticks.seconds)
        painter.drawLines([QLineF(x, m.top, x, m.top + 16) for x in seconds])
        painter.setPen(QPen(color(theme.TEXT), 0))
        for x, t in zip(seconds, ticks.seconds, strict=True):
            text = format_seconds(t, ticks.second_step)
            if x + 4 + fm.horizontalAdvance(text) <= m.right:  # a label cut by the edge reads as another time
                painter.drawText(QPointF(x + 4, m.top + fm.ascent() + 2), text)
        painter.setPen(QPen(color(theme.MUTED), 0))
        for x, f in zip(frames, ticks.frames, strict=True):
            text = str(int(f))
            if x + 3 + fm.horizontalAdvance(text) <= m.right:
                painter.drawText(QPointF(x + 3, m.bottom - 5), text)


class RowHeader(pg.GraphicsWidget):
    """A row's name in the left column (the ruler's also shows the frame rate its frame numbers use)."""

    def __init__(self, title: str, state: TimelineState, show_fps: bool) -> None:
        super().__init__()
        self.title, self.state, self.show_fps = title, state, show_fps

    def paint(self, painter: QPainter, *_args: object) -> None:
        rect = self.boundingRect()
        painter.fillRect(rect, color(theme.PANEL))
        painter.setPen(QPen(color(theme.BORDER), 0))
        painter.drawLine(rect.topRight() + QPointF(-1, 0), rect.bottomRight() + QPointF(-1, 0))
        painter.drawLine(rect.bottomLeft() + QPointF(0, -1), rect.bottomRight() + QPointF(0, -1))
        font = small_font(bold=True)
        font.setLetterSpacing(font.SpacingType.PercentageSpacing, 108)
        painter.setFont(font)
        painter.setPen(QPen(color(theme.MUTED), 0))
        text = rect.adjusted(8, 0, -4, 0)
        if self.show_fps:
            painter.drawText(text.adjusted(0, 2, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                             self.title)
            painter.setFont(small_font())
            painter.drawText(text.adjusted(0, 0, 0, -4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                             f"{self.state.project.fps:g} fps")
        else:
            painter.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.title)


# --- markers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """Where a marker's flag is drawn: the line at ``x``, a tag ``width`` px wide (0: a small pennant only)."""

    marker: Marker
    x: float
    width: float
    text: str

    def hit(self, x: float, slop: float = 4.0) -> bool:
        return self.x - slop <= x <= self.x + max(self.width, 8.0) + 1.0


def layout_flags(markers: Sequence[Marker], x_of: Callable[[float], float], fm: QFontMetricsF) -> list[Flag]:
    """Flags that never overlap: each tag is cut at the next marker, its label elided or dropped to fit."""
    flags: list[Flag] = []
    xs = [x_of(mk.time) for mk in markers]
    for i, mk in enumerate(markers):
        room = (xs[i + 1] - xs[i] - 3.0) if i + 1 < len(markers) else 1e9
        width, text = 0.0, ""
        if mk.label and room >= 22:
            width = min(fm.horizontalAdvance(mk.label) + 10.0, room)
            text = fm.elidedText(mk.label, Qt.TextElideMode.ElideRight, width - 8.0)
        flags.append(Flag(mk, xs[i], width, text))
    return flags


class MarkerLaneItem(RowItem):
    """The lane of marker flags below the ruler (their lines continue through the rows below as overlays)."""

    def flags(self, x_of: Callable[[float], float]) -> list[Flag]:
        return layout_flags(self.state.project.markers, x_of, QFontMetricsF(small_font(bold=True)))

    def paint_row(self, painter: QPainter, m: TimeMap) -> None:
        font = small_font(bold=True)
        painter.setFont(font)
        fm = QFontMetricsF(font)
        top, bottom = m.top + 3.0, m.bottom - 3.0
        for flag in self.flags(m.x):
            if flag.x + max(flag.width, 8.0) < m.left or flag.x > m.right:
                continue
            active = flag.marker == self.state.active_marker
            fill = color(MARKER_ACTIVE if active else MARKER)
            painter.setPen(QPen(fill, 0))
            painter.drawLine(QLineF(flag.x, m.top, flag.x, m.bottom))
            if flag.width:
                painter.fillRect(QRectF(flag.x, top, flag.width, bottom - top), fill)
                painter.setPen(QPen(color(MARKER_TEXT), 0))
                baseline = (top + bottom + fm.ascent() - fm.descent()) / 2.0
                painter.drawText(QPointF(flag.x + 4.0, baseline), flag.text)
            else:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QBrush(fill))
                mid = (top + bottom) / 2.0
                painter.drawPolygon(QPolygonF([QPointF(flag.x, top), QPointF(flag.x + 8.0, mid),
                                               QPointF(flag.x, bottom)]))


# --- overlays: locks, selection, marker lines, playhead ----------------------------------------------


class OverlayItem(RowItem):
    """Drawn above a row's content: pose locks (hatched), the selection, marker lines and the playhead."""

    def __init__(self, state: TimelineState, row: str) -> None:
        super().__init__(state)
        self.row = row
        self.setZValue(100)

    def paint_row(self, painter: QPainter, m: TimeMap) -> None:
        project, state = self.state.project, self.state
        if self.row != "ruler":
            for lock in project.locks:
                self._band(painter, m, lock.start, lock.end, color(LOCK, 34), color(LOCK, 150), hatch=True)
        if state.selection is not None:
            alpha = 70 if self.row == "ruler" else 32
            self._band(painter, m, *state.selection, color(theme.ACCENT, alpha), color(theme.ACCENT, 200))
        if self.row == "ruler" and (span := state.loop_span()) is not None:
            self._loop_bar(painter, m, *span)
        if self.row not in ("ruler", "markers"):
            for mk in project.markers:
                active = mk == state.active_marker
                painter.setPen(QPen(color(MARKER_ACTIVE if active else MARKER, 230 if active else 130), 0))
                x = round(m.x(mk.time))
                painter.drawLine(QLineF(x, m.top, x, m.bottom))
        painter.setPen(QPen(color(theme.BORDER), 0))
        painter.drawLine(QLineF(m.left, m.bottom - 1, m.right, m.bottom - 1))
        self._playhead(painter, m)

    def _band(self, painter: QPainter, m: TimeMap, t0: float, t1: float, fill: QColor, edge: QColor,
              hatch: bool = False) -> None:
        x0, x1 = m.x(t0), m.x(t1)
        if x1 < m.left or x0 > m.right:
            return
        rect = QRectF(x0, m.top, x1 - x0, m.height)
        painter.fillRect(rect, fill)
        if hatch:
            brush = QBrush(color(LOCK, 70), Qt.BrushStyle.BDiagPattern)
            painter.fillRect(rect, brush)
        painter.setPen(QPen(edge, 0))
        painter.drawLines([QLineF(x0, m.top, x0, m.bottom), QLineF(x1, m.top, x1, m.bottom)])

    def _loop_bar(self, painter: QPainter, m: TimeMap, t0: float, t1: float) -> None:
        """The loop range as a bar along the top of the ruler with bracket ends, like a DAW's cycle strip."""
        x0, x1 = round(m.x(t0)), round(m.x(t1))
        if x1 < m.left or x0 > m.right:
            return
        painter.fillRect(QRectF(x0, m.top, x1 - x0, 4.0), color(LOOP, 190))
        for x, inward in ((x0, 1.0), (x1, -1.0)):
            painter.fillRect(QRectF(min(x, x + 2.0 * inward), m.top, 2.0, 10.0), color(LOOP))

    def _playhead(self, painter: QPainter, m: TimeMap) -> None:
        x = round(m.x(self.state.playhead))
        if x < m.left - 30 or x > m.right + 30:
            return
        painter.setPen(QPen(color(PLAYHEAD), 0))
        painter.drawLine(QLineF(x, m.top, x, m.bottom))
        if self.row != "ruler":
            return
        # The current frame in a tag on the ruler (Blender-style): the number the animator keys against.
        font = small_font(bold=True)
        fm = QFontMetricsF(font)
        text = str(int(round(self.state.playhead * self.state.project.fps)))
        w, h = fm.horizontalAdvance(text) + 10.0, fm.height() + 2.0
        rect = QRectF(x - w / 2.0, m.bottom - h - 1.0, w, h)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color(PLAYHEAD)))
        painter.drawRoundedRect(rect, 3.0, 3.0)
        painter.setFont(font)
        painter.setPen(QPen(QColor("#ffffff"), 0))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def playhead_rect(self, seconds: float) -> QRectF:
        """The data-space strip a playhead at ``seconds`` covers (its frame tag included), for minimal repaints."""
        view = self.getViewBox()
        if view is None:
            return self.boundingRect()
        px = view.viewPixelSize()[0]
        return QRectF(seconds - 40 * px, -1.0, 80 * px, 3.0)
