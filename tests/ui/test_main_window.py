"""The main window driven as a user would, with the real OpenGL viewport under Xvfb."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import close_next_message_box, head_pixels

BG = (0x3A, 0x3D, 0x44)


def _render(window) -> np.ndarray:
    return window.viewport.render_image()


def test_window_is_dark_with_menus_docks_and_a_head(main_window) -> None:
    menus = [a.text().replace("&", "") for a in main_window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Generate", "Export", "Help"]
    assert main_window.palette().window().color().lightness() < 60
    assert main_window.identity_dock.isVisible() and main_window.channels_dock.isVisible()
    image = _render(main_window)
    assert head_pixels(image, BG) > 0.08 * image.shape[0] * image.shape[1], "the head fills a good part of the view"
    assert "vertices" in main_window.rig_label.text()


def test_tour_plays_and_transport_keys_step_frames(main_window, qtbot) -> None:
    transport = main_window.transport
    assert transport.clock.frame_count > 52 * 10, "the expression tour covers all 52 shapes"
    transport.play()
    qtbot.waitUntil(lambda: transport.frame > 5, timeout=5000)
    transport.pause()
    frame = transport.frame
    qtbot.keyClick(main_window, Qt.Key_Right)
    assert transport.frame == frame + 1
    qtbot.keyClick(main_window, Qt.Key_Left)
    qtbot.keyClick(main_window, Qt.Key_Left)
    assert transport.frame == frame - 1
    qtbot.keyClick(main_window, Qt.Key_End)
    assert transport.frame == transport.clock.frame_count - 1
    qtbot.keyClick(main_window, Qt.Key_Home)
    assert transport.frame == 0
    qtbot.keyClick(main_window, Qt.Key_Space)
    assert transport.playing
    qtbot.keyClick(main_window, Qt.Key_Space)
    assert not transport.playing


def test_scrubbing_to_a_jaw_open_frame_changes_the_mouth(main_window) -> None:
    perf = main_window.performance
    jaw = perf.curve("jawOpen")
    neutral = _render(main_window)
    main_window.transport.slider.setValue(int(np.argmax(jaw)))
    assert main_window.channel_meter.active_channels()[0][0] == "jawOpen"
    open_mouth = _render(main_window)
    changed = np.abs(open_mouth.astype(int) - neutral.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 500, "opening the jaw visibly changes the picture"


def test_identity_slider_reshapes_the_head(main_window) -> None:
    controls = main_window.rig.identity_controls()
    assert len(controls) >= 3
    before = main_window.rig.deform(main_window.current_params()).copy()
    main_window.identity_panel.set_value(controls[0].name, controls[0].maximum)
    after = main_window.rig.deform(main_window.current_params())
    assert np.abs(after - before).max() > 1e-3
    main_window.identity_panel.reset()
    assert np.allclose(main_window.rig.deform(main_window.current_params()), before, atol=1e-5)


def test_views_and_wireframe_change_the_picture(main_window) -> None:
    main_window.viewport.set_view("front")
    front = _render(main_window)
    main_window.viewport.set_view("side")
    side = _render(main_window)
    assert np.abs(front.astype(int) - side.astype(int)).sum() > 0
    main_window.act_wireframe.trigger()
    wire = _render(main_window)
    assert main_window.viewport.head.wireframe
    assert np.abs(wire.astype(int) - side.astype(int)).sum(axis=2).astype(bool).sum() > 1000


@pytest.mark.parametrize("kind", ["malicious", "truncated", "not-flame", "missing-keys"])
def test_bad_flame_file_shows_a_message_and_keeps_the_head(main_window, qtbot, tmp_path, kind) -> None:
    import pickle

    from mmface_studio.rig.flame.synthetic import write_malicious_pickle, write_synthetic_flame

    path = tmp_path / f"{kind}.pkl"
    if kind == "malicious":
        write_malicious_pickle(path)
    elif kind == "truncated":
        write_synthetic_flame(path)
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "missing-keys":
        from mmface_studio.rig.flame.synthetic import synthetic_flame_dict

        model = synthetic_flame_dict(vertex_count_hint=600)
        del model["posedirs"], model["weights"]
        path.write_bytes(pickle.dumps(model, protocol=2))
    else:
        path.write_bytes(pickle.dumps({"hello": [1, 2, 3]}))
    rig_before = main_window.rig
    found: list[str] = []
    close_next_message_box(found)
    main_window.load_rig_async(path)
    qtbot.waitUntil(lambda: bool(found), timeout=10000)
    assert "Could not load" in found[0] and len(found[0]) > 40
    assert main_window.rig is rig_before
    assert main_window.isVisible()


def test_loading_a_flame_file_switches_rig_and_panels(main_window, qtbot, tmp_path) -> None:
    from mmface_studio.rig.flame.synthetic import write_synthetic_flame

    path = tmp_path / "flame_synthetic.pkl"
    write_synthetic_flame(path)
    main_window.load_rig_async(path)
    qtbot.waitUntil(lambda: main_window.rig is not None and main_window.rig.space.name == "flame56", timeout=15000)
    assert main_window.performance.space.name == "flame56"
    assert len(main_window.rig.identity_controls()) == 10
    image = _render(main_window)
    assert head_pixels(image, BG) > 0.05 * image.shape[0] * image.shape[1]
