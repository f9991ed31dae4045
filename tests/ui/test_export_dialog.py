"""Export dialog: choose format and range, export off the GUI thread, cancel leaves nothing behind."""

from __future__ import annotations

from pygltflib import GLTF2

from mmface_studio.ui.export_dialog import FORMATS, ExportDialog


def _dialog(main_window, qtbot) -> ExportDialog:
    dialog = ExportDialog(main_window.performance, main_window.rig, parent=main_window)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_export_glb_with_a_frame_range(main_window, qtbot, tmp_path) -> None:
    dialog = _dialog(main_window, qtbot)
    dialog.format_box.setCurrentIndex([suffix for _, suffix, _ in FORMATS].index(".glb"))
    assert not dialog.up_box.isEnabled(), "glTF is always Y-up metres"
    dialog.path_edit.setText(str(tmp_path / "take"))
    dialog.start_spin.setValue(10)
    dialog.end_spin.setValue(40)
    with qtbot.waitSignal(dialog.exported, timeout=60000) as blocker:
        dialog.export_button.click()
    path = tmp_path / "take.glb"
    assert blocker.args == [str(path)] and path.is_file()
    gltf = GLTF2().load(str(path))
    assert len(gltf.meshes[0].extras["targetNames"]) == 52
    assert gltf.animations and gltf.accessors[gltf.animations[0].samplers[0].input].count == 31


def test_cancel_leaves_no_file(main_window, qtbot, tmp_path) -> None:
    dialog = _dialog(main_window, qtbot)
    dialog.format_box.setCurrentIndex(0)  # FBX
    dialog.path_edit.setText(str(tmp_path / "take.fbx"))
    dialog.export_button.click()
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: dialog._cancel is None, timeout=60000)
    leftovers = list(tmp_path.glob("*.part")) + list(tmp_path.glob(".*.part"))
    assert leftovers == []
    if dialog.error:  # cancelled in time: nothing under the final name
        assert "cancelled" in dialog.error and not (tmp_path / "take.fbx").exists()


def test_unwritable_target_is_reported_in_the_dialog(main_window, qtbot, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    dialog = _dialog(main_window, qtbot)
    dialog.format_box.setCurrentIndex(0)
    dialog.path_edit.setText(str(blocker / "take.fbx"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.error is not None, timeout=30000)
    assert "take.fbx" in dialog.error and dialog.export_button.isEnabled()
