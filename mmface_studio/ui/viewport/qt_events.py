"""Qt mouse events translated into vispy canvas events.

Why: the offscreen canvas has no native window, so the widget that shows its frames hands
Qt's mouse input to vispy itself. Going through the backend's ``_vispy_mouse_*`` helpers
(the same ones vispy's Qt backend uses) keeps press/drag bookkeeping identical, so cameras
behave the same on both viewport paths.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from vispy.util import keys

_BUTTONS = {
    Qt.MouseButton.LeftButton: 1,
    Qt.MouseButton.RightButton: 2,
    Qt.MouseButton.MiddleButton: 3,
}
_MODIFIERS = (
    (Qt.KeyboardModifier.ShiftModifier, keys.SHIFT),
    (Qt.KeyboardModifier.ControlModifier, keys.CONTROL),
    (Qt.KeyboardModifier.AltModifier, keys.ALT),
    (Qt.KeyboardModifier.MetaModifier, keys.META),
)


def modifiers(event: QMouseEvent | QWheelEvent) -> tuple:
    held = event.modifiers()
    return tuple(key for flag, key in _MODIFIERS if held & flag)


def buttons(event: QMouseEvent | QWheelEvent) -> list[int]:
    held = event.buttons()
    return [code for flag, code in _BUTTONS.items() if held & flag]


def mouse_kwargs(event: QMouseEvent, scale: float) -> dict:
    """Keyword arguments for ``_vispy_mouse_press/move/release``; ``scale`` maps to canvas pixels."""
    pos = event.position()
    return {
        "native": event,
        "pos": (pos.x() * scale, pos.y() * scale),
        "button": _BUTTONS.get(event.button(), 0),
        "buttons": buttons(event),
        "modifiers": modifiers(event),
    }


def wheel_kwargs(event: QWheelEvent, scale: float) -> dict:
    """Keyword arguments for ``canvas.events.mouse_wheel``, one notch = 1.0 as in vispy's Qt backend."""
    pos = event.position()
    delta = event.angleDelta()
    return {
        "native": event,
        "delta": (delta.x() / 120.0, delta.y() / 120.0),
        "pos": (pos.x() * scale, pos.y() * scale),
        "buttons": buttons(event),
        "modifiers": modifiers(event),
    }
