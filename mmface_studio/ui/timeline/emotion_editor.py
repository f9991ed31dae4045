"""The emotion curve editor: the 7 emotion intensities of the project's emotion track, keyframed.

Every emotion key holds all 7 intensities, so one key shows up as 7 handles, one per curve. A
handle is ``(emotion name, key time)``: dragging it vertically changes that emotion of that key,
horizontally it moves the whole key. Edits are commands on the app's undo stack; the editor
redraws from the project's "emotion" events only, never from its own state (DESIGN 2).

The voice-predicted emotion (the engine's audio prior, given with :meth:`EmotionCurveEditor.set_priors`
like the phones on the timeline: analysis, not document data) is drawn as a faint dotted curve
per emotion: the keyed curve as the voice bends it at the project's follow-voice weight, i.e.
what the engine animates (``core.emotion_track.follow_voice``). At 0 % it lies on the keyed curve.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from mmface_studio.core.document import (
    EMOTIONS,
    AddEmotionKey,
    Change,
    Command,
    DeleteEmotionKeys,
    DragEmotionKeys,
    EditError,
    EmotionKey,
    PasteEmotionKeys,
    Project,
    SetEmotionKey,
    UndoStack,
)
from mmface_studio.core.emotion_track import follow_voice
from mmface_studio.ui import theme
from mmface_studio.ui.panels.follow_voice import FollowVoiceControl
from mmface_studio.ui.project_binding import ProjectBound
from mmface_studio.ui.timeline.edit_push import push_edit
from mmface_studio.ui.timeline.keyframe_plot import HELP, Handle, KeyframePlot

#: One colour per emotion, chosen to stay apart on the dark plot (and from the blue playhead).
EMOTION_COLOURS: dict[str, str] = {
    "neutral": "#aeb4bf", "happiness": "#f2c94c", "sadness": "#5b8def", "surprise": "#3fd0c9",
    "fear": "#b483f0", "disgust": "#7cc767", "anger": "#f06060",
}

_CHIP_STYLE = f"""
QToolButton {{ color: {theme.TEXT}; background: {theme.RAISED}; border: 1px solid {theme.BORDER};
               border-radius: 9px; padding: 1px 8px 1px 6px; }}
QToolButton:checked {{ background: {theme.RAISED}; color: {theme.TEXT}; }}
QToolButton:!checked {{ background: transparent; color: {theme.MUTED}; }}
QToolButton:hover {{ border-color: {theme.ACCENT}; }}
"""


def _swatch(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class EmotionCurveEditor(ProjectBound, QWidget):
    """Seven coloured intensity curves with key handles, a legend and the voice-prior overlay.

    Signals: ``selection_changed(tuple[float, ...])`` (the selected keys' times, for
    :class:`~mmface_studio.ui.panels.emotion_sliders.EmotionKeyPanel`), ``seek_requested(float)``,
    ``status_message(str)`` (why an edit was refused). Keys: K adds a key at the playhead with the
    blend there, Delete, Ctrl+C/Ctrl+V, Shift-drag for one axis, right-click for interpolation.
    """

    selection_changed = Signal(object)
    seek_requested = Signal(float)
    status_message = Signal(str)

    def __init__(self, project: Project, stack: UndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.stack = stack
        self.plot = KeyframePlot(self)
        self.plot.editor = self
        self.plot.seek_requested.connect(self.seek_requested)
        self.plot.selection_changed.connect(self._plot_selection_changed)
        self.plot.focus_track_changed.connect(self._draw_curves)
        self.plot.view_changed.connect(self._draw_curves)
        self._hidden: set[str] = set()
        self._priors: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # times, 7 x T, mean (7,)
        self._clipboard: tuple[EmotionKey, ...] = ()
        self._emitted: tuple[float, ...] = ()
        self._duration = -1.0
        self.chips: dict[str, QToolButton] = {}
        self.follow_voice = FollowVoiceControl(project, stack, compact=True)
        self.follow_voice.status_message.connect(self.status_message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._header())
        layout.addWidget(self.plot, 1)
        self.set_project(project, stack)

    def _header(self) -> QWidget:
        header = QWidget(self)
        header.setStyleSheet(f"background: {theme.PANEL};")
        row = QHBoxLayout(header)
        row.setContentsMargins(8, 4, 8, 4)
        row.setSpacing(6)
        title = QLabel("Emotion")
        title.setStyleSheet("font-weight: 600;")
        title.setToolTip(HELP)
        row.addWidget(title)
        row.addSpacing(6)
        for name in EMOTIONS:
            chip = QToolButton(header)
            chip.setText(name)
            chip.setIcon(_swatch(EMOTION_COLOURS[name]))
            chip.setIconSize(QSize(10, 10))
            chip.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
            chip.setCheckable(True)
            chip.setChecked(True)
            chip.setStyleSheet(_CHIP_STYLE)
            chip.setToolTip(f"Show or hide the {name} curve")
            chip.toggled.connect(lambda on, n=name: self.set_emotion_visible(n, on))
            self.chips[name] = chip
            row.addWidget(chip)
        row.addStretch(1)
        row.addWidget(self.follow_voice)
        return header

    # --- project binding --------------------------------------------------------------------------

    def set_project(self, project: Project, stack: UndoStack) -> None:
        """Show ``project`` (edits go to ``stack``); the previous project is no longer observed."""
        self._bind(project, stack)
        self.follow_voice.set_project(project, stack)
        self.plot.time_step = 1.0 / project.fps
        self.plot.set_selection([])
        self._redraw()

    def detach(self) -> None:
        """Stop observing the project, the follow-voice control in the header included."""
        if hasattr(self, "follow_voice"):
            self.follow_voice.detach()
        super().detach()

    def _on_change(self, change: Change) -> None:
        if change.kind == "emotion":
            self._redraw()
        elif change.kind == "meta" and change.field == "emotion_prior_weight":
            self._draw_curves()  # the overlay follows the weight
        elif (change.kind in ("base", "audio") or change.field == "fps") and self.project is not None:
            self.plot.time_step = 1.0 / self.project.fps
            if abs(self._span() - self._duration) > 1e-9:
                self._redraw()

    # --- public API -------------------------------------------------------------------------------

    def x_view_box(self) -> pg.ViewBox:
        return self.plot.x_view_box()

    def set_playhead(self, seconds: float) -> None:
        self.plot.set_playhead(seconds)

    def selected_times(self) -> tuple[float, ...]:
        return tuple(sorted({h[1] for h in self.plot.selection}))

    def select_keys(self, times: Sequence[float], emotion: str | None = None) -> None:
        """Select the keys at ``times`` (the handle of ``emotion``, else each key's strongest emotion)."""
        if self.project is None:
            return
        handles = []
        for key in self.project.emotion.keys:
            if any(abs(key.time - t) < 1e-5 for t in times):
                name = emotion or EMOTIONS[int(np.argmax(key.gammas))]
                handles.append((name, key.time))
        self.plot.set_selection(handles)

    def set_emotion_visible(self, name: str, visible: bool) -> None:
        (self._hidden.discard if visible else self._hidden.add)(name)
        if self.chips[name].isChecked() != visible:
            self.chips[name].setChecked(visible)
        self._redraw()

    def set_priors(self, times: np.ndarray | None, priors: np.ndarray | None) -> None:
        """Overlay the voice-predicted emotion ((7, T) at ``times`` s, the engine's prior; None: none).

        The weight it is followed by is the project's ``emotion_prior_weight`` (the header's control).
        """
        if times is None or priors is None:
            self._priors = None
        else:
            values = np.asarray(priors, dtype=np.float64)
            if values.shape != (len(EMOTIONS), len(times)) or not len(times):
                raise ValueError(f"Priors must be ({len(EMOTIONS)}, {len(times)}), got {values.shape}.")
            self._priors = (np.asarray(times, dtype=np.float64), values, values.mean(axis=1))
        self._redraw()

    @property
    def has_priors(self) -> bool:
        return self._priors is not None

    # --- drawing ----------------------------------------------------------------------------------

    def _redraw(self) -> None:
        """Everything from the document: the extent (when the length changed), curves, key handles."""
        if self.project is None:
            return
        track = self.project.emotion
        duration = self._span()
        if abs(duration - self._duration) > 1e-9:
            self._duration = duration
            self.plot.set_extent(duration, -0.03, 1.05)
        self._draw_curves()
        key_times = [k.time for k in track.keys]
        modes = [k.interpolation for k in track.keys]
        for e, name in enumerate(EMOTIONS):
            if name in self._hidden:
                self.plot.remove_keys(name)
            else:
                self.plot.set_keys(name, key_times, [k.gammas[e] for k in track.keys], colour=EMOTION_COLOURS[name],
                                   value_range=(0.0, 1.0), modes=modes, z=30 + e)

    def _span(self) -> float:
        """Seconds the editor shows: the clip, or up to just past the last key when keys lie beyond it."""
        assert self.project is not None
        last = max((k.time for k in self.project.emotion.keys), default=0.0)
        return max(self.project.duration, last + 0.5, 1.0)

    def _draw_curves(self, *_: object) -> None:
        """The curves, sampled for the visible range (the plot asks again when the view changes)."""
        if self.project is None:
            return
        track = self.project.emotion
        times = self.plot.display_times(0.0, self._duration, [k.time for k in track.keys])
        values = track.sample(times)
        followed = self._followed(times, values)
        focus = self.plot.focus_track
        for e, name in enumerate(EMOTIONS):
            if name in self._hidden:
                for curve in (f"emotion:{name}", f"prior:{name}"):
                    self.plot.remove_curve(curve)
                continue
            colour = EMOTION_COLOURS[name]
            focused = name == focus  # wide only for the focused curve: wide antialiased pens are slow
            self.plot.set_curve(f"emotion:{name}", times, values[e], pen=pg.mkPen(colour, width=2 if focused else 1),
                                z=10 + e + (10 if focused else 0))
            if followed is not None:
                faint = QColor(colour)
                faint.setAlpha(150)
                self.plot.set_curve(f"prior:{name}", times, followed[e],
                                    pen=pg.mkPen(faint, width=1, style=Qt.DotLine), z=5, antialias=False)

    def _followed(self, times: np.ndarray, keyed: np.ndarray) -> np.ndarray | None:
        """The keyed intensities at ``times`` as the voice bends them (what the engine animates), or None."""
        if self._priors is None or self.project is None:
            for name in EMOTIONS:
                self.plot.remove_curve(f"prior:{name}")
            return None
        prior_t, prior, mean = self._priors
        at = np.vstack([np.interp(times, prior_t, row) for row in prior])
        return follow_voice(keyed, at, self.project.emotion_prior_weight, mean=mean)

    def _plot_selection_changed(self) -> None:
        times = self.selected_times()
        if times != self._emitted:
            self._emitted = times
            self.selection_changed.emit(times)

    # --- KeyEditor: gestures -> commands ----------------------------------------------------------

    def _push(self, command: Command, *, seal: bool = True) -> bool:
        return push_edit(self.stack, command, self.status_message.emit, seal=seal)

    def begin_gesture(self) -> None:
        self.stack.seal()

    def end_gesture(self) -> None:
        self.stack.seal()

    def move_keys(self, handles: Sequence[Handle], dt: float, dv: float) -> bool:
        if self.project is None:
            return False
        edits: dict[float, set[int]] = {}
        for name, time in handles:
            edits.setdefault(time, set()).add(EMOTIONS.index(str(name)))
        return self._push(DragEmotionKeys(self.project, edits, dt, dv), seal=False)

    def set_tangent(self, handle: Handle, side: str, slope: float, broken: bool) -> bool:
        return False  # emotion keys have eased segments, not tangents

    def reset_tangents(self, handles: Sequence[Handle]) -> None:
        return None

    def delete_keys(self, handles: Sequence[Handle]) -> None:
        if self.project is not None and handles:
            self._push(DeleteEmotionKeys(self.project, sorted({h[1] for h in handles})))

    def copy_keys(self, handles: Sequence[Handle]) -> None:
        if self.project is None:
            return
        times = {h[1] for h in handles}
        self._clipboard = tuple(k for k in self.project.emotion.keys if any(abs(k.time - t) < 1e-5 for t in times))
        self.status_message.emit(f"Copied {len(self._clipboard)} emotion key(s).")

    def paste_keys(self, at: float) -> None:
        if self.project is None or not self._clipboard:
            return
        at = self._snap(at)
        if self._push(PasteEmotionKeys(self.project, self._clipboard, at=at)):
            first = min(k.time for k in self._clipboard)
            self.select_keys([k.time - first + at for k in self._clipboard])

    def add_key(self, at: float, track: Hashable | None) -> None:
        if self.project is None:
            return
        at = self._snap(at)
        if self._push(AddEmotionKey(self.project, EmotionKey(at, self.project.emotion_at(at)))):
            self.select_keys([at], str(track) if track in EMOTIONS else None)

    def set_interpolation(self, handles: Sequence[Handle], mode: str) -> None:
        if self.project is None or not handles:
            return
        times = sorted({h[1] for h in handles})
        self.stack.seal()
        try:
            with self.stack.compound(f"Set interpolation to {mode}"):
                for time in times:
                    self.stack.push(SetEmotionKey(self.project, time, interpolation=mode))
        except EditError as exc:
            self.status_message.emit(str(exc))

    def _snap(self, seconds: float) -> float:
        step = self.plot.time_step
        return max(0.0, round(seconds / step) * step if step > 0 else seconds)
