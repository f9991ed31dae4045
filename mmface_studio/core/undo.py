"""One app-wide undo stack of command objects (DESIGN 2 and 6; glue's model, Qt's QUndoStack semantics).

``stack.push(command)`` executes the command (``command.do()``) and records it; ``undo()`` and
``redo()`` walk the history. A command that changed nothing is not recorded. Consecutive
commands of one gesture (the mouse moves of one keyframe drag, the steps of one slider) merge
into one undo step through ``Command.merge_with``; call :meth:`UndoStack.seal` when the gesture
ends (mouse release) so the next one starts a new step. A merge that returns the document to
where the gesture started removes the step.

The stack remembers a *clean* position (``set_clean()`` after a save): ``is_dirty`` says whether
the document differs from the saved one by commands, which undo/redo keep exact. ``changed``
fires a :class:`StackState` after every change of the stack so the GUI's Undo/Redo actions can
follow it (enabled state, "Undo Move key" text, the window's modified marker).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from mmface_studio.core.events import Signal


class EditError(ValueError):
    """An edit cannot be made (no key there, keys would collide, a value out of range).

    Raised by ``push`` before anything changed; the message is user-facing (a status-bar text).
    """


class Command:
    """An undoable edit. Subclasses implement ``do`` and ``undo``; ``text`` names it in the Edit menu.

    ``do`` is called by ``push`` and again by every redo; ``undo`` restores the state before ``do``.
    """

    text: str = ""

    def do(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError

    def merge_with(self, other: Command) -> bool:
        """Absorb ``other`` (already done, pushed right after this one) into this step; True if merged."""
        return False

    def is_obsolete(self) -> bool:
        """True when doing this command changes nothing (such a command is not recorded)."""
        return False


class CompoundCommand(Command):
    """Several commands as one undo step (cascades, multi-part edits); undone in reverse order."""

    def __init__(self, text: str, commands: Sequence[Command] = ()) -> None:
        self.text = text
        self.commands: list[Command] = list(commands)

    def do(self) -> None:
        done: list[Command] = []
        try:
            for command in self.commands:
                command.do()
                done.append(command)
        except BaseException:
            for command in reversed(done):
                command.undo()
            raise

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()

    def is_obsolete(self) -> bool:
        return all(c.is_obsolete() for c in self.commands)


@dataclass(frozen=True)
class StackState:
    """What the GUI's Undo/Redo actions show; emitted by ``UndoStack.changed``."""

    can_undo: bool
    can_redo: bool
    undo_text: str
    redo_text: str
    is_clean: bool
    index: int
    count: int

    @property
    def is_dirty(self) -> bool:
        return not self.is_clean


class UndoStack:
    """The history of commands; ``limit`` caps the number of undo steps (oldest dropped first)."""

    def __init__(self, limit: int = 500) -> None:
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are done
        self._clean: int | None = 0
        self._limit = self._check_limit(limit)
        self._sealed = False
        self._macro: CompoundCommand | None = None
        #: ``changed.connect(callback)``; ``callback(state: StackState)`` after every change.
        self.changed: Signal[StackState] = Signal()

    # --- state ----------------------------------------------------------------------------------

    @property
    def index(self) -> int:
        """Number of done commands (the position between undo and redo history)."""
        return self._index

    def __len__(self) -> int:
        return len(self._commands)

    @property
    def commands(self) -> tuple[Command, ...]:
        """The whole history (for a history view); ``commands[:index]`` are done."""
        return tuple(self._commands)

    @property
    def can_undo(self) -> bool:
        return self._index > 0 and self._macro is None

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands) and self._macro is None

    @property
    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self._index > 0 else ""

    @property
    def redo_text(self) -> str:
        return self._commands[self._index].text if self._index < len(self._commands) else ""

    @property
    def is_clean(self) -> bool:
        return self._clean == self._index

    @property
    def is_dirty(self) -> bool:
        return not self.is_clean

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = self._check_limit(value)
        self._trim()
        self._emit()

    def state(self) -> StackState:
        return StackState(self.can_undo, self.can_redo, self.undo_text, self.redo_text, self.is_clean,
                          self._index, len(self._commands))

    # --- operations -----------------------------------------------------------------------------

    def push(self, command: Command) -> None:
        """Do ``command`` and record it (merged into the previous step when it continues a gesture).

        If ``do`` raises, nothing is recorded and the exception propagates (the command must leave
        the document unchanged then, which the built-in commands do: they validate first).
        """
        command.do()
        if self._macro is not None:
            if not command.is_obsolete():
                self._macro.commands.append(command)
            return
        if command.is_obsolete():
            return
        self._record(command, allow_merge=True)

    def undo(self) -> None:
        self._no_macro("undo")
        if self._index == 0:
            return
        self._commands[self._index - 1].undo()
        self._index -= 1
        self._sealed = True
        self._emit()

    def redo(self) -> None:
        self._no_macro("redo")
        if self._index == len(self._commands):
            return
        self._commands[self._index].do()
        self._index += 1
        self._sealed = True
        self._emit()

    def seal(self) -> None:
        """End the current gesture: the next push never merges into the current top step."""
        self._sealed = True

    def set_clean(self) -> None:
        """Mark the current position as the saved state (after save or open)."""
        self._clean = self._index
        self._sealed = True
        self._emit()

    def reset_clean(self) -> None:
        """No position is clean until the next ``set_clean`` (a recovered project was never saved)."""
        self._clean = None
        self._emit()

    def clear(self) -> None:
        """Forget the history (new/opened project); the current state becomes clean."""
        self._no_macro("clear")
        self._commands.clear()
        self._index = 0
        self._clean = 0
        self._sealed = False
        self._emit()

    @contextmanager
    def compound(self, text: str) -> Iterator[CompoundCommand]:
        """Group the commands pushed inside the ``with`` block into one undo step.

        If the block raises, the commands already done in it are undone and nothing is recorded.
        Nested blocks join the outermost one.
        """
        if self._macro is not None:
            yield self._macro
            return
        macro = self._macro = CompoundCommand(text)
        try:
            yield macro
        except BaseException:
            self._macro = None
            macro.undo()
            raise
        self._macro = None
        if macro.commands and not macro.is_obsolete():
            self._record(macro, allow_merge=False)

    # --- internals ------------------------------------------------------------------------------

    def _record(self, command: Command, *, allow_merge: bool) -> None:
        del self._commands[self._index:]
        if self._clean is not None and self._clean > self._index:
            self._clean = None  # the saved state was in the discarded redo history
        top = self._commands[-1] if self._commands else None
        if (allow_merge and not self._sealed and top is not None and self._clean != self._index
                and top.merge_with(command)):
            if top.is_obsolete():  # the gesture ended where it began: no step at all
                self._commands.pop()
                self._index -= 1
                self._sealed = True
            self._emit()
            return
        self._commands.append(command)
        self._index += 1
        self._sealed = False
        self._trim()
        self._emit()

    def _trim(self) -> None:
        excess = len(self._commands) - self._limit
        if excess <= 0:
            return
        excess = min(excess, self._index)  # never drop redo history
        del self._commands[:excess]
        self._index -= excess
        if self._clean is not None:
            self._clean -= excess
            if self._clean < 0:
                self._clean = None

    def _no_macro(self, what: str) -> None:
        if self._macro is not None:
            raise RuntimeError(f"Cannot {what} while a compound command is being recorded.")

    def _emit(self) -> None:
        self.changed.emit(self.state())

    @staticmethod
    def _check_limit(limit: int) -> int:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"The undo limit must be a positive integer, got {limit!r}.")
        return limit
