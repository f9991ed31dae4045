"""The timeline widget: ruler, marker flags, waveform, words and phones on one time axis, plus the playhead.

Each row is a pyqtgraph ViewBox X-linked to the ruler's, which :meth:`TimelineView.x_view_box` hands
to the curve editors so that they scroll and zoom with it. The widget observes the project
(audio, markers, locks, fps) and edits it only through commands on the undo stack (DESIGN 2): a
marker drag pushes one ``MoveMarker`` per mouse move, which the stack merges into a single undo
step, sealed on release.

All mouse handling is in this class (rows forward their raw Qt events), because one gesture can
start in one row and continue over another, and because the ruler, the flags and the waveform
give the same button different meanings.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QCursor, QKeyEvent
from PySide6.QtWidgets import QInputDialog, QMenu, QVBoxLayout, QWidget

from mmface_studio.core import document as doc
from mmface_studio.ui import theme
from mmface_studio.ui.timeline import waveform as wf
from mmface_studio.ui.timeline.ruler import (
    ROW_BACKGROUND,
    Flag,
    MarkerLaneItem,
    OverlayItem,
    RowHeader,
    RowItem,
    RulerItem,
    TimelineState,
)
from mmface_studio.ui.timeline.time_axis import GUTTER_PX, AlignedViewBox

#: (row, header title, fixed height in px; 0 = takes the remaining height)
ROWS: tuple[tuple[str, str, int], ...] = (
    ("ruler", "TIME", 34), ("markers", "MARKERS", 20), ("audio", "AUDIO", 0), ("words", "WORDS", 22),
    ("phones", "PHONES", 22),
)
HEADER_WIDTH = GUTTER_PX  # the row names; the curve editors' value axes are as wide, so times line up
WHEEL_ZOOM = 1.02 ** (1 / 8)  # per wheel delta unit: pyqtgraph's own rate, so the curve editors zoom alike
HELP = (
    "<b>Timeline</b><br>"
    "Wheel: zoom around the pointer (Ctrl+wheel too) &middot; Shift+wheel: scroll<br>"
    "Middle-drag: pan &middot; Click or drag in the ruler/waveform: scrub (snaps to frames; hold Alt for free)<br>"
    "Shift+drag in the ruler, or I / O at the playhead: select a time range (playback loops it) &middot; "
    "Esc: clear the selection<br>"
    "Double-click the ruler: add a marker &middot; Drag a flag: move it &middot; Right-click a flag: rename/delete"
)


class _RowBox(AlignedViewBox):
    """One row's ViewBox: fixed Y (0..1), no pyqtgraph mouse handling; raw events go to the TimelineView."""

    def __init__(self, timeline: TimelineView, row: str) -> None:
        super().__init__(enableMenu=False, defaultPadding=0.0)
        self.timeline, self.row = timeline, row
        self.setMouseEnabled(x=False, y=False)
        self.enableAutoRange(enable=False)
        self.setYRange(0.0, 1.0, padding=0.0)
        self.setBackgroundColor(ROW_BACKGROUND[row])
        self.setAcceptHoverEvents(True)
        self.setMinimumHeight(10)

    def mousePressEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        self.timeline._press(self.row, ev)

    def mouseMoveEvent(self, ev: Any) -> None:  # noqa: N802
        self.timeline._move(ev)

    def mouseReleaseEvent(self, ev: Any) -> None:  # noqa: N802
        self.timeline._release(ev)

    def mouseDoubleClickEvent(self, ev: Any) -> None:  # noqa: N802
        self.timeline._double_click(self.row, ev)

    def wheelEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802
        self.timeline._wheel(ev)

    def hoverMoveEvent(self, ev: Any) -> None:  # noqa: N802
        self.timeline._hover(self.row, ev.scenePos())

    def hoverLeaveEvent(self, ev: Any) -> None:  # noqa: N802
        self.timeline._hover(self.row, None)


class _Bridge(QObject):
    """Carries a finished waveform build from the worker thread to the GUI thread (queued signal)."""

    built = Signal(object, object)


class TimelineView(QWidget):
    """The timeline of one project; see the module docstring and :data:`HELP` for the gestures.

    Signals: ``seek_requested(float seconds)`` when the user scrubs; ``selection_changed(object)``
    with ``(t0, t1)`` seconds or None; ``status_message(str)`` when an edit is refused (say, a
    duplicate marker), for the status bar.
    """

    seek_requested = Signal(float)
    selection_changed = Signal(object)
    status_message = Signal(str)

    def __init__(self, project: doc.Project, stack: doc.UndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project, self.stack = project, stack
        self.state = TimelineState(project)
        self._gesture: tuple[Any, ...] | None = None
        self._pending: Any = None
        self._menu: QMenu | None = None
        self._bridge = _Bridge(self)
        self._bridge.built.connect(self._waveform_built)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.BACKGROUND)
        self.graphics.setToolTip(HELP)
        grid = self.graphics.ci
        grid.setContentsMargins(0, 0, 0, 0)
        grid.layout.setSpacing(0)
        grid.layout.setColumnFixedWidth(0, HEADER_WIDTH)
        self.boxes: dict[str, _RowBox] = {}
        self.overlays: dict[str, OverlayItem] = {}
        self.ruler, self.lane = RulerItem(self.state), MarkerLaneItem(self.state)
        self.waveform = wf.WaveformItem(self.state)
        self.words, self.phones = wf.LabelTrackItem(self.state), wf.LabelTrackItem(self.state)
        content: dict[str, RowItem] = {"ruler": self.ruler, "markers": self.lane, "audio": self.waveform,
                                       "words": self.words, "phones": self.phones}
        self.headers: list[RowHeader] = []
        for i, (row, title, height) in enumerate(ROWS):
            header = RowHeader(title, self.state, show_fps=row == "ruler")
            box = _RowBox(self, row)
            grid.addItem(header, row=i, col=0)
            grid.addItem(box, row=i, col=1)
            if height:
                grid.layout.setRowFixedHeight(i, height)
            else:
                grid.layout.setRowStretchFactor(i, 1)
            box.addItem(content[row], ignoreBounds=True)
            self.overlays[row] = OverlayItem(self.state, row)
            box.addItem(self.overlays[row], ignoreBounds=True)
            if self.boxes:
                box.setXLink(self.boxes["ruler"])
            self.boxes[row] = box
            self.headers.append(header)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.setToolTip(HELP)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMinimumHeight(sum(h for *_, h in ROWS) + 60)
        self._attach(project)

    # --- public API ---------------------------------------------------------------------------------

    def x_view_box(self) -> pg.ViewBox:
        """The ViewBox whose X range is the timeline's: ``editor_box.setXLink(timeline.x_view_box())``."""
        return self.boxes["ruler"]

    def visible_range(self) -> tuple[float, float]:
        (t0, t1), _ = self.boxes["ruler"].viewRange()
        return float(t0), float(t1)

    def set_visible_range(self, t0: float, t1: float) -> None:
        self.boxes["ruler"].setXRange(t0, t1, padding=0.0)

    def fit(self) -> None:
        """Show the whole clip (the whole timeline when there is no audio or take yet)."""
        extent = self._extent()
        margin = 0.01 * extent
        self.set_visible_range(-margin, extent + margin)

    def zoom(self, factor: float, around: float | None = None) -> None:
        """Zoom in by ``factor`` (> 1 in, < 1 out) keeping ``around`` (default: the view centre) in place."""
        t0, t1 = self.visible_range()
        c = (t0 + t1) / 2.0 if around is None else around
        self.set_visible_range(c - (c - t0) / factor, c + (t1 - c) / factor)

    def set_playhead(self, seconds: float) -> None:
        """Move the playhead line (from playback or the transport); emits nothing."""
        seconds = float(seconds)
        old, self.state.playhead = self.state.playhead, seconds
        if old != seconds:
            for overlay in self.overlays.values():
                overlay.update(overlay.playhead_rect(old))
                overlay.update(overlay.playhead_rect(seconds))

    def playhead(self) -> float:
        return self.state.playhead

    def selection(self) -> tuple[float, float] | None:
        """The selected time range (Shift+drag in the ruler), e.g. for "Lock selection"; None when empty."""
        return self.state.selection

    def set_selection(self, selection: tuple[float, float] | None) -> None:
        if selection is not None:
            t0, t1 = sorted(float(t) for t in selection)
            selection = (t0, t1) if t1 > t0 else None
        if selection != self.state.selection:
            self.state.selection = selection
            self._update_all()
            self.selection_changed.emit(selection)

    def clear_selection(self) -> None:
        self.set_selection(None)

    def set_loop_enabled(self, on: bool) -> None:
        """Show (or hide) the loop range on the ruler: the selection, else the whole clip."""
        if bool(on) != self.state.loop:
            self.state.loop = bool(on)
            self._update_all()

    def loop_span(self) -> tuple[float, float] | None:
        """The range the ruler shows as looping (None: loop off, or nothing to loop yet)."""
        return self.state.loop_span()

    def extent(self) -> float:
        """Seconds the timeline spans: the clip (audio or take), 10 s for an empty project."""
        return self._extent()

    def set_phonetic_track(self, track: Any) -> None:
        """Show the words and phones of a ``PhoneticTrack`` (None clears them); analysis, not document data."""
        self.words.set_spans(wf.word_spans(track) if track is not None else [])
        self.phones.set_spans(wf.phone_spans(track) if track is not None else [])

    def waveform_ready(self) -> bool:
        """False while the current clip's waveform is still being reduced on the worker thread."""
        return self._pending is None

    def set_project(self, project: doc.Project, stack: doc.UndoStack | None = None) -> None:
        """Show another project (New / Open); the old one is no longer observed."""
        self.detach()
        self.project, self.stack = project, stack if stack is not None else self.stack
        had_selection = self.state.selection is not None
        self.state.project, self.state.selection, self.state.active_marker = project, None, None
        self.state.playhead = 0.0
        self._attach(project)
        if had_selection:
            self.selection_changed.emit(None)

    def detach(self) -> None:
        """Stop observing the project (also done on close)."""
        self.project.events.disconnect(self._on_change)
        self._gesture = None

    def point_at(self, row: str, seconds: float, y: float = 0.5) -> QPoint:
        """Where ``seconds`` is in ``row`` (``y``: 0 bottom .. 1 top), in ``graphics.viewport()`` pixels."""
        scene = self.boxes[row].mapViewToScene(QPointF(seconds, y))
        return self.graphics.mapFromScene(scene)

    def time_at(self, scene_x: float) -> float:
        return float(self.boxes["ruler"].mapSceneToView(QPointF(scene_x, 0.0)).x())

    # --- document ----------------------------------------------------------------------------------

    def _attach(self, project: doc.Project) -> None:
        project.events.connect(self._on_change)
        self._load_audio()
        self._update_limits()
        self.fit()
        self._update_all()

    def _on_change(self, change: doc.Change) -> None:
        kind = change.kind
        if kind == "audio":
            self._load_audio()
            self._update_limits()
            self.fit()
        elif kind == "base" or (kind == "meta" and change.field == "fps"):
            self._update_limits()  # the take's length or the frame grid changed
        elif kind == "markers":
            dragging = self._gesture is not None and self._gesture[0] == "marker"
            if not dragging and self.state.active_marker not in self.project.markers:
                self.state.active_marker = None
        elif kind != "locks":
            return  # emotion, layers and other settings are not drawn on these rows
        self._update_all()

    def _load_audio(self) -> None:
        clip, self._pending = self.project.audio, None
        if clip is None:
            self.waveform.set_pyramid(None, "No audio: import a recording to see its waveform")
            return
        pyramid = wf.cached_pyramid(clip)
        if pyramid is None and clip.original.size <= wf.SYNC_SAMPLES:
            pyramid = wf.pyramid_for(clip)
        if pyramid is not None:
            self.waveform.set_pyramid(pyramid)
            return
        self._pending = clip
        self.waveform.set_pyramid(None, f"Reading waveform of {clip.name or 'the audio'}…")
        bridge = self._bridge

        def done(built_clip: Any, pyramid: Any) -> None:
            try:
                bridge.built.emit(built_clip, pyramid)
            except RuntimeError:  # the view was deleted meanwhile; nothing to show it on
                pass

        wf.build_async(clip, done)

    def _waveform_built(self, clip: Any, pyramid: Any) -> None:
        if clip is self._pending and clip is self.project.audio:
            self._pending = None
            self.waveform.set_pyramid(pyramid)

    def _extent(self) -> float:
        """Seconds the timeline spans: the project's frames (audio or take), 10 s for an empty project."""
        project = self.project
        return project.duration if project.audio is not None or project.base is not None else 10.0

    def _update_limits(self) -> None:
        extent = self._extent()
        has_clip = self.project.audio is not None or self.project.base is not None
        self.state.clip_end = extent if has_clip else None
        pad = max(0.25, 0.05 * extent)
        self.boxes["ruler"].setLimits(xMin=-pad, xMax=extent + pad, minXRange=min(4.0 / self.project.fps, extent),
                                      maxXRange=extent + 2 * pad)

    def _update_all(self) -> None:
        for item in (self.ruler, self.lane, self.waveform, self.words, self.phones, *self.overlays.values()):
            item.update()
        for header in self.headers:
            header.update()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.detach()
        super().closeEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape and self.state.selection is not None:
            self.clear_selection()
            return
        super().keyPressEvent(event)

    # --- gestures ----------------------------------------------------------------------------------

    def _snap(self, t: float, modifiers: Qt.KeyboardModifier) -> float:
        """Clamp to the timeline and, unless Alt is held, snap to the nearest frame (keys live on frames)."""
        t = min(max(t, 0.0), self._extent())
        if modifiers & Qt.KeyboardModifier.AltModifier:
            return t
        fps = self.project.fps
        return min(round(t * fps), int(self._extent() * fps + 1e-6)) / fps

    def _flag_at(self, scene_x: float) -> Flag | None:
        box = self.boxes["markers"]
        flags = self.lane.flags(lambda t: box.mapViewToScene(QPointF(t, 0.0)).x())
        hits = [f for f in flags if f.hit(scene_x)]
        return min(hits, key=lambda f: abs(f.x - scene_x)) if hits else None

    def _press(self, row: str, ev: Any) -> None:
        ev.accept()
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos, button, mods = ev.scenePos(), ev.button(), ev.modifiers()
        t = self.time_at(pos.x())
        if button == Qt.MouseButton.MiddleButton:
            self._gesture = ("pan", pos.x(), self.visible_range(), self.boxes["ruler"].width())
            self.graphics.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button == Qt.MouseButton.RightButton:
            self._context_menu(row, pos.x(), t, ev.screenPos())
        elif button != Qt.MouseButton.LeftButton:
            return
        elif row == "markers" and (flag := self._flag_at(pos.x())) is not None:
            self.stack.seal()  # a new drag is a new undo step, even right after another drag of this marker
            self._gesture = ("marker", flag.marker)
            self.state.active_marker = flag.marker
            self._update_all()
        elif row == "ruler" and mods & Qt.KeyboardModifier.ShiftModifier:
            self._gesture = ("select", self._snap(t, mods))
            self.clear_selection()
        else:
            self._gesture = ("scrub",)
            self._scrub(self._snap(t, mods))

    def _move(self, ev: Any) -> None:
        if self._gesture is None:
            return
        kind, mods = self._gesture[0], ev.modifiers()
        t = self.time_at(ev.scenePos().x())
        if kind == "scrub":
            self._scrub(self._snap(t, mods))
        elif kind == "select":
            self.set_selection((self._gesture[1], self._snap(t, mods)))
        elif kind == "marker":
            self._drag_marker(self._snap(t, mods))
        elif kind == "pan":
            _, x0, (r0, r1), width = self._gesture
            dt = (x0 - ev.scenePos().x()) * (r1 - r0) / max(width, 1.0)
            self.set_visible_range(r0 + dt, r1 + dt)

    def _release(self, ev: Any) -> None:
        if self._gesture is not None and self._gesture[0] == "marker":
            self.stack.seal()
        if self._gesture is not None and self._gesture[0] == "pan":
            self.graphics.viewport().unsetCursor()
        self._gesture = None

    def _double_click(self, row: str, ev: Any) -> None:
        ev.accept()
        if ev.button() != Qt.MouseButton.LeftButton or row not in ("ruler", "markers"):
            self._press(row, ev)
            return
        flag = self._flag_at(ev.scenePos().x()) if row == "markers" else None
        if flag is not None:
            self._rename(flag.marker)
        else:
            self._push(doc.AddMarker(self.project, self._snap(self.time_at(ev.scenePos().x()), ev.modifiers()),
                                 self._next_label()))

    def _wheel(self, ev: Any) -> None:
        ev.accept()
        delta = ev.delta()
        if ev.orientation() == Qt.Orientation.Horizontal or ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            t0, t1 = self.visible_range()
            shift = -delta / 120.0 * 0.15 * (t1 - t0)
            self.set_visible_range(t0 + shift, t1 + shift)
        else:
            self.zoom(WHEEL_ZOOM**delta, around=self.time_at(ev.scenePos().x()))

    def _hover(self, row: str, scene_pos: QPointF | None) -> None:
        if self._gesture is not None:
            return
        flag = self._flag_at(scene_pos.x()) if row == "markers" and scene_pos is not None else None
        box = self.boxes["markers"]
        if flag is not None:
            box.setCursor(QCursor(Qt.CursorShape.SizeHorCursor))
        else:
            box.unsetCursor()
        marker = flag.marker if flag is not None else None
        if marker != self.state.active_marker:
            self.state.active_marker = marker
            self._update_all()

    def _scrub(self, t: float) -> None:
        self.set_playhead(t)
        self.seek_requested.emit(t)

    def _drag_marker(self, t: float) -> None:
        marker: doc.Marker = self._gesture[1]  # type: ignore[index]
        if abs(t - marker.time) < 1e-9:
            return
        moved = doc.Marker(t, marker.label)
        if self._push(doc.MoveMarker(self.project, marker, t)):
            self._gesture = ("marker", moved)
            self.state.active_marker = moved
            self._update_all()

    def _push(self, command: Any) -> bool:
        """Push an edit; an impossible one changes nothing and is reported through ``status_message``."""
        try:
            self.stack.push(command)
        except doc.EditError as exc:
            self.status_message.emit(str(exc))
            return False
        return True

    def _next_label(self) -> str:
        used = {m.label for m in self.project.markers}
        n = len(self.project.markers) + 1
        while f"M{n}" in used:
            n += 1
        return f"M{n}"

    def _rename(self, marker: doc.Marker) -> None:
        label, ok = QInputDialog.getText(self, "Rename marker", "Label:", text=marker.label)
        if ok and label != marker.label:
            self._push(doc.RenameMarker(self.project, marker, label))

    def _context_menu(self, row: str, scene_x: float, t: float, screen_pos: QPoint) -> None:
        if self._menu is not None:
            self._menu.deleteLater()
        menu = self._menu = QMenu(self)
        flag = self._flag_at(scene_x) if row in ("markers", "ruler") else None
        if flag is not None:
            marker = flag.marker
            menu.addAction("Rename marker…", lambda: self._rename(marker))
            menu.addAction("Delete marker", lambda: self._push(doc.RemoveMarker(self.project, marker)))
        else:
            when = self._snap(t, Qt.KeyboardModifier.NoModifier)
            menu.addAction("Add marker here", lambda: self._push(doc.AddMarker(self.project, when, self._next_label())))
            clear = menu.addAction("Clear selection", self.clear_selection)
            clear.setEnabled(self.state.selection is not None)
            menu.addSeparator()
            menu.addAction("Fit whole clip", self.fit)
        # Opened after the press is fully handled: a popup that grabs the mouse in the middle of the
        # press leaves Qt's button-down bookkeeping pointing at a widget that may be gone later.
        QTimer.singleShot(0, menu, lambda: menu.popup(screen_pos))
