"""The bottom dock: timeline (waveform, words, markers) above the emotion and channel curve editors.

All rows share one time axis (their X ranges are linked) and one playhead. The
views are rebuilt when the project is replaced (New / Open), since each view
observes exactly one document.
"""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from mmface_studio.ui.project_controller import ProjectController


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
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.timeline)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        controller.phonetics_changed.connect(self._phonetics)

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
