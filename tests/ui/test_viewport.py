"""The 3D viewport driven with real mouse events, on both ways it reaches the screen.

``offscreen`` (EGL FBO + image, chosen on software GL) and ``direct`` (vispy's QOpenGLWidget,
chosen on GPUs) must look and behave the same: every test runs on both, with real OpenGL.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import head_pixels

BG = (0x3A, 0x3D, 0x44)
SIZE = (640, 480)
MOVE_GAP_MS = 15  # vispy drops mouse moves that come less than 10 ms after the previous one


@pytest.fixture(params=["offscreen", "direct"])
def viewport(request, qtbot, default_head):
    """A shown 640x480 viewport on the built-in head, on the path named by the parameter."""
    from mmface_studio.ui.viewport.widget import HeadViewport

    view = HeadViewport(path=request.param)
    if view.path != request.param:
        view.close_canvas()
        pytest.skip(f"{request.param} path unavailable here (fell back to {view.path})")
    qtbot.addWidget(view)
    view.resize(*SIZE)
    view.show()
    qtbot.waitExposed(view)
    view.set_rig(default_head)
    yield view
    view.close_canvas()


# ------------------------------------------------------------------------------------------ helpers
def _send_move(widget, pos: QPoint, button, modifiers) -> None:
    event = QMouseEvent(QEvent.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)), Qt.NoButton, button,
                        modifiers)
    QApplication.sendEvent(widget, event)


def drag(qtbot, viewport, offset: QPoint, button=Qt.LeftButton, modifiers=Qt.NoModifier, steps: int = 8) -> None:
    """Press in the middle of the view, move by ``offset`` in steps, release: as a hand would."""
    widget = viewport.surface_widget
    start = QPoint(widget.width() // 2, widget.height() // 2)
    qtbot.mousePress(widget, button, modifiers, start)
    for i in range(1, steps + 1):
        qtbot.wait(MOVE_GAP_MS)
        _send_move(widget, start + offset * (i / steps), button, modifiers)
    qtbot.wait(MOVE_GAP_MS)
    qtbot.mouseRelease(widget, button, modifiers, start + offset)


def wheel(viewport, notches: int) -> None:
    """Turn the mouse wheel over the middle of the view (positive = away from the user = zoom in)."""
    widget = viewport.surface_widget
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def head_mask(image: np.ndarray) -> np.ndarray:
    return np.abs(image[..., :3].astype(int) - np.array(BG)).sum(axis=2) > 30


def centroid(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(head_mask(image))
    return np.array([xs.mean(), ys.mean()])


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a[..., :3].astype(int) - b[..., :3].astype(int)).sum(axis=2) > 30).sum())


def screen_pixels(widget) -> np.ndarray:
    """What the widget shows, as RGB (H, W, 3): Qt's own grab of the painted widget."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * height)
    return data.reshape(height, image.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()


# ------------------------------------------------------------------------------------------ tests
def test_shows_the_head_and_what_is_on_screen_is_what_render_image_returns(viewport) -> None:
    image = viewport.render_image()
    assert image.shape == (SIZE[1], SIZE[0], 4) and image.dtype == np.uint8
    assert head_pixels(image, BG) > 0.08 * SIZE[0] * SIZE[1], "the head fills a good part of the view"
    assert np.all(image[0, 0, :3] == BG), "the corners show the background colour"
    on_screen = screen_pixels(viewport.surface_widget)
    assert on_screen.shape[:2] == image.shape[:2]
    assert changed_pixels(on_screen, image) < 0.01 * SIZE[0] * SIZE[1], "screen and render_image agree"


def test_left_drag_orbits_the_camera(viewport, qtbot) -> None:
    before_azimuth, before = viewport.camera.azimuth, viewport.render_image()
    drag(qtbot, viewport, QPoint(120, 0))
    assert abs(viewport.camera.azimuth - before_azimuth) > 10.0, "a horizontal drag turns the head around"
    assert changed_pixels(viewport.render_image(), before) > 2000


def test_wheel_zooms_in_and_the_head_gets_bigger(viewport) -> None:
    before = head_pixels(viewport.render_image(), BG)
    wheel(viewport, 3)
    after = head_pixels(viewport.render_image(), BG)
    assert after > 1.3 * before, f"zooming in makes the head bigger ({before} -> {after} pixels)"
    wheel(viewport, -6)
    assert head_pixels(viewport.render_image(), BG) < before, "zooming out makes it smaller"


def test_right_drag_up_zooms_in(viewport, qtbot) -> None:
    before = head_pixels(viewport.render_image(), BG)
    drag(qtbot, viewport, QPoint(0, -60), button=Qt.RightButton)
    assert head_pixels(viewport.render_image(), BG) > 1.2 * before


@pytest.mark.parametrize("how", ["shift+left", "middle"])
def test_pan_drag_moves_the_head_with_the_mouse(viewport, qtbot, how) -> None:
    azimuth = viewport.camera.azimuth
    before = centroid(viewport.render_image())
    if how == "middle":
        drag(qtbot, viewport, QPoint(100, 60), button=Qt.MiddleButton)
    else:
        drag(qtbot, viewport, QPoint(100, 60), modifiers=Qt.ShiftModifier)
    moved = centroid(viewport.render_image()) - before
    assert viewport.camera.azimuth == azimuth, "panning does not orbit"
    assert 50 < moved[0] < 150 and 25 < moved[1] < 95, f"the head follows the mouse (moved {moved})"


def test_frame_head_after_zoom_and_pan_restores_the_framing(viewport, qtbot) -> None:
    framed = viewport.render_image()
    wheel(viewport, 4)
    drag(qtbot, viewport, QPoint(80, 0), modifiers=Qt.ShiftModifier)
    assert changed_pixels(viewport.render_image(), framed) > 5000
    viewport.frame_head()
    assert changed_pixels(viewport.render_image(), framed) < 50, "frame head brings back the same view"


def test_view_presets_turn_the_camera(viewport) -> None:
    viewport.set_view("front")
    front = viewport.render_image()
    assert viewport.camera.azimuth == 90.0
    viewport.set_view("side")
    assert viewport.camera.azimuth == 0.0
    assert changed_pixels(viewport.render_image(), front) > 2000
    with pytest.raises(ValueError, match="Unknown view"):
        viewport.set_view("top")
    viewport.set_view("front")
    assert changed_pixels(viewport.render_image(), front) == 0, "a bad name leaves the view usable"


def test_wireframe_toggles_the_picture(viewport) -> None:
    shaded = viewport.render_image()
    viewport.set_wireframe(True)
    wire = viewport.render_image()
    assert viewport.head.wireframe
    assert changed_pixels(wire, shaded) > 1000, "edges are drawn over the head"
    assert changed_pixels(wire[:40, :40], shaded[:40, :40]) == 0, "only over the head"
    viewport.set_wireframe(False)
    assert changed_pixels(viewport.render_image(), shaded) == 0


def test_new_vertices_show_on_screen_after_one_event_loop_turn(viewport, qtbot, default_head) -> None:
    neutral = screen_pixels(viewport.surface_widget)
    viewport.show_vertices(default_head.deform(default_head.space.vector({"jawOpen": 1.0})))
    qtbot.wait(50)
    opened = screen_pixels(viewport.surface_widget)
    assert changed_pixels(opened, neutral) > 300, "opening the jaw changes what is shown"


def test_resizing_the_view_resizes_the_picture_and_keeps_the_head_centred(viewport, qtbot) -> None:
    viewport.resize(800, 400)
    qtbot.waitUntil(lambda: viewport.surface_widget.height() == 400)
    image = viewport.render_image()
    assert image.shape[:2] == (400, 800)
    x, y = centroid(image)
    assert abs(x - 400) < 60 and abs(y - 200) < 60, f"head centre at {(x, y)}"
    assert screen_pixels(viewport.surface_widget).shape[:2] == (400, 800)


def test_offscreen_and_direct_paths_draw_the_same_picture(qtbot, default_head) -> None:
    from mmface_studio.ui.viewport.widget import HeadViewport

    images = {}
    for path in ("direct", "offscreen"):
        view = HeadViewport(path=path)
        qtbot.addWidget(view)
        view.resize(*SIZE)
        view.show()
        qtbot.waitExposed(view)
        view.set_rig(default_head)
        images[view.path] = view.render_image()
        view.close_canvas()
    if len(images) < 2:
        pytest.skip("offscreen path unavailable here")
    assert changed_pixels(images["direct"], images["offscreen"]) < 0.005 * SIZE[0] * SIZE[1]


def test_missing_egl_falls_back_to_direct_with_a_log_message(qtbot, monkeypatch, caplog) -> None:
    from mmface_studio.ui.viewport import offscreen_view
    from mmface_studio.ui.viewport.egl_canvas import OffscreenUnavailable
    from mmface_studio.ui.viewport.widget import HeadViewport

    def no_egl(*args, **kwargs):
        raise OffscreenUnavailable("vispy's EGL backend is unavailable: EGL library not found")

    monkeypatch.setattr(offscreen_view, "OffscreenSceneCanvas", no_egl)
    with caplog.at_level(logging.WARNING):
        view = HeadViewport(path="offscreen")
    qtbot.addWidget(view)
    assert view.path == "direct"
    assert "EGL library not found" in caplog.text and "QOpenGLWidget" in caplog.text
    view.close_canvas()


def test_software_gl_picks_the_offscreen_path(monkeypatch) -> None:
    from mmface_studio.ui.viewport import gl_probe

    monkeypatch.delenv(gl_probe.PATH_ENV, raising=False)
    if not gl_probe.is_software_renderer(gl_probe.qt_gl_renderer()):
        pytest.skip("hardware GL here: the direct path is right")
    assert gl_probe.choose_path() == "offscreen"
    monkeypatch.setenv(gl_probe.PATH_ENV, "direct")
    assert gl_probe.choose_path() == "direct"
    assert gl_probe.is_software_renderer("llvmpipe (LLVM 15.0.6, 256 bits)")
    assert not gl_probe.is_software_renderer("NVIDIA GeForce RTX 4090/PCIe/SSE2")


def test_closing_is_safe_and_idempotent(qtbot, default_head) -> None:
    from mmface_studio.ui.viewport.widget import HeadViewport

    view = HeadViewport()
    qtbot.addWidget(view)
    view.resize(*SIZE)
    view.show()
    view.set_rig(default_head)
    qtbot.waitExposed(view)
    view.close_canvas()
    view.close_canvas()
    view.repaint()  # a paint after close must not touch the released context
    qtbot.wait(20)
    view.close()
