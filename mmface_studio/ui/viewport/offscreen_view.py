"""The ``offscreen`` viewport path: a plain QWidget showing frames drawn by an EGL canvas.

Why a plain QWidget: as long as no QOpenGLWidget is in the window, Qt keeps its raster
backing store and flushes it with MIT-SHM, so showing a 1280x720 frame costs one ~0.3 ms
image copy instead of a GL composition pass plus a full-window ``XPutImage`` per frame.
Frames are drawn lazily: scene changes only mark the widget dirty and ask Qt for a paint, so
several changes within one event-loop turn cost one draw.
"""

from __future__ import annotations

import logging

import numpy as np
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QWidget

from mmface_studio.ui.viewport import qt_events
from mmface_studio.ui.viewport.egl_canvas import (
    FrameReader,
    OffscreenSceneCanvas,
    OffscreenUnavailable,
    egl_current,
    gl_renderer,
    release_egl_context,
)

log = logging.getLogger(__name__)


class OffscreenView(QWidget):
    """Shows an :class:`OffscreenSceneCanvas` and feeds it Qt's mouse input."""

    path = "offscreen"

    def __init__(self, bgcolor: str, parent: QWidget | None = None) -> None:
        super().__init__()  # parented only once the canvas exists, so a failure leaves nothing behind
        self._dirty = True
        self._drawing = False
        self._closed = False
        try:
            self.canvas = OffscreenSceneCanvas(self._scene_changed, size=(640, 480), bgcolor=bgcolor)
        except OffscreenUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - no EGL config/context/pbuffer on this machine
            raise OffscreenUnavailable(f"could not create an EGL canvas: {exc}") from exc
        self._bgcolor = QColor(bgcolor)
        self._reader = FrameReader(self.canvas)
        self._image: QImage | None = None
        self._image_pixels: np.ndarray | None = None
        self.setParent(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is painted: skip the erase
        self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
        self.setMinimumSize(320, 240)

    @property
    def widget(self) -> QWidget:
        """The widget to lay out (this one; the direct path's is vispy's QOpenGLWidget)."""
        return self

    # ------------------------------------------------------------------ frames
    def _scene_changed(self) -> None:
        if self._drawing or self._closed or not shiboken6.isValid(self):  # (scene touched after Qt deleted us)
            return
        self._dirty = True
        self.update()

    @property
    def _scale(self) -> float:
        """Canvas pixels per widget pixel (the canvas is sized in physical pixels)."""
        return float(self.devicePixelRatioF())

    def _sync_size(self) -> None:
        width = max(1, round(self.width() * self._scale))
        height = max(1, round(self.height() * self._scale))
        if (width, height) == tuple(self.canvas.size):
            return
        self.canvas.size = (width, height)
        self.canvas.events.resize(size=(width, height))  # vispy's EGL backend emits none itself
        self._reader.resize(width, height)
        self._dirty = True

    def _draw(self) -> None:
        self._sync_size()
        self._drawing = True
        try:
            self._reader.draw()
        finally:
            self._drawing = False
        self._dirty = False
        pixels = self._reader.pixels
        if pixels is not self._image_pixels:
            height, width = pixels.shape[:2]
            # BGRA bytes are Format_RGB32 on little-endian machines; alpha is always 255 here.
            self._image = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_RGB32)
            self._image.setDevicePixelRatio(self._scale)
            self._image_pixels = pixels

    def render_rgba(self) -> np.ndarray:
        """Draw the current scene now and return it as RGBA (H, W, 4) uint8, top row first."""
        if self._closed:
            raise RuntimeError("the viewport canvas is closed")
        self._draw()
        return self._reader.rgba()

    def gl_renderer(self) -> str:
        return gl_renderer(self.canvas)

    # -------------------------------------------------------------- Qt events
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        if not self._closed and (self._dirty or self._image is None):
            self._draw()
        painter = QPainter(self)
        try:
            if self._closed or self._image is None:
                painter.fillRect(self.rect(), self._bgcolor)
                return
            if not self._reader.top_down:  # no GL_MESA_pack_invert: rows arrive bottom first
                painter.translate(0, self.height())
                painter.scale(1, -1)
            painter.drawImage(0, 0, self._image)
        finally:
            painter.end()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        if not self._closed:
            self._sync_size()
        super().resizeEvent(event)

    def _deliver(self, event: QMouseEvent, deliver) -> None:
        if self._closed:
            return
        with egl_current(self.canvas):  # picking the visual under the cursor draws with GL
            vispy_event = deliver(**qt_events.mouse_kwargs(event, self._scale))
        if vispy_event is None or not vispy_event.handled:
            event.ignore()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._deliver(event, self.canvas._backend._vispy_mouse_press)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._deliver(event, self.canvas._backend._vispy_mouse_move)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._deliver(event, self.canvas._backend._vispy_mouse_release)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self._closed:
            return
        with egl_current(self.canvas):
            vispy_event = self.canvas.events.mouse_wheel(**qt_events.wheel_kwargs(event, self._scale))
        if not vispy_event.handled:
            event.ignore()

    # ---------------------------------------------------------------- closing
    def close_canvas(self) -> None:
        """Close the canvas and free its EGL context; the widget then paints plain background."""
        if self._closed:
            return
        self._closed = True
        self._image = self._image_pixels = None
        self._reader.close()
        try:
            self.canvas.close()
            release_egl_context(self.canvas)
        except Exception:  # noqa: BLE001 - teardown must not raise into Qt's close handling
            log.exception("Closing the offscreen viewport canvas failed")
