"""Which OpenGL Qt gets, and so which way the viewport should reach the screen.

Why this exists: on software GL (Mesa llvmpipe under Xvfb, VMs, remote desktops) Qt's
``QOpenGLWidget`` renders into an FBO that Qt then composes into the window through its
RHI backing store and swaps with a full-window ``XPutImage``: two extra full-frame copies
that cost more than drawing the head (~30-50 fps at 1280x720 on two cores). Drawing into an
EGL FBO and painting the pixels as a ``QImage`` (the ``offscreen`` path) skips both. On real
GPUs the ``direct`` QOpenGLWidget path is the right one, so the choice is made per machine.
"""

from __future__ import annotations

import functools
import logging
import os
import sys

log = logging.getLogger(__name__)

#: Environment variable that forces a path: ``direct``, ``offscreen`` or ``auto`` (default).
PATH_ENV = "MMFACE_VIEWPORT"
PATHS = ("direct", "offscreen")

#: GL_RENDERER substrings of CPU rasterisers (Mesa's three, Windows' GDI fallback).
_SOFTWARE_MARKERS = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "gdi generic")

_GL_RENDERER = 0x1F01


def is_software_renderer(renderer: str | None) -> bool:
    """True for CPU rasterisers, where every full-frame copy costs milliseconds."""
    return bool(renderer) and any(marker in renderer.lower() for marker in _SOFTWARE_MARKERS)


@functools.cache
def qt_gl_renderer() -> str | None:
    """GL_RENDERER of the context Qt would give a QOpenGLWidget, or None if Qt has no GL.

    Needs a QGuiApplication. Uses a throw-away context on an offscreen surface (~20 ms, once).
    """
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        return None
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    try:
        if not context.makeCurrent(surface):
            return None
        try:
            return str(context.functions().glGetString(_GL_RENDERER) or "") or None
        finally:
            context.doneCurrent()
    finally:
        surface.destroy()


def requested_path() -> str:
    """The path asked for through ``MMFACE_VIEWPORT`` (``auto`` when unset or not understood)."""
    value = os.environ.get(PATH_ENV, "auto").strip().lower()
    if value in (*PATHS, "auto"):
        return value
    log.warning("%s=%r is not one of direct, offscreen, auto; using auto.", PATH_ENV, value)
    return "auto"


def choose_path() -> str:
    """``offscreen`` on Linux when Qt's GL is a software rasteriser, else ``direct``.

    Whether EGL actually works is found out when the offscreen canvas is created; the
    viewport falls back to ``direct`` (with a logged reason) if it does not.
    """
    wanted = requested_path()
    if wanted != "auto":
        return wanted
    if not sys.platform.startswith("linux") or sys.byteorder != "little":
        return "direct"  # no Mesa EGL to draw offscreen with (frames are read as little-endian RGB32)
    renderer = qt_gl_renderer()
    return "offscreen" if renderer is None or is_software_renderer(renderer) else "direct"
