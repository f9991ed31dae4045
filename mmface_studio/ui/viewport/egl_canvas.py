"""A vispy SceneCanvas drawn through EGL into a persistent FBO and read back to memory.

Why: on software GL this is the cheap way to get a frame into a Qt window (see
``gl_probe``). vispy's own ``SceneCanvas.render()`` does the same job but allocates a new
FBO per call, reads RGBA (llvmpipe stores BGRA, so Mesa converts) and then copies and flips
the array in numpy; here the FBO lives as long as the size does, pixels are read as BGRA
(Qt's ``Format_RGB32`` byte order) straight into one reused buffer, and Mesa's
``GL_MESA_pack_invert`` delivers them top row first. Readback is ~0.5 ms at 1280x720.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from vispy import app, gloo, scene

log = logging.getLogger(__name__)

_GL_PACK_INVERT_MESA = 0x8758
_GL_DEPTH_COMPONENT24 = 0x81A6  # vispy's "depth" renderbuffers are 16-bit


class OffscreenUnavailable(RuntimeError):
    """EGL (or a usable EGL config) is missing; the caller falls back to the direct path."""


@functools.cache
def egl_application() -> app.Application:
    """One vispy Application on the EGL backend, beside the process's Qt one.

    Mesa's surfaceless platform needs no X connection; ``EGL_PLATFORM`` is only set while
    vispy opens its EGL display (at import), so Qt's own GL set-up is never affected.
    """
    previous = os.environ.get("EGL_PLATFORM")
    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    try:
        return app.Application("egl")
    except Exception as exc:  # noqa: BLE001 - OSError (no libEGL), RuntimeError (no display), ...
        raise OffscreenUnavailable(f"vispy's EGL backend is unavailable: {exc}") from exc
    finally:
        if previous is None:
            os.environ.pop("EGL_PLATFORM", None)


def _release_egl() -> None:
    from vispy.app.backends import _egl as backend
    from vispy.ext import egl

    egl.eglMakeCurrent(backend._EGL_DISPLAY, egl.EGL_NO_SURFACE, egl.EGL_NO_SURFACE, egl.EGL_NO_CONTEXT)


@contextmanager
def egl_current(canvas: scene.SceneCanvas | None = None) -> Iterator[None]:
    """Make ``canvas``'s EGL context current for the block, and nothing current afterwards.

    Why: with libglvnd a thread can have only one window-system API current. Qt leaves its
    GLX context current after composing any window that holds a QOpenGLWidget, and then
    ``eglMakeCurrent`` fails (and the other way round, Qt's ``makeCurrent`` fails while an
    EGL context is current). Qt is told through ``doneCurrent`` so it re-binds next time.
    """
    from PySide6.QtGui import QOpenGLContext

    qt_context = QOpenGLContext.currentContext()
    if qt_context is not None:
        qt_context.doneCurrent()
    try:
        if canvas is not None:
            canvas.set_current()
        yield
    finally:
        _release_egl()


class OffscreenSceneCanvas(scene.SceneCanvas):
    """SceneCanvas on the EGL application that reports redraw requests to a callback.

    The EGL backend only sets a flag when the scene changes; the Qt widget showing the frames
    needs to hear about it to schedule a paint.
    """

    def __init__(self, on_update: Callable[[], None], **kwargs) -> None:
        self._on_update: Callable[[], None] | None = on_update
        application = egl_application()
        with egl_current():  # the EGL backend makes its new context current while initialising
            super().__init__(app=application, keys=None, show=False, autoswap=False, **kwargs)

    def update(self, node=None) -> None:
        super().update(node)
        if self._on_update is not None:
            self._on_update()

    def close(self) -> None:
        self._on_update = None
        super().close()


class FrameReader:
    """Draws the canvas into its own FBO and keeps the last frame as BGRA bytes, top row first."""

    def __init__(self, canvas: scene.SceneCanvas) -> None:
        self.canvas = canvas
        self.pixels = np.zeros((1, 1, 4), np.uint8)
        self.top_down = False
        self._fbo: gloo.FrameBuffer | None = None
        self._pack_invert: bool | None = None

    def resize(self, width: int, height: int) -> None:
        """Match the FBO and pixel buffer to the canvas size (physical pixels)."""
        shape = (max(int(height), 1), max(int(width), 1))
        if self._fbo is not None and self._fbo.color_buffer.shape[:2] == shape:
            return
        if self._fbo is None:  # (queued GL commands: they run at the next draw)
            self._fbo = gloo.FrameBuffer(color=gloo.RenderBuffer(shape, format="color"),
                                         depth=gloo.RenderBuffer(shape, format=_GL_DEPTH_COMPONENT24))
        else:
            self._fbo.resize(shape)
        self.pixels = np.zeros((*shape, 4), np.uint8)

    def draw(self) -> None:
        """Draw the scene into the FBO and read it back into ``pixels``.

        The FBO is pushed for one frame only, as ``SceneCanvas.render`` does: left pushed
        across frames, every frame after the first lost its depth test.
        """
        canvas = self.canvas
        if self._fbo is None:
            self.resize(*canvas.size)
        with egl_current(canvas):
            canvas.push_fbo(self._fbo, (0, 0), canvas.size)
            try:
                canvas.events.draw(region=None)  # also runs the queued GL commands (flush_commands)
                self._read()
            finally:
                canvas.pop_fbo()
                canvas.context.flush_commands()

    def rgba(self) -> np.ndarray:
        """The last frame as an RGBA (H, W, 4) uint8 copy, top row first (like ``canvas.render()``)."""
        rgba = self.pixels[..., [2, 1, 0, 3]]
        return rgba if self.top_down else np.ascontiguousarray(rgba[::-1])

    def _read(self) -> None:
        from OpenGL import GL
        from OpenGL.error import GLError

        if self._pack_invert is None:
            extensions = (GL.glGetString(GL.GL_EXTENSIONS) or b"").decode(errors="replace").split()
            self._pack_invert = "GL_MESA_pack_invert" in extensions
        height, width = self.pixels.shape[:2]
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 4)
        if self._pack_invert:
            GL.glPixelStorei(_GL_PACK_INVERT_MESA, GL.GL_TRUE)
        try:
            GL.glReadPixels(0, 0, width, height, GL.GL_BGRA, GL.GL_UNSIGNED_BYTE, self.pixels)
        except GLError as exc:  # PyOpenGL checks glGetError after the call: a stale error from
            log.debug("GL error pending at readback: %s", exc)  # an earlier command; pixels are read
        finally:
            if self._pack_invert:  # vispy's own read_pixels flips rows itself: leave the default
                GL.glPixelStorei(_GL_PACK_INVERT_MESA, GL.GL_FALSE)
        self.top_down = bool(self._pack_invert)

    def close(self) -> None:
        self._fbo = None
        self.pixels = np.zeros((1, 1, 4), np.uint8)


def gl_renderer(canvas: scene.SceneCanvas) -> str:
    """GL_RENDERER of the canvas's context (for logs and benchmarks)."""
    from vispy.gloo import gl

    with egl_current(canvas):
        return str(gl.glGetParameter(gl.GL_RENDERER))


def release_egl_context(canvas: scene.SceneCanvas) -> None:
    """Destroy the EGL context of a closed canvas; vispy's EGL backend never does, so each
    viewport would otherwise leave a context (and its buffers) behind."""
    try:
        from vispy.app.backends import _egl as backend
        from vispy.ext import egl
    except Exception:  # noqa: BLE001 - nothing was created then
        return
    context = getattr(canvas._backend, "_native_context", None)
    if context is None:
        return
    display = backend._EGL_DISPLAY
    _release_egl()
    destroy = egl._lib.eglDestroyContext
    destroy.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    destroy(display, context)
    canvas._backend._native_context = None
