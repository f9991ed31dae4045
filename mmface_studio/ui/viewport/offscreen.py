"""Headless rendering of the head to a PNG, for ``mmface-studio render`` and documentation.

Uses vispy's EGL backend (Mesa surfaceless; no X server needed) when no vispy
application is running yet, otherwise whatever backend the process already uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmface_studio.rig.base import Rig


def _offscreen_app():
    """The viewport's own EGL application (headless, Mesa surfaceless); Qt's when EGL is missing."""
    from mmface_studio.ui.viewport.egl_canvas import OffscreenUnavailable, egl_application

    try:
        return egl_application()
    except OffscreenUnavailable:
        from vispy import app

        return app.use_app("pyside6")


def render_rig(rig: Rig, params: np.ndarray, *, size: tuple[int, int] = (800, 800), view: str = "front",
               wireframe: bool = False) -> np.ndarray:
    """RGBA uint8 image of ``rig`` deformed by ``params``."""
    from vispy import scene

    from mmface_studio.ui.theme import VIEWPORT_BG
    from mmface_studio.ui.viewport.head_scene import HeadScene, apply_view, frame_bounds, setup_camera

    canvas = scene.SceneCanvas(size=size, show=False, bgcolor=VIEWPORT_BG, app=_offscreen_app())
    try:
        view_box = canvas.central_widget.add_view()
        cam = setup_camera(view_box)
        head = HeadScene(view_box)
        head.set_rig(rig)
        head.update_vertices(rig.deform(params))
        head.set_wireframe(wireframe)
        lo, hi = head.head_bounds()
        frame_bounds(cam, lo, hi)
        apply_view(cam, view)
        head.follow_camera()  # render() sends no draw event: aim the lights as the GUI does
        return canvas.render()
    finally:
        canvas.close()


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGBA image as PNG through Qt-free vispy.io."""
    from vispy.io import write_png

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(str(out), image)
    return out
