"""The ``direct`` viewport path: vispy's own QOpenGLWidget (right for GPUs, any platform)."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QWidget
from vispy import scene


class DirectView:
    """A pyside6-backend SceneCanvas whose native QOpenGLWidget is shown as is.

    Same interface as :class:`~mmface_studio.ui.viewport.offscreen_view.OffscreenView`
    (``canvas``, ``widget``, ``render_rgba``, ``gl_renderer``, ``close_canvas``).
    """

    path = "direct"

    def __init__(self, bgcolor: str, parent: QWidget) -> None:
        self.canvas = scene.SceneCanvas(keys=None, show=False, bgcolor=bgcolor, parent=parent)
        self.canvas.create_native()
        self.widget: QWidget = self.canvas.native
        self.widget.setParent(parent)
        self.widget.setMinimumSize(320, 240)

    def render_rgba(self) -> np.ndarray:
        return self.canvas.render()

    def gl_renderer(self) -> str:
        from vispy.gloo import gl

        self.canvas.set_current()
        return str(gl.glGetParameter(gl.GL_RENDERER))

    def close_canvas(self) -> None:
        self.canvas.close()
