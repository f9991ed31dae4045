"""A reusable pyqtgraph plot for keyframed curves: the gestures both curve editors share.

The emotion and channel editors need the same gestures (pick, box-select, drag with an axis
lock, delete, copy/paste, add at the playhead, tangents) but push different commands. So the plot
owns only what is on screen (sampled curves, key handles, selection, playhead) and turns gestures
into calls on a :class:`KeyEditor` (the editor widget), which pushes undoable commands; it never
edits or copies the document (DESIGN 2: the editor redraws from the document's events).

A key handle is ``(track, time)``: the document addresses keys by time as well, and a time is
stable while an index changes whenever a key is dragged past a neighbour.

The handle sprites, the seekable time axis and the ViewBox live in :mod:`keyframe_items`, the
keyboard shortcuts and the right-click menu in :mod:`keyframe_keys`.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsRectItem, QMenu, QWidget

from mmface_studio.ui import theme
from mmface_studio.ui.timeline.keyframe_items import HandleItem, KeyViewBox, SeekAxis
from mmface_studio.ui.timeline.keyframe_keys import KeyCommands
from mmface_studio.ui.timeline.time_axis import GUTTER_PX

Handle = tuple[Hashable, float]
PLOT_BG = "#1c1d21"
PICK_RADIUS = 8.0  # px: how near a click must be to grab a handle
TANGENT_LENGTH = 44.0  # px: tangent handles keep their on-screen length at any zoom
_TIME_TOL = 1e-5
HELP = ("Click a key to select it (Shift/Ctrl-click adds), drag on empty space to box-select. Drag keys in time and "
        "value (Shift: one axis). K: key at the playhead. Del: delete. Ctrl+C / Ctrl+V: copy, paste at the playhead. "
        "Right-click: interpolation. F: frame all. Wheel: zoom time; middle-drag: pan; click the time axis: seek.")


class KeyEditor(Protocol):
    """What an editor does with the plot's gestures; each edit pushes undoable commands."""

    def begin_gesture(self) -> None: ...
    def end_gesture(self) -> None: ...
    def move_keys(self, handles: Sequence[Handle], dt: float, dv: float) -> bool: ...
    def set_tangent(self, handle: Handle, side: str, slope: float, broken: bool) -> bool: ...
    def delete_keys(self, handles: Sequence[Handle]) -> None: ...
    def copy_keys(self, handles: Sequence[Handle]) -> None: ...
    def paste_keys(self, at: float) -> None: ...
    def add_key(self, at: float, track: Hashable | None) -> None: ...
    def set_interpolation(self, handles: Sequence[Handle], mode: str) -> None: ...
    def reset_tangents(self, handles: Sequence[Handle]) -> None: ...


@dataclass
class _Track:
    times: np.ndarray
    values: np.ndarray
    value_range: tuple[float, float]
    modes: tuple[str, ...]
    tangents: np.ndarray | None  # (n, 2): resolved in/out slopes, None = no tangent handles
    item: HandleItem
    z: float = 20.0


@dataclass
class _Drag:
    kind: str  # "keys" | "tangent" | "band"
    grabbed: Handle | None = None
    side: str = ""
    start: dict[Handle, tuple[float, float]] = field(default_factory=dict)
    current: list[Handle] = field(default_factory=list)
    applied: tuple[float, float] = (0.0, 0.0)
    origin: QPointF = field(default_factory=QPointF)


class KeyframePlot(KeyCommands, pg.PlotWidget):
    """Curves, key handles, selection and playhead on a dark plot; gestures go to the ``KeyEditor``.

    Display: ``set_curve``/``remove_curve`` (drawn lines), ``set_keys``/``remove_keys`` (editable
    handles per track). Selection: ``selection``, ``set_selection``, ``selection_changed``.
    Time: ``set_playhead``, ``playhead``, ``seek_requested`` (click/drag on the time axis),
    ``x_view_box()`` for X-linking with the timeline, ``time_step`` (key times snap to it: 1/fps).
    """

    selection_changed = Signal()
    seek_requested = Signal(float)
    focus_track_changed = Signal(object)
    #: The visible range or size changed: analytic curves sampled by ``display_times`` need new samples.
    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, y_zoom: bool = False) -> None:
        view = KeyViewBox(enableMenu=False)
        axis = SeekAxis("bottom")
        super().__init__(parent, background=PLOT_BG, viewBox=view, axisItems={"bottom": axis})
        view.owner = weakref.ref(self)
        axis.seek.connect(self.seek_requested)
        self.editor: KeyEditor | None = None
        #: Seconds a dragged key snaps to (1/fps); 0 disables snapping.
        self.time_step = 0.0
        self._tracks: dict[Hashable, _Track] = {}
        self._curves: dict[str, pg.PlotCurveItem] = {}
        self._selection: list[Handle] = []
        self._focus: Hashable | None = None
        self._drag: _Drag | None = None
        self._extent = (0.0, 1.0, 0.0, 1.0)
        self._menu: QMenu | None = None
        self._style(y_zoom)

    def _style(self, y_zoom: bool) -> None:
        item, view = self.getPlotItem(), self.x_view_box()
        item.hideButtons()
        item.setMenuEnabled(False)
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(theme.BORDER))
            axis.setTextPen(pg.mkPen(theme.MUTED))
            axis.setTickFont(font)
        item.getAxis("left").setWidth(GUTTER_PX)  # the timeline's header width: times line up with its rows
        item.getAxis("bottom").setHeight(24)
        view.setMouseEnabled(x=True, y=y_zoom)
        self.setFocusPolicy(Qt.StrongFocus)
        # Our own grid: pyqtgraph's (drawn by the axes across the plot) costs ~20 ms per repaint here.
        self._grid = [self._overlay(pg.PlotCurveItem(pen=pg.mkPen(c), connect="pairs", antialias=False), z)
                      for c, z in (("#2b2d33", -10), ("#232429", -11))]
        self._playhead = self._overlay(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(theme.ACCENT, width=1.5)), 60)
        self._tangent_lines = self._overlay(pg.PlotCurveItem(pen=pg.mkPen("#c9ccd3"), connect="pairs"), 65)
        self._tangent_dots = self._overlay(HandleItem("o", 8, pen="#15161a", brush="#e6e8ec"), 66)
        self._selected = self._overlay(HandleItem("d", 14, pen=pg.mkPen("#ffffff", width=1.8),
                                                  brush=(255, 255, 255, 50)), 70)
        self._band = self._overlay(QGraphicsRectItem(), 75, visible=False)
        self._band.setPen(pg.mkPen(theme.ACCENT, width=1, style=Qt.DashLine))
        self._band.setBrush(pg.mkBrush(76, 155, 232, 40))
        self._readout = self._overlay(pg.TextItem(color=theme.TEXT, fill=pg.mkBrush(theme.PANEL),
                                                  anchor=(-0.08, 1.25)), 80, visible=False)
        view.sigRangeChanged.connect(self._view_changed)
        view.sigResized.connect(self._view_changed)

    def _overlay(self, item: Any, z: float, *, visible: bool = True) -> Any:
        item.setZValue(z)
        item.setVisible(visible)
        self.x_view_box().addItem(item, ignoreBounds=True)
        return item

    def _view_changed(self, *_: Any) -> None:
        self._draw_grid()
        self._draw_tangents()
        self.view_changed.emit()

    def _draw_grid(self) -> None:
        """Major and minor tick lines of both axes as two line-pair items (cheap to repaint)."""
        view, item = self.x_view_box(), self.getPlotItem()
        (x0, x1), (y0, y1) = view.viewRange()
        segments: list[list[tuple[float, float]]] = [[], []]
        for axis, lo, hi, size in (("bottom", x0, x1, view.width()), ("left", y0, y1, view.height())):
            ticks = item.getAxis(axis).tickValues(lo, hi, max(size, 1.0))
            for level, (_, values) in enumerate(ticks[:2]):
                for v in values:
                    if level == 1 and any(abs(v - m) < 1e-12 for m in ticks[0][1]):
                        continue
                    segments[level] += [(v, y0), (v, y1)] if axis == "bottom" else [(x0, v), (x1, v)]
        for line, pairs in zip(self._grid, segments, strict=True):
            data = np.array(pairs, dtype=np.float64).reshape(-1, 2)
            line.setData(data[:, 0], data[:, 1])

    # --- public display API -------------------------------------------------------------------------

    def x_view_box(self) -> pg.ViewBox:
        """The ViewBox whose X range the main window links with the timeline's (``setXLink``)."""
        return self.getPlotItem().getViewBox()

    @property
    def playhead(self) -> float:
        return float(self._playhead.value())

    def set_playhead(self, seconds: float) -> None:
        self._playhead.setValue(float(seconds))

    def set_extent(self, duration: float, y_min: float, y_max: float) -> None:
        """What 'frame all' (F) shows; also applied now."""
        self._extent = (0.0, max(float(duration), 1e-3), float(y_min), float(y_max))
        self.frame_all()

    def frame_all(self) -> None:
        x0, x1, y0, y1 = self._extent
        self.x_view_box().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def set_curve(self, name: str, x: np.ndarray, y: np.ndarray, *, pen: Any, z: float = 0.0,
                  antialias: bool = True) -> None:
        """Draw (or replace the data of) the display-only line ``name``.

        Antialiasing is cheap only for hairline pens: an antialiased 2 px line over a minute of
        per-frame data costs ~30 ms a repaint, so wide or dashed pens should pass ``antialias=False``.
        """
        curve = self._curves.get(name)
        if curve is None:
            curve = self._curves[name] = pg.PlotCurveItem(antialias=True)
            self.x_view_box().addItem(curve)
        curve.setPen(pen)
        curve.setZValue(z)
        curve.setData(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), antialias=antialias)

    def remove_curve(self, name: str) -> None:
        curve = self._curves.pop(name, None)
        if curve is not None:
            self.x_view_box().removeItem(curve)

    def display_times(self, start: float, end: float, instants: Sequence[float] = ()) -> np.ndarray:
        """Where to sample an analytic curve on [start, end] for display.

        One sample per 2 pixels of the visible part (a margin either side for panning), plus each
        key's instant and the instant just before it, so a step draws as a sharp edge. Per-frame
        samples would cost 3x the points at full view (path building and stroking dominate a drag
        step's repaint) and facet smooth curves when zoomed in.
        """
        view = self.x_view_box()
        (x0, x1), _ = view.viewRange()
        margin = 0.25 * (x1 - x0)
        lo, hi = max(start, x0 - margin), min(end, x1 + margin)
        if not hi > lo:
            lo, hi = start, end
        count = int(min(max(0.5 * view.width() * (hi - lo) / max(x1 - x0, 1e-9), 200), 4000))
        keys = np.asarray(instants, dtype=np.float64)
        keys = keys[(keys >= lo) & (keys <= hi)]
        return np.unique(np.concatenate([np.linspace(lo, hi, count), keys, np.maximum(keys - 1e-6, lo)]))

    def curve_names(self) -> tuple[str, ...]:
        return tuple(self._curves)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The drawn samples of ``name`` (what a test or a screenshot check reads back)."""
        return self._curves[name].getData()

    def set_keys(self, track: Hashable, times: Sequence[float], values: Sequence[float], *, colour: QColor | str,
                 value_range: tuple[float, float], modes: Sequence[str] = (), tangents: np.ndarray | None = None,
                 z: float = 20.0) -> None:
        """Show the editable keys of ``track``; the selection keeps handles that still exist."""
        entry = self._tracks.get(track)
        if entry is None:
            item = HandleItem(symbol="d", size=10, pen=pg.mkPen("#111214", width=1))
            self.x_view_box().addItem(item, ignoreBounds=True)
            entry = self._tracks[track] = _Track(np.zeros(0), np.zeros(0), value_range, (), None, item, z)
        entry.times = np.asarray(times, dtype=np.float64)
        entry.values = np.asarray(values, dtype=np.float64)
        entry.value_range = (float(value_range[0]), float(value_range[1]))
        entry.modes = tuple(modes) or ("smooth",) * entry.times.size
        entry.tangents = None if tangents is None else np.asarray(tangents, dtype=np.float64).reshape(-1, 2)
        entry.z = z
        entry.item.setZValue(z + (5 if track == self._focus else 0))
        entry.item.setData(x=entry.times, y=entry.values, brush=pg.mkBrush(colour))
        if self._drag is None:
            self.set_selection(self._selection)  # drop handles that are gone
        self._draw_selection()

    def remove_keys(self, track: Hashable) -> None:
        entry = self._tracks.pop(track, None)
        if entry is not None:
            self.x_view_box().removeItem(entry.item)
            self.set_selection(self._selection)  # drop handles that are gone

    def key_value(self, handle: Handle) -> float | None:
        entry, i = self._find(handle)
        return None if entry is None else float(entry.values[i])

    def widget_pos(self, time: float, value: float) -> QPoint:
        """Where a point of the plot is in ``viewport()`` pixels (for tests and tooltips)."""
        return self.mapFromScene(self.x_view_box().mapViewToScene(QPointF(time, value)))

    # --- selection ----------------------------------------------------------------------------------

    @property
    def selection(self) -> tuple[Handle, ...]:
        return tuple(self._selection)

    def set_selection(self, handles: Iterable[Handle]) -> None:
        resolved = [h for h in (self._resolve(h) for h in handles) if h is not None]
        unique = list(dict.fromkeys(resolved))
        if unique != self._selection:
            self._selection = unique
            self._draw_selection()
            self.selection_changed.emit()

    @property
    def focus_track(self) -> Hashable | None:
        return self._focus

    def set_focus_track(self, track: Hashable | None) -> None:
        if track != self._focus:
            self._focus = track
            for name, entry in self._tracks.items():
                entry.item.setZValue(entry.z + (5 if name == track else 0))
            self.focus_track_changed.emit(track)

    def _find(self, handle: Handle) -> tuple[_Track | None, int]:
        entry = self._tracks.get(handle[0])
        if entry is None or not entry.times.size:
            return None, -1
        i = int(np.argmin(np.abs(entry.times - handle[1])))
        return (entry, i) if abs(entry.times[i] - handle[1]) < _TIME_TOL else (None, -1)

    def _resolve(self, handle: Handle) -> Handle | None:
        entry, i = self._find(handle)
        return None if entry is None else (handle[0], float(entry.times[i]))

    def _draw_selection(self) -> None:
        points = [(h[1], v) for h in self._selection if (v := self.key_value(h)) is not None]
        self._selected.setData(pos=np.array(points, dtype=np.float64).reshape(-1, 2))
        self._draw_tangents()

    def _draw_tangents(self) -> None:
        segments = [p for ((handle, _), tip) in self.tangent_handles().items()
                    for p in ((handle[1], self.key_value(handle)), tip)]
        data = np.array(segments, dtype=np.float64).reshape(-1, 2)
        self._tangent_lines.setData(data[:, 0], data[:, 1])
        self._tangent_dots.setData(pos=data[1::2])

    def tangent_handles(self) -> dict[tuple[Handle, str], tuple[float, float]]:
        """Tips of the selected smooth keys' tangent handles, ``TANGENT_LENGTH`` px from the key at any zoom.

        ``{(handle, "in"|"out"): (time, value)}``.
        """
        pw, ph = (max(abs(p), 1e-12) for p in self.x_view_box().viewPixelSize())
        out = {}
        for handle in self._selection:
            entry, i = self._find(handle)
            if entry is None or entry.tangents is None or entry.modes[i] != "smooth":
                continue
            for side, slope, sign in (("in", entry.tangents[i, 0], -1.0), ("out", entry.tangents[i, 1], 1.0)):
                run = TANGENT_LENGTH / float(np.hypot(1.0 / pw, slope / ph))  # seconds along the tangent
                out[(handle, side)] = (float(entry.times[i] + sign * run), float(entry.values[i] + sign * run * slope))
        return out

    # --- picking ------------------------------------------------------------------------------------

    def _pick(self, pos: QPointF) -> tuple[str, Handle, str] | None:
        """The handle under ``pos`` (view coords): ("key", handle, "") or ("tangent", handle, side)."""
        pw, ph = (max(abs(p), 1e-12) for p in self.x_view_box().viewPixelSize())
        best: tuple[float, tuple[str, Handle, str]] | None = None
        for track, entry in self._tracks.items():
            if not entry.times.size:
                continue
            d = np.hypot((entry.times - pos.x()) / pw, (entry.values - pos.y()) / ph)
            i = int(np.argmin(d))
            score = float(d[i]) - (1.5 if track == self._focus else 0.0)
            if d[i] <= PICK_RADIUS and (best is None or score <= best[0]):
                best = (score, ("key", (track, float(entry.times[i])), ""))
        for (handle, side), (x, y) in self.tangent_handles().items():
            d = float(np.hypot((x - pos.x()) / pw, (y - pos.y()) / ph))
            if d <= PICK_RADIUS and (best is None or d - 2.0 < best[0]):
                best = (d - 2.0, ("tangent", handle, side))
        return None if best is None else best[1]

    def _click(self, ev: Any) -> None:
        ev.accept()
        self.setFocus(Qt.MouseFocusReason)
        hit = self._pick(self.x_view_box().mapSceneToView(ev.scenePos()))
        handle = hit[1] if hit is not None else None
        if ev.button() == Qt.RightButton:
            if handle is not None and handle not in self._selection:
                self.set_selection([handle])
            self._show_menu(ev.screenPos().toPoint())
        elif ev.modifiers() & Qt.ControlModifier and handle in self._selection:
            self.set_selection([h for h in self._selection if h != handle])  # Ctrl-click toggles
        else:
            self._select_hit(handle, ev.modifiers())

    def _select_hit(self, handle: Handle | None, mods: Any) -> None:
        """Plain click: only this key (or nothing); Shift/Ctrl: add it."""
        extend = bool(mods & (Qt.ShiftModifier | Qt.ControlModifier))
        if handle is not None:
            self.set_focus_track(handle[0])
        if handle is None:
            self.set_selection(self._selection if extend else [])
        elif handle not in self._selection:
            self.set_selection([*self._selection, handle] if extend else [handle])
        elif not extend:
            self.set_selection([handle])

    # --- drags --------------------------------------------------------------------------------------

    def _drag_event(self, ev: Any) -> None:
        ev.accept()
        view, mods = self.x_view_box(), ev.modifiers()
        pos = view.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self.setFocus(Qt.MouseFocusReason)
            start = view.mapSceneToView(ev.buttonDownScenePos())
            hit = self._pick(start)
            if hit is None:  # empty space: rubber-band selection
                self._drag = _Drag("band", origin=start)
            elif hit[0] == "tangent" and self.editor is not None:
                self._drag = _Drag("tangent", grabbed=hit[1], side=hit[2])
                self.editor.begin_gesture()
            else:
                if hit[1] not in self._selection:
                    self._select_hit(hit[1], mods)
                self.set_focus_track(hit[1][0])
                self.begin_key_drag(hit[1])
        drag = self._drag
        if drag is not None and drag.kind == "band":
            rect = QRectF(drag.origin, pos).normalized()
            self._band.setRect(rect)
            self._band.setVisible(not ev.isFinish())
            if ev.isFinish():
                self._drag = None
                inside = [(t, float(x)) for t, e in self._tracks.items()
                          for x, y in zip(e.times, e.values, strict=True) if rect.contains(QPointF(x, y))]
                keep = self._selection if mods & (Qt.ShiftModifier | Qt.ControlModifier) else []
                self.set_selection([*keep, *inside])
            return
        if drag is not None and drag.kind == "tangent":
            self.drag_tangent_to(pos.x(), pos.y(), broken=bool(mods & Qt.AltModifier))
        elif drag is not None:
            self.drag_keys_to(pos.x(), pos.y(), one_axis=bool(mods & Qt.ShiftModifier))
        if ev.isFinish():
            self.end_drag()

    def begin_key_drag(self, grabbed: Handle) -> None:
        """Start moving the selection (``grabbed`` is the handle under the mouse; selected if not yet)."""
        if grabbed not in self._selection:
            self.set_selection([grabbed])
        start = {h: (h[1], v) for h in self._selection if (v := self.key_value(h)) is not None}
        self._drag = _Drag("keys", grabbed=grabbed, start=start, current=list(start))
        if self.editor is not None:
            self.editor.begin_gesture()

    def drag_keys_to(self, time: float, value: float, *, one_axis: bool = False) -> None:
        """Move the grabbed key towards (time, value); the whole selection follows, within range."""
        drag = self._drag
        if drag is None or drag.kind != "keys" or drag.grabbed not in drag.start or self.editor is None:
            return
        t0, v0 = drag.start[drag.grabbed]
        dt, dv = time - t0, value - v0
        if one_axis:
            pw, ph = (max(abs(p), 1e-12) for p in self.x_view_box().viewPixelSize())
            dt, dv = (dt, 0.0) if abs(dt) / pw >= abs(dv) / ph else (0.0, dv)
        if self.time_step > 0 and dt:
            dt = round((t0 + dt) / self.time_step) * self.time_step - t0
        dt = max(dt, -min(t for t, _ in drag.start.values()))
        low = max(self._tracks[h[0]].value_range[0] - v for h, (_, v) in drag.start.items())
        high = min(self._tracks[h[0]].value_range[1] - v for h, (_, v) in drag.start.items())
        dv = min(max(dv, low), high)
        ddt, ddv = dt - drag.applied[0], dv - drag.applied[1]
        if abs(ddt) < 1e-9 and abs(ddv) < 1e-12:
            return
        if self.editor.move_keys(list(drag.current), ddt, ddv):
            drag.applied = (drag.applied[0] + ddt, drag.applied[1] + ddv)
            drag.current = [(h[0], h[1] + ddt) for h in drag.current]
            drag.current = [self._resolve(h) or h for h in drag.current]
            self.set_selection(drag.current)
        self._show_readout(drag.current[list(drag.start).index(drag.grabbed)])

    def drag_tangent_to(self, time: float, value: float, *, broken: bool = False) -> None:
        """Aim the tangent handle at (time, value): slope = rise over run from the key."""
        drag = self._drag
        if drag is None or drag.kind != "tangent" or drag.grabbed is None or self.editor is None:
            return
        entry, i = self._find(drag.grabbed)
        if entry is None:
            return
        t, v = float(entry.times[i]), float(entry.values[i])
        run = time - t
        run = max(run, 1e-3) if drag.side == "out" else min(run, -1e-3)
        self.editor.set_tangent(drag.grabbed, drag.side, (value - v) / run, broken)

    def end_drag(self) -> None:
        """End a key/tangent drag: the editor seals the undo step."""
        if self._drag is not None and self._drag.kind != "band" and self.editor is not None:
            self.editor.end_gesture()
        self._drag = None
        self._readout.hide()
        self.set_selection(self._selection)  # drop handles that are gone

    def _show_readout(self, handle: Handle) -> None:
        value = self.key_value(handle)
        if value is None:
            return
        frame = f"  f{round(handle[1] / self.time_step)}" if self.time_step > 0 else ""
        self._readout.setText(f"{handle[1]:.2f} s{frame}   {value:.3f}")
        self._readout.setPos(handle[1], value)
        self._readout.show()
        self._readout.updateTransform(force=True)  # it was hidden, so it never painted and never learned its scale
