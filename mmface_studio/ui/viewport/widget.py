"""The interactive 3D viewport: a vispy SceneCanvas embedded in a Qt widget."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vispy import scene

from mmface_studio.rig.base import Rig
from mmface_studio.ui.theme import VIEWPORT_BG
from mmface_studio.ui.viewport.head_scene import HeadScene, apply_view, frame_bounds, setup_camera


class HeadViewport(QWidget):
    """Orbit (left drag), zoom (wheel / right drag), pan (Shift + left drag) around the head."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = scene.SceneCanvas(keys=None, show=False, bgcolor=VIEWPORT_BG, parent=self)
        self.canvas.create_native()
        self.canvas.native.setParent(self)
        self.canvas.native.setMinimumSize(320, 240)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas.native)
        self.view = self.canvas.central_widget.add_view()
        self.camera = setup_camera(self.view)
        self.head = HeadScene(self.view)
        self._view_name = "three-quarter"

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
        self._view_name = name
        apply_view(self.camera, name)
        self.canvas.update()

    def set_wireframe(self, enabled: bool) -> None:
        self.head.set_wireframe(enabled)
        self.canvas.update()

    def render_image(self) -> np.ndarray:
        """RGBA uint8 image of the current view (used for screenshots and tests)."""
        return self.canvas.render()

    def close_canvas(self) -> None:
        """Release the GL context before the widget dies (avoids teardown crashes in tests)."""
        self.canvas.close()
