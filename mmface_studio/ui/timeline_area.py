"""The bottom dock: timeline (waveform, words, markers) above the emotion and channel curve editors.

All rows share one time axis (their X ranges are linked) and one playhead. The
views are rebuilt when the project is replaced (New / Open), since each view
observes exactly one document.

The timeline's selection is also the transport's loop range (as In/Out points are in video
editors): I and O set its start and end at the playhead, Ctrl+Shift+X clears it, and the ruler shows
what loops.
"""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from mmface_studio.ui.project_controller import ProjectController

TIMELINE_HEIGHT = 172  # px of the timeline rows at start (ruler, markers, ~70 px waveform, words, phones)


def _as_track(analysis) -> SimpleNamespace | None:
    """The engine's Analysis (tuples) as the word/phone objects the timeline draws."""
    if analysis is None:
        return None
    words = tuple(SimpleNamespace(text=t, start=s, end=e) for t, s, e in analysis.words)
    phones = tuple(SimpleNamespace(label=p.label, start=p.start, end=p.end) for p in analysis.phones)
    return SimpleNamespace(words=words, phones=phones, mode=analysis.mode)


class TimelineArea(QWidget):
    def __init__(self, controller: ProjectController, transport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from mmface_studio.ui.panels.emotion_sliders import EmotionKeyPanel
        from mmface_studio.ui.timeline.channel_editor import ChannelCurveEditor
        from mmface_studio.ui.timeline.emotion_editor import EmotionCurveEditor
        from mmface_studio.ui.timeline.timeline_view import TimelineView

        self.controller = controller
        self.transport = transport
        project, stack = controller.project, controller.stack
        self.timeline = TimelineView(project, stack)
        self.emotion_editor = EmotionCurveEditor(project, stack)
        self.channel_editor = ChannelCurveEditor(project, stack)
        self.emotion_panel = EmotionKeyPanel(project, stack)
        self.emotion_panel.connect_editor(self.emotion_editor)
        self.views = (self.timeline, self.emotion_editor, self.channel_editor)
        for view in self.views:
            view.seek_requested.connect(self._seek)
            view.status_message.connect(lambda text: controller.message.emit(text, 5000))
        for view in (self.emotion_editor, self.channel_editor):
            view.x_view_box().setXLink(self.timeline.x_view_box())

        # The key panel lives in a side dock (see MainWindow) so the editors span the timeline's full
        # width: linked X ranges only line up on screen when the plots are as wide as the ruler.
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.emotion_editor, "Emotion")
        self.tabs.addTab(self.channel_editor, "Channels")
        # A hidden tab's plot keeps the range it had when it was last laid out; line it up when shown.
        self.tabs.currentChanged.connect(lambda _i: self._align_editor(self.tabs.currentWidget()))
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.timeline)
        splitter.addWidget(self.tabs)
        # The curve editors get the height: the timeline's rows are fixed but for the waveform, which
        # reads well at ~70 px; a curve editor squeezed under a tall waveform is too flat to edit.
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([TIMELINE_HEIGHT, 2 * TIMELINE_HEIGHT])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        controller.phonetics_changed.connect(self._phonetics)
        controller.emotion_priors_changed.connect(self._priors)

        self.timeline.selection_changed.connect(transport.set_loop_range)
        transport.act_loop.toggled.connect(self.timeline.set_loop_enabled)
        self.timeline.set_loop_enabled(transport.act_loop.isChecked())
        transport.set_loop_range(self.timeline.selection())
        self.act_in = self._action("Set loop start (in point) at the playhead", "I", self.set_in_point)
        self.act_out = self._action("Set loop end (out point) at the playhead", "O", self.set_out_point)
        self.act_clear_range = self._action("Clear the loop range", "Ctrl+Shift+X", self.timeline.clear_selection)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """Tall enough for the rows and a curve editor one can edit in: the dock starts at this height."""
        hint = super().sizeHint()
        return QSize(hint.width(), max(hint.height(), 3 * TIMELINE_HEIGHT))

    def _action(self, text: str, key: str, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _playhead_seconds(self) -> float:
        return self.transport.frame / self.transport.clock.fps

    def set_in_point(self) -> None:
        """The selection (loop range) starts at the playhead; keeps its end if later, else runs to the end."""
        t, selection = self._playhead_seconds(), self.timeline.selection()
        end = selection[1] if selection is not None and selection[1] > t else self.timeline.extent()
        self.timeline.set_selection((t, end))

    def set_out_point(self) -> None:
        """The selection (loop range) ends at the playhead; keeps its start if earlier, else starts at 0."""
        t, selection = self._playhead_seconds(), self.timeline.selection()
        start = selection[0] if selection is not None and selection[0] < t else 0.0
        self.timeline.set_selection((start, t))

    def _align_editor(self, editor) -> None:
        if editor is not None:
            editor.x_view_box().linkedXChanged()

    def set_project(self, project) -> None:
        """Point every view at the (new) document; the views disconnect from the old one."""
        stack = self.controller.stack
        for view in (*self.views, self.emotion_panel):
            view.set_project(project, stack)

    def _seek(self, seconds: float) -> None:
        self.transport.seek(int(round(seconds * self.transport.clock.fps)))

    def _phonetics(self, analysis) -> None:
        track = _as_track(analysis)
        if track is not None:
            self.timeline.set_phonetic_track(track)

    def _priors(self, priors: tuple | None) -> None:
        """The voice-predicted emotion of the current take, overlaid on the emotion curves."""
        self.emotion_editor.set_priors(*(priors if priors is not None else (None, None)))

    def set_playhead(self, seconds: float) -> None:
        for view in self.views:
            view.set_playhead(seconds)

    def selection(self) -> tuple[float, float] | None:
        return self.timeline.selection()

    def fit(self) -> None:
        self.timeline.fit()

    def close_views(self) -> None:
        for view in (*self.views, self.emotion_panel):
            view.detach()
