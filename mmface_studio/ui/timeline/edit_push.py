"""Pushing an editor's command: a refused edit becomes a status message instead of an exception."""

from __future__ import annotations

from collections.abc import Callable

from mmface_studio.core.document import Command, EditError, UndoStack


def push_edit(stack: UndoStack, command: Command, on_refused: Callable[[str], object], *, seal: bool = True) -> bool:
    """Push ``command``; discrete edits are sealed on both sides so they never merge with a drag."""
    if seal:
        stack.seal()
    try:
        stack.push(command)
    except EditError as exc:
        on_refused(str(exc))
        return False
    if seal:
        stack.seal()
    return True
