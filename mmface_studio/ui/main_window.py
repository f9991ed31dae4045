"""The main window: viewport in the centre, panels on the right, timeline below, transport at the bottom.

The window owns views only; the document lives in :class:`ProjectController`
(project + undo stack + engine session). Menus are built in ``main_menus``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QProgressBar, QWidget

from mmface_studio.core.document import RecoveryStore, SetProperty
from mmface_studio.core.performance import Performance
from mmface_studio.core.tour import expression_tour
from mmface_studio.rig.base import Rig
from mmface_studio.rig.loading import load_rig
from mmface_studio.ui.docks import DockTabTitles, side_dock, tab_bar_width
from mmface_studio.ui.live.live_mode import install_live_mode
from mmface_studio.ui.main_menus import build_menus
from mmface_studio.ui.panels.channel_meter import ChannelMeter
from mmface_studio.ui.panels.generate_panel import GeneratePanel
from mmface_studio.ui.panels.identity import IdentityPanel
from mmface_studio.ui.panels.pose_panel import PosePanel
from mmface_studio.ui.project_controller import ProjectController
from mmface_studio.ui.timeline_area import TimelineArea
from mmface_studio.ui.transport import TransportBar
from mmface_studio.ui.viewport.widget import HeadViewport
from mmface_studio.ui.workers import TaskRunner

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".raw", ".pcm"}


class MainWindow(QMainWindow):
    def __init__(self, parent: QWidget | None = None, recovery: RecoveryStore | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MMFace Studio")
        self.resize(1440, 900)
        self.setAcceptDrops(True)
        self.rig: Rig | None = None
        self._preview: Performance | None = None  # shown while the project has no generated take
        self.tasks = TaskRunner(self)
        self.controller = ProjectController(self, recovery)
        self.viewport = HeadViewport(self)
        self.setCentralWidget(self.viewport)
        self.transport = TransportBar(self)
        self.addToolBar(Qt.BottomToolBarArea, self.transport)
        self.transport.frame_changed.connect(self.show_frame)

        self.generate_panel = GeneratePanel(self.controller)
        self.timeline = TimelineArea(self.controller, self.transport)
        self.pose_panel = PosePanel(self.controller, selection_source=self.timeline.selection)
        self.identity_panel = IdentityPanel()
        self.identity_panel.identity_changed.connect(self._identity_edited)
        self.channel_meter = ChannelMeter()
        # Short tab titles so the five tabs (with Live) fit the column whole; the View menu says more.
        self.generate_dock = side_dock(self, "Generate", self.generate_panel, "generate")
        self.pose_dock = side_dock(self, "Pose", self.pose_panel, "head-pose", "Head pose")
        self.emotion_key_dock = side_dock(self, "Emotion", self.timeline.emotion_panel, "emotion-key", "Emotion key")
        self.identity_dock = side_dock(self, "Identity", self.identity_panel, "identity")
        self.channels_dock = self._dock("Active channels", self.channel_meter, Qt.RightDockWidgetArea)
        self.tabifyDockWidget(self.generate_dock, self.pose_dock)
        self.tabifyDockWidget(self.pose_dock, self.emotion_key_dock)
        self.tabifyDockWidget(self.emotion_key_dock, self.identity_dock)
        self.timeline_dock = self._dock("Timeline", self.timeline, Qt.BottomDockWidgetArea)
        self.timeline_dock.setMinimumHeight(220)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.fps_label = QLabel("")
        self.rig_label = QLabel("Loading head…")
        for widget in (self.progress_bar, self.fps_label, self.rig_label):
            self.statusBar().addPermanentWidget(widget)
        self._frame_times: list[float] = []
        self.live = install_live_mode(self)  # Live dock + status readout (issue 8)
        self.generate_dock.raise_()  # after Live joined the tabs: tabbing a dock in makes it current
        self._dock_tabs = DockTabTitles(self)
        build_menus(self)
        # Dock sizes only take once the window is laid out (before show, resizeDocks is ignored).
        QTimer.singleShot(0, self, self._size_docks)

        c = self.controller
        c.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        c.failed.connect(lambda title, text: QMessageBox.warning(self, title, text))
        c.busy_changed.connect(self._busy)
        c.progressed.connect(lambda f, _s: self.progress_bar.setValue(int(f * 1000)))
        c.performance_changed.connect(self._performance_changed)
        c.project_replaced.connect(self._project_replaced)
        c.path_changed.connect(lambda _p: self._update_title())
        c.stack.changed.connect(lambda _s: self._update_title())
        self._project_replaced(c.project)

    # ----------------------------------------------------------------- building
    def _size_docks(self) -> None:
        self.resizeDocks([self.generate_dock, self.channels_dock], [560, 160], Qt.Vertical)
        width = max(360, tab_bar_width(self, self.generate_dock) + 8)  # every tab title whole
        self.resizeDocks([self.generate_dock], [width], Qt.Horizontal)
        # Room for the curve editors under the timeline rows; on a short window (1440x900) a little less,
        # so the Generate panel above still shows its button without scrolling.
        timeline = min(420, round(0.43 * self.height()))
        self.resizeDocks([self.timeline_dock], [timeline], Qt.Vertical)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower().replace(" ", "-"))
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable)
        dock.setMinimumWidth(300)
        self.addDockWidget(area, dock)
        return dock

    def _update_title(self) -> None:
        name = self.controller.path.name if self.controller.path else "Untitled"
        dirty = " •" if self.controller.stack.is_dirty else ""
        self.setWindowTitle(f"{name}{dirty} — MMFace Studio")

    # -------------------------------------------------------------------- rigs
    def load_rig_async(self, flame_path: str | Path | None) -> None:
        """Build/load the rig on a worker thread; the window stays responsive."""
        what = f"FLAME model {Path(flame_path).name}" if flame_path else "built-in head"
        self.statusBar().showMessage(f"Loading {what}…")
        self.tasks.submit(lambda: load_rig(flame_path), self.set_rig, lambda exc: self._rig_failed(what, exc))

    def _rig_failed(self, what: str, exc: Exception) -> None:
        self.statusBar().showMessage(f"Could not load {what}.", 8000)
        QMessageBox.warning(self, "Could not load head", f"Could not load the {what}.\n\n{exc}")

    def set_rig(self, rig: Rig) -> None:
        self.rig = rig
        identity = {k: v for k, v in self.controller.project.identity.items()
                    if k in {c.name for c in rig.identity_controls()}}
        if identity:
            rig.set_identity(identity)
        self.viewport.set_rig(rig)
        self.identity_panel.set_controls(rig.name, rig.identity_controls(), rig.identity())
        self.rig_label.setText(f"{rig.name} · {rig.vertex_count:,} vertices · {rig.face_count:,} triangles")
        self.statusBar().showMessage(f"Loaded {rig.name}.", 4000)
        if self.controller.project.base is None or rig.space.name != "arkit52":
            self.play_tour(autoplay=not self.transport.playing)
        self._performance_changed()

    def _identity_edited(self, values: dict[str, float]) -> None:
        self.controller.stack.push(SetProperty(self.controller.project, "identity", values))

    def _apply_identity(self) -> None:
        if self.rig is None:
            return
        known = {c.name for c in self.rig.identity_controls()}
        self.rig.set_identity({k: v for k, v in self.controller.project.identity.items() if k in known}
                              or {c.name: c.default for c in self.rig.identity_controls()})
        self.show_frame(self.transport.frame)

    # ------------------------------------------------------------- performance
    @property
    def performance(self) -> Performance | None:
        """What the viewport plays: the project's evaluated take, else the preview (tour)."""
        evaluated = self.controller.evaluated()
        if evaluated is not None and (self.rig is None or evaluated.space is self.rig.space):
            return evaluated
        return self._preview

    def play_tour(self, autoplay: bool = True) -> None:
        if self.rig is None:
            return
        self._preview = expression_tour(self.rig.space)
        self._performance_changed()
        if autoplay:
            self.transport.play()

    def _performance_changed(self) -> None:
        perf = self.performance
        if perf is None:
            return
        if (self.transport.clock.fps, self.transport.clock.frame_count) != (perf.fps, perf.frame_count):
            self.transport.set_timeline(perf.fps, perf.frame_count)
        self.show_frame(self.transport.frame)

    def _project_replaced(self, project) -> None:
        project.events.connect(self._on_change)
        self.timeline.set_project(project)
        self.generate_panel.refresh()
        self._apply_identity()
        self.transport.set_audio(project.audio)
        self._update_title()
        self._performance_changed()

    def _on_change(self, change) -> None:
        if change.kind == "audio":
            self.transport.set_audio(self.controller.project.audio)
        elif change.kind == "meta" and change.field == "identity":
            self._apply_identity()
            panel = self.identity_panel
            for name, value in self.controller.project.identity.items():
                if abs(panel.values().get(name, value) - value) > 1e-6:
                    panel.blockSignals(True)
                    panel.set_value(name, value)
                    panel.blockSignals(False)
        elif change.kind == "meta" and change.field in ("prompt", "transcript", "engine", "pose_style", "pose_seed"):
            self.generate_panel.refresh()

    def current_params(self) -> np.ndarray | None:
        if self.rig is None:
            return None
        perf = self.performance
        if perf is None or perf.space is not self.rig.space:
            return self.rig.space.defaults
        return perf.frame(self.transport.frame)

    def show_frame(self, frame: int) -> None:
        params = self.current_params()
        if params is None:
            return
        self.viewport.show_vertices(self.rig.deform(params))
        self.channel_meter.show_frame(self.rig.space, params)
        self.timeline.set_playhead(frame / self.transport.clock.fps)
        self._count_fps()

    def _count_fps(self) -> None:
        now = time.perf_counter()
        self._frame_times = [t for t in self._frame_times if now - t < 1.0] + [now]
        self.fps_label.setText(f"{len(self._frame_times)} fps" if self.transport.playing else "")

    def _busy(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.act_cancel.setEnabled(busy)
        if not busy and self.controller.project.base is not None:
            self.transport.seek(0)
            self.transport.play()

    # ---------------------------------------------------------------- demo clip
    def generate_demo(self) -> None:
        """Load the espeak-ng demo line with its transcript, a mood and a style, then generate."""
        from mmface_studio.core.document import Project, SetAudio, SetEmotionTrack
        from mmface_studio.engine.demo import demo_request

        request = demo_request()
        if self.controller.stack.is_dirty and not self.confirm_discard():
            return
        self.controller.replace_project(Project())
        project, stack = self.controller.project, self.controller.stack
        with stack.compound("Demo clip"):
            stack.push(SetAudio(project, request.audio))
            stack.push(SetProperty(project, "transcript", request.transcript))
            stack.push(SetProperty(project, "prompt", request.prompt))
            stack.push(SetProperty(project, "pose_style", request.pose_style))
            stack.push(SetEmotionTrack(project, request.emotion))
        self.controller.generate()

    # ------------------------------------------------------------------ files
    def confirm_discard(self) -> bool:
        """Ask before losing unsaved edits: Save / Discard / Cancel. True when it is fine to go on."""
        if not self.controller.stack.is_dirty:
            return True
        answer = QMessageBox.question(self, "Unsaved changes", "The project has unsaved changes. Save them?",
                                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
                                      QMessageBox.Save)
        if answer == QMessageBox.Save:
            from mmface_studio.ui.main_menus import save_project_as

            return self.controller.save() if self.controller.path else save_project_as(self)
        return answer == QMessageBox.Discard

    def open_path(self, path: str | Path) -> None:
        """Open a project file or import an audio file, by suffix (also used by drag and drop)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".mmfs":
            if self.confirm_discard():
                self.controller.open_project(path)
        elif suffix in AUDIO_SUFFIXES:
            self.controller.import_audio(path)
        else:
            QMessageBox.warning(self, "Cannot open", f"{path.name}: MMFace Studio opens .mmfs projects and "
                                f"audio files ({', '.join(sorted(AUDIO_SUFFIXES))}).")

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt naming
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                break

    def offer_recovery(self) -> None:
        """After a crash: offer the newest autosave of a session that is no longer running."""
        store = self.controller.recovery
        entries = store.pending() if store is not None else []
        if not entries:
            return
        entry = entries[0]
        answer = QMessageBox.question(self, "Recover unsaved work?",
                                      f"MMFace Studio closed unexpectedly. Recover “{entry.name}” autosaved at "
                                      f"{entry.saved_at:%H:%M:%S}?", QMessageBox.Yes | QMessageBox.No)
        if answer == QMessageBox.Yes:
            project = store.recover(entry)
            self.controller.replace_project(project, None)
            self.controller.stack.reset_clean()
            self._update_title()
        else:
            store.discard(entry)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self.live.shutdown()  # stop listening; a take being recorded joins the project before "save?"
        if not self.confirm_discard():
            event.ignore()
            return
        self.transport.pause()
        self.transport.close_audio()
        self.controller.shutdown()
        self.tasks.wait_all()
        self.timeline.close_views()
        self.viewport.close_canvas()
        super().closeEvent(event)
