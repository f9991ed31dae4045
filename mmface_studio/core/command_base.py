"""The base of the built-in commands: snapshot the slots an edit touches, put them back on undo.

A *slot* is a project field ("emotion", "locks", "base", "prompt", ...) or "layer:<channel>" for
one channel's offset curve. On its first ``do`` a :class:`SnapshotCommand` reads its slots,
computes the new values with ``_compute`` (raising ``EditError`` before changing anything when
the edit is impossible) and writes them; afterwards ``do``/``undo`` only write the stored new/old
immutable values back. Undo is therefore exact by construction, whatever ``_compute`` does.

Merging (one undo step per drag): a subclass with ``mergeable = True`` sets ``_grab`` (what the
command picks up, e.g. the keys at their current times) and ``_release`` (where it leaves them);
a push merges into the previous step when it is the same kind of command on the same slots and
grabs, within 1e-6, what the previous one released.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from mmface_studio.core.project import Project, same_value
from mmface_studio.core.undo import Command, EditError

TOLERANCE = 1e-6


def close_enough(a: Any, b: Any) -> bool:
    """Token equality with float tolerance (a drag's next push grabs where the last one left off)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) < TOLERANCE
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(close_enough(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class SnapshotCommand(Command):
    """A command over named slots; subclasses implement ``_compute(current) -> {slot: new value}``."""

    mergeable = False

    def __init__(self, project: Project, text: str, slots: Sequence[str]) -> None:
        self.project = project
        self.text = text
        self._slots = tuple(slots)
        self._old: dict[str, Any] | None = None
        self._new: dict[str, Any] | None = None
        self._grab: Hashable = None  # what this command picked up (merge token)
        self._release: Hashable = None  # where it left it

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def do(self) -> None:
        if self._new is not None:
            self._write(self._new)
            return
        current = {slot: self._read(slot) for slot in self._slots}
        try:
            new = {**current, **self._compute(current)}
            self._write(new)
        except EditError:
            raise
        except ValueError as exc:  # RequestError, CurveError, ItemError, DocumentError, SpaceError
            raise EditError(str(exc)) from None
        self._old, self._new = current, new

    def undo(self) -> None:
        if self._old is not None:
            self._write(self._old)

    def is_obsolete(self) -> bool:
        if self._old is None or self._new is None:
            return False
        return all(same_value(s, self._old[s], self._new[s]) for s in self._slots)

    def merge_with(self, other: Command) -> bool:
        if not (self.mergeable and type(other) is type(self) and isinstance(other, SnapshotCommand)):
            return False
        if other.project is not self.project or other._slots != self._slots or other._new is None:
            return False
        if other._grab is None or not close_enough(other._grab, self._release):
            return False
        assert self._new is not None and other._old is not None
        if not all(same_value(s, self._new[s], other._old[s]) for s in self._slots):
            return False
        self._new, self._release = other._new, other._release
        return True

    def _read(self, slot: str) -> Any:
        if slot.startswith("layer:"):
            return self.project.layer(slot[6:])
        return self.project.get(slot)

    def _write(self, values: dict[str, Any]) -> None:
        fields = {k: v for k, v in values.items() if not k.startswith("layer:")}
        if fields:
            self.project.assign(**fields)
        for slot, curve in values.items():
            if slot.startswith("layer:"):
                self.project.assign_layer(slot[6:], curve)
