"""The interactive 3D viewport: the head's vispy scene, shown through the faster path for this GL.

Two ways to the screen share one scene (see ``gl_probe``): ``direct`` embeds vispy's
QOpenGLWidget; ``offscreen`` draws through EGL and paints the frames in a plain widget,
which is ~2x faster on software GL. Both give the same picture and the same mouse controls.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

from mmface_studio.rig.base import Rig
from mmface_studio.ui.theme import VIEWPORT_BG
from mmface_studio.ui.viewport.direct_view import DirectView
from mmface_studio.ui.viewport.gl_probe import choose_path
from mmface_studio.ui.viewport.head_scene import HeadScene, apply_view, frame_bounds, setup_camera

log = logging.getLogger(__name__)


def _make_view(path: str, parent: QWidget):
    """The view for ``path``; ``offscreen`` falls back to ``direct`` with a logged reason."""
    if path == "offscreen":
        try:
            from mmface_studio.ui.viewport.offscreen_view import OffscreenView

            return OffscreenView(VIEWPORT_BG, parent)
        except Exception as exc:  # noqa: BLE001 - OffscreenUnavailable, or PyOpenGL/EGL import errors
            log.warning("Offscreen (EGL) viewport unavailable, using the QOpenGLWidget path: %s", exc)
    return DirectView(VIEWPORT_BG, parent)


class HeadViewport(QWidget):
    """Orbit (left drag), zoom (wheel / right drag), pan (Shift + left drag or middle drag) around the head.

    ``path`` forces ``"direct"`` or ``"offscreen"``; by default it is chosen for this machine's
    GL (``MMFACE_VIEWPORT`` overrides). The path in use is in :attr:`path`.
    """

    def __init__(self, parent: QWidget | None = None, path: str | None = None) -> None:
        super().__init__(parent)
        self._surface = _make_view(path or choose_path(), self)
        self.path: str = self._surface.path
        self.canvas = self._surface.canvas
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._surface.widget)
        self.view = self.canvas.central_widget.add_view()
        self.camera = setup_camera(self.view)
        self.head = HeadScene(self.view)
        self._view_name = "three-quarter"

    @property
    def surface_widget(self) -> QWidget:
        """The widget that receives mouse input and shows the frames."""
        return self._surface.widget

    def set_rig(self, rig: Rig) -> None:
        self.head.set_rig(rig)
        self.frame_head()

    def show_vertices(self, vertices: np.ndarray) -> None:
        self.head.update_vertices(vertices)
        self.canvas.update()

    def frame_head(self) -> None:
        lo, hi = self.head.head_bounds()
        frame_bounds(self.camera, lo, hi)
        apply_view(self.camera, self._view_name)
        self.canvas.update()

    def set_view(self, name: str) -> None:
        apply_view(self.camera, name)
        self._view_name = name
        self.canvas.update()

    def set_wireframe(self, enabled: bool) -> None:
        self.head.set_wireframe(enabled)
        self.canvas.update()

    def render_image(self) -> np.ndarray:
        """RGBA uint8 image of the current view (used for screenshots and tests)."""
        self.head.follow_camera()
        return self._surface.render_rgba()

    def gl_renderer(self) -> str:
        """GL_RENDERER string of the context drawing the head (for logs and benchmarks)."""
        return self._surface.gl_renderer()

    def close_canvas(self) -> None:
        """Release the GL context before the widget dies (avoids teardown crashes in tests)."""
        self._surface.close_canvas()
