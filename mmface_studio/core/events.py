"""Change notifications from the document to its views, without Qt.

Views subscribe with ``project.events.connect(callback)`` and receive a :class:`Change` that says
what changed, so a timeline redraws one curve instead of everything (napari's model events are
the model for this). The document emits only on a real change: setting a value equal to the
current one is silent.

Bound methods are held weakly, so a view that is garbage collected without disconnecting does
not keep firing (or keep itself alive); plain functions and lambdas are held strongly, because a
weak reference to a lambda would die at once. A callback that raises is logged and the others
still run: a broken view must never leave the document half-updated inside an undo command.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: The change kinds a :class:`Change` can have ("layer:<channel>" is one per channel).
KINDS: tuple[str, ...] = ("emotion", "layer", "base", "locks", "markers", "audio", "meta")


@dataclass(frozen=True)
class Change:
    """What changed in a project.

    ``kind``: "emotion", "layer:<channel>" (e.g. "layer:jawOpen"), "base", "locks", "markers",
    "audio" or "meta". ``channel``: the channel of a layer change. ``channels``: for "base", the
    channels whose rows changed (all of them when the whole base was replaced). ``field``: for
    "meta", which setting ("prompt", "transcript", "rig", "identity", "fps", "pose_seed",
    "pose_style", "engine").
    """

    kind: str
    channel: str | None = None
    channels: tuple[str, ...] = ()
    field: str | None = None

    @property
    def category(self) -> str:
        """``kind`` without the channel: "layer" for "layer:jawOpen"."""
        return self.kind.split(":", 1)[0]


class Signal(Generic[T]):
    """A list of callbacks called with one argument; ``connect`` returns the callback (decorator use)."""

    def __init__(self) -> None:
        self._slots: list[Callable[[], Callable[[T], Any] | None]] = []

    def connect(self, callback: Callable[[T], Any]) -> Callable[[T], Any]:
        if not callable(callback):
            raise TypeError(f"connect() needs a callable, got {type(callback).__name__}.")
        if getattr(callback, "__self__", None) is not None and hasattr(callback, "__func__"):
            ref: Callable[[], Callable[[T], Any] | None] = weakref.WeakMethod(callback)  # type: ignore[arg-type]
        else:
            ref = _Strong(callback)
        self._slots.append(ref)
        return callback

    def disconnect(self, callback: Callable[[T], Any] | None = None) -> None:
        """Remove ``callback`` (every connection of it); no argument removes all."""
        if callback is None:
            self._slots.clear()
            return
        self._slots = [s for s in self._slots if (live := s()) is not None and live != callback]

    def __len__(self) -> int:
        return sum(1 for s in self._slots if s() is not None)

    def emit(self, value: T) -> None:
        dead = False
        for slot in list(self._slots):
            callback = slot()
            if callback is None:
                dead = True
                continue
            try:
                callback(value)
            except Exception:  # noqa: BLE001 - a view's bug must not corrupt the document
                _log.exception("A change observer raised; the document is unaffected.")
        if dead:
            self._slots = [s for s in self._slots if s() is not None]


class _Strong:
    __slots__ = ("_callback",)

    def __init__(self, callback: Callable[..., Any]) -> None:
        self._callback = callback

    def __call__(self) -> Callable[..., Any]:
        return self._callback
