"""The channel curve editor: per ARKit channel, the generated base, the edit layer and the result.

The edit layer is an offset curve added to the generated base (``core.project``), so for each
shown channel three lines are drawn in one colour: the base (thin), the layer with its keys
(dashed, around 0: what the animator edits) and the evaluated result (thick, base + layer,
clipped). Keys are edited with the shared :class:`KeyframePlot` gestures and pushed as the core
channel commands; the editor redraws one channel per "layer:<channel>" event and only the
changed rows on "base" (DESIGN 2: views observe the document, never keep their own copy).

The plot spans the editor's full width so that its time axis lines up with the timeline's; the
channels are chosen in a popup (:mod:`channel_chooser`) and listed as coloured chips in the
header, which double as the legend and pick the key target.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from mmface_studio.core.document import (
    AddChannelKey,
    Change,
    Command,
    CurveKey,
    DeleteChannelKeys,
    EditError,
    MoveChannelKeys,
    Project,
    SetChannelKey,
    SetKeyTangents,
    SetLayerCurve,
    UndoStack,
)
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.ui import theme
from mmface_studio.ui.project_binding import ProjectBound
from mmface_studio.ui.timeline.channel_chooser import GROUP_ORDER, ChannelChooser, swatch
from mmface_studio.ui.timeline.edit_push import push_edit
from mmface_studio.ui.timeline.keyframe_plot import HELP, Handle, KeyframePlot

__all__ = ["CHANNEL_COLOURS", "GROUP_ORDER", "ChannelCurveEditor"]

#: Colours of the shown channels, in the order they are shown (apart on dark, apart from the playhead).
CHANNEL_COLOURS: tuple[str, ...] = ("#ffb454", "#59c2ff", "#95e072", "#f07178", "#d2a6ff", "#e6db74", "#4dd4c0",
                                    "#ff8fc7")
MAX_CHIPS = 6  # more shown channels are summarised as "+N", so the header never outgrows the dock

_CHIP_STYLE = f"""
QToolButton {{ color: {theme.MUTED}; background: transparent; border: 1px solid {theme.BORDER};
               border-radius: 9px; padding: 1px 8px 1px 6px; }}
QToolButton:checked {{ color: {theme.TEXT}; background: {theme.RAISED}; border-color: {theme.ACCENT}; }}
QToolButton:hover {{ border-color: {theme.ACCENT}; }}
"""


def _faded(colour: str, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


class ChannelCurveEditor(ProjectBound, QWidget):
    """A full-width plot of base / edit layer / result curves; channels chosen in a popup, shown as chips.

    Signals: ``selection_changed(dict[str, tuple[float, ...]])`` (selected keys per channel),
    ``channels_changed(tuple[str, ...])``, ``focus_changed(str)`` (where K adds a key),
    ``seek_requested(float)``, ``status_message(str)``.
    """

    selection_changed = Signal(object)
    channels_changed = Signal(object)
    focus_changed = Signal(str)
    seek_requested = Signal(float)
    status_message = Signal(str)

    def __init__(self, project: Project, stack: UndoStack, parent: QWidget | None = None,
                 channels: Sequence[str] = ("jawOpen",)) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.stack = stack
        self.plot = KeyframePlot(self, y_zoom=True)
        self.plot.editor = self
        self.plot.seek_requested.connect(self.seek_requested)
        self.plot.selection_changed.connect(self._selection_changed)
        self.plot.focus_track_changed.connect(self._focus_changed)
        self.plot.view_changed.connect(self._view_changed)
        self._shown: tuple[str, ...] = ()
        self._drawn_focus: str | None = None
        self._fitted_duration = -1.0
        self._clipboard: dict[str, tuple[CurveKey, ...]] = {}
        self.chooser = ChannelChooser(self)
        self.chooser.chosen.connect(self._chosen)
        self.chooser.picked.connect(self.set_focused_channel)
        self.tree, self.filter = self.chooser.tree, self.chooser.filter
        self.choose_button = QToolButton()
        self.choose_button.setText("Channels ▾")
        self.choose_button.setToolTip("Choose the channels to show (grouped, with a filter)")
        self.choose_button.clicked.connect(self.open_chooser)
        self.target_label = QLabel("")
        self.target_label.setProperty("role", "muted")
        self.target_label.setToolTip(HELP + " Drag a tangent handle to shape a smooth key (Alt: break the tangents).")
        legend = QLabel("━ result   ┅ edit layer   ─ base")
        legend.setProperty("role", "muted")
        legend.setToolTip("Thick: the result (base + edit layer). Dashed, around 0: the edit layer with its keys. "
                          "Thin: the generated base.")
        header = QWidget()
        header.setStyleSheet(f"background: {theme.PANEL};")
        row = QHBoxLayout(header)
        row.setContentsMargins(8, 4, 8, 4)
        row.setSpacing(6)
        row.addWidget(self.choose_button)
        self.chip_row = QHBoxLayout()
        self.chip_row.setSpacing(6)
        row.addLayout(self.chip_row)
        self.more_label = QLabel("")
        self.more_label.setProperty("role", "muted")
        row.addWidget(self.more_label)
        row.addStretch(1)
        row.addWidget(self.target_label)
        row.addSpacing(12)
        row.addWidget(legend)
        self.chips: dict[str, QToolButton] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(self.plot, 1)
        self.set_project(project, stack)
        self.show_channels(channels)

    # --- project binding --------------------------------------------------------------------------

    def set_project(self, project: Project, stack: UndoStack) -> None:
        """Show ``project`` (edits go to ``stack``); the previous project is no longer observed."""
        self._bind(project, stack)
        self.plot.time_step = 1.0 / project.fps
        self.plot.set_selection([])
        self.chooser.mark_edited(ARKIT52.names, set(project.layers))
        self._redraw(self._shown, refit=True)

    def _on_change(self, change: Change) -> None:
        if change.category == "layer" and change.channel is not None and self.project is not None:
            self.chooser.mark_edited([change.channel], set(self.project.layers))
            if change.channel in self._shown:
                self._redraw([change.channel])
        elif change.kind == "base":
            self._redraw([c for c in self._shown if c in change.channels], refit=self._frames_changed())
        elif (change.kind == "audio" or change.field == "fps") and self.project is not None:
            self.plot.time_step = 1.0 / self.project.fps  # a prompt or rig change needs no redraw
            self._redraw(self._shown, refit=self._frames_changed())

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self.chooser.close()
        super().closeEvent(event)

    # --- public API -------------------------------------------------------------------------------

    def x_view_box(self) -> pg.ViewBox:
        return self.plot.x_view_box()

    def set_playhead(self, seconds: float) -> None:
        self.plot.set_playhead(seconds)

    @property
    def shown_channels(self) -> tuple[str, ...]:
        return self._shown

    @property
    def focused_channel(self) -> str | None:
        focus = self.plot.focus_track
        return str(focus) if focus in self._shown else (self._shown[0] if self._shown else None)

    def show_channels(self, names: Sequence[str]) -> None:
        """Show these channels (selects them in the chooser); the first becomes the key target."""
        for name in names:
            ARKIT52.channel(name)  # unknown names raise with a close-match hint
        self.chooser.select(names)
        self._chosen(self.chooser.chosen_names())
        if names:
            self.set_focused_channel(names[0])

    def set_focused_channel(self, name: str) -> None:
        if name in self._shown:
            self.plot.set_focus_track(name)

    def open_chooser(self) -> None:
        """The channel list, under the Channels button."""
        self.chooser.popup_at(self.choose_button.mapToGlobal(QPoint(0, self.choose_button.height())))

    def selected_keys(self) -> dict[str, tuple[float, ...]]:
        picked: dict[str, list[float]] = {}
        for channel, time in self.plot.selection:
            picked.setdefault(str(channel), []).append(time)
        return {ch: tuple(sorted(ts)) for ch, ts in picked.items()}

    # --- chooser ----------------------------------------------------------------------------------

    def _chosen(self, shown: tuple[str, ...]) -> None:
        if shown == self._shown:
            return
        for gone in set(self._shown) - set(shown):
            for part in ("base", "layer", "result"):
                self.plot.remove_curve(f"{gone}:{part}")
            self.plot.remove_keys(gone)
        self._shown = shown
        self.chooser.set_colours({name: self._colour(name) for name in shown})
        self._build_chips()
        self._redraw(shown, refit=True)
        if self.plot.focus_track not in shown and shown:
            self.plot.set_focus_track(shown[0])
        self._focus_changed(self.plot.focus_track)
        self.channels_changed.emit(shown)

    def _build_chips(self) -> None:
        """One chip per shown channel (its colour: the legend); clicking one makes it the key target."""
        for chip in self.chips.values():
            self.chip_row.removeWidget(chip)
            chip.deleteLater()
        self.chips = {}
        for name in self._shown[:MAX_CHIPS]:
            chip = QToolButton()
            chip.setText(name)
            chip.setIcon(swatch(self._colour(name)))
            chip.setIconSize(QSize(10, 10))
            chip.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
            chip.setCheckable(True)
            chip.setStyleSheet(_CHIP_STYLE)
            chip.setToolTip(f"Make {name} the key target (K adds its keys)")
            chip.clicked.connect(lambda _=False, n=name: self.set_focused_channel(n))
            self.chip_row.addWidget(chip)
            self.chips[name] = chip
        extra = len(self._shown) - MAX_CHIPS
        self.more_label.setText(f"+{extra} more" if extra > 0 else "")
        self.more_label.setToolTip(", ".join(self._shown[MAX_CHIPS:]))

    def _selection_changed(self) -> None:
        self.selection_changed.emit(self.selected_keys())

    def _focus_changed(self, track: Hashable | None) -> None:
        name = self.focused_channel
        if name != self._drawn_focus:
            self._drawn_focus = name
            self._redraw(self._shown)
        for chip_name, chip in self.chips.items():
            chip.setChecked(chip_name == name)
        self.target_label.setText(f"Key target (K): <b>{name}</b>" if name else "Choose channels to edit")
        if name:
            self.focus_changed.emit(name)

    # --- drawing ----------------------------------------------------------------------------------

    def _colour(self, name: str) -> str:
        index = self._shown.index(name) if name in self._shown else 0
        return CHANNEL_COLOURS[index % len(CHANNEL_COLOURS)]

    def _frames_changed(self) -> bool:
        return self.project is not None and abs(self._fitted_duration - self.project.duration) > 1e-9

    def _redraw(self, channels: Sequence[str], *, refit: bool = False) -> None:
        project = self.project
        if project is None:
            return
        frames = project.frame_times()
        result = project.evaluate().values
        for name in channels:
            row, channel, colour = ARKIT52.index[name], ARKIT52.channel(name), self._colour(name)
            base = project.base.values[row] if project.base is not None else np.full(frames.size, channel.default)
            layer = project.layer(name)
            key_t = np.array(layer.times)
            # Pens chosen for repaint cost as much as looks (see KeyframePlot.set_curve): hairline
            # antialiased base, aliased dashes for the layer; the result is 2 px (aliased) only for
            # the key target, a bright hairline for the others.
            focused = name == self.focused_channel
            self.plot.set_curve(f"{name}:base", frames, base, pen=pg.mkPen(_faded(colour, 130), width=1), z=2)
            self._draw_layer(name)
            self.plot.set_curve(f"{name}:result", frames, result[row], pen=pg.mkPen(colour, width=2 if focused else 1),
                                z=6 + focused, antialias=not focused)
            span = channel.maximum - channel.minimum
            tangents = np.array([layer.resolved_tangents(t) for t in layer.times]).reshape(-1, 2)
            self.plot.set_keys(name, key_t, [k.value for k in layer.keys], colour=colour, value_range=(-span, span),
                               modes=[k.interpolation for k in layer.keys], tangents=tangents, z=30)
        if refit:
            self._refit()

    def _draw_layer(self, name: str) -> None:
        """The edit layer, sampled for the visible range (again when the view changes)."""
        if self.project is None:
            return
        layer = self.project.layer(name)
        times = self.plot.display_times(0.0, max(self.project.duration, 1e-3), layer.times)
        self.plot.set_curve(f"{name}:layer", times, layer.sample(times), antialias=False, z=4,
                            pen=pg.mkPen(_faded(self._colour(name), 220), width=1, style=Qt.DashLine))

    def _view_changed(self) -> None:
        for name in self._shown:
            self._draw_layer(name)

    def _refit(self) -> None:
        """Y extent: the whole 0..1 range for weights (a stable scale), the data (padded) for rotations."""
        project = self.project
        assert project is not None
        lo, hi = 0.0, 1.0 if any(ARKIT52.channel(n).maximum == 1.0 for n in self._shown) else 0.0
        result, frames = project.evaluate().values, project.frame_times()
        for name in self._shown:
            row = ARKIT52.index[name]
            rows = [result[row], project.layer(name).sample(frames)]
            rows += [project.base.values[row]] if project.base is not None else []
            lo, hi = min(lo, *(float(r.min()) for r in rows)), max(hi, *(float(r.max()) for r in rows))
        pad = max((hi - lo) * 0.06, 0.02)
        self._fitted_duration = self.project.duration
        self.plot.set_extent(self.project.duration, lo - pad, hi + pad)

    # --- KeyEditor: gestures -> commands ----------------------------------------------------------

    def _push(self, command: Command, *, seal: bool = True) -> bool:
        return push_edit(self.stack, command, self.status_message.emit, seal=seal)

    @staticmethod
    def _by_channel(handles: Sequence[Handle]) -> dict[str, list[float]]:
        picked: dict[str, list[float]] = {}
        for channel, time in handles:
            picked.setdefault(str(channel), []).append(time)
        return picked

    def begin_gesture(self) -> None:
        self.stack.seal()

    def end_gesture(self) -> None:
        self.stack.seal()

    def move_keys(self, handles: Sequence[Handle], dt: float, dv: float) -> bool:
        if self.project is None:
            return False
        return self._push(MoveChannelKeys(self.project, self._by_channel(handles), dt, dv), seal=False)

    def set_tangent(self, handle: Handle, side: str, slope: float, broken: bool) -> bool:
        """Unified tangents by default (both sides take the slope); Alt-drag breaks them."""
        if self.project is None:
            return False
        name, time = str(handle[0]), handle[1]
        in_slope, out_slope = self.project.layer(name).resolved_tangents(time) if broken else (slope, slope)
        if broken:
            in_slope, out_slope = (slope, out_slope) if side == "in" else (in_slope, slope)
        return self._push(SetKeyTangents(self.project, name, time, in_slope, out_slope), seal=False)

    def reset_tangents(self, handles: Sequence[Handle]) -> None:
        self._each(handles, "Auto tangents", lambda ch, t: SetKeyTangents(self.project, ch, t, None, None))

    def set_interpolation(self, handles: Sequence[Handle], mode: str) -> None:
        self._each(handles, f"Set interpolation to {mode}",
                   lambda ch, t: SetChannelKey(self.project, ch, t, interpolation=mode))

    def _each(self, handles: Sequence[Handle], text: str, make: object) -> None:
        if self.project is None or not handles:
            return
        self.stack.seal()
        try:
            with self.stack.compound(text):
                for channel, times in self._by_channel(handles).items():
                    for time in times:
                        self.stack.push(make(channel, time))  # type: ignore[operator]
        except EditError as exc:
            self.status_message.emit(str(exc))

    def delete_keys(self, handles: Sequence[Handle]) -> None:
        if self.project is not None and handles:
            self._push(DeleteChannelKeys(self.project, self._by_channel(handles)))

    def copy_keys(self, handles: Sequence[Handle]) -> None:
        if self.project is None:
            return
        self._clipboard = {ch: tuple(self.project.layer(ch).key_at(t) for t in sorted(times))
                           for ch, times in self._by_channel(handles).items()}
        count = sum(len(k) for k in self._clipboard.values())
        self.status_message.emit(f"Copied {count} key(s).")

    def paste_keys(self, at: float) -> None:
        """Paste so the earliest copied key lands at ``at``; one copied channel pastes onto the key target."""
        if self.project is None or not self._clipboard:
            return
        at = self._snap(at)
        first = min(k.time for keys in self._clipboard.values() for k in keys)
        target = self.focused_channel
        sources = self._clipboard
        if len(sources) == 1 and target is not None:
            sources = {target: next(iter(sources.values()))}
        pasted: list[Handle] = []
        self.stack.seal()
        try:
            with self.stack.compound("Paste keys"):
                for channel, keys in sources.items():
                    curve = self.project.layer(channel)
                    for key in keys:
                        moved = key.moved(at - first)
                        curve = curve.with_key(moved, replace_existing=True)
                        pasted.append((channel, moved.time))
                    self.stack.push(SetLayerCurve(self.project, channel, curve))
        except (EditError, ValueError) as exc:
            self.status_message.emit(str(exc))
            return
        self.plot.set_selection(pasted)

    def add_key(self, at: float, track: Hashable | None) -> None:
        """A key on the key target at ``at`` holding the layer's current value (0 where there is no key)."""
        name = str(track) if track in self._shown else self.focused_channel
        if self.project is None or name is None:
            self.status_message.emit("Select a channel to key first.")
            return
        at = self._snap(at)
        value = float(self.project.layer(name).sample([at])[0])
        if self._push(AddChannelKey(self.project, name, CurveKey(at, value))):
            self.plot.set_selection([(name, at)])

    def _snap(self, seconds: float) -> float:
        step = self.plot.time_step
        return max(0.0, round(seconds / step) * step if step > 0 else seconds)
