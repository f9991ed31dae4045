"""Keyboard shortcuts and the right-click menu of the keyframe plot (a mixin of :class:`KeyframePlot`).

The plot's keys (K, Delete, Ctrl+C/V/A, F, Esc) must win over the window's shortcuts of the same
name (K is also the transport's stop) while the plot has focus, and the menu offers the same
edits; both only call the plot's :class:`~mmface_studio.ui.timeline.keyframe_plot.KeyEditor`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QMenu

__all__ = ["KeyCommands"]


class KeyCommands:
    """Mixin for :class:`KeyframePlot` (listed before the Qt base, so ``event``/``keyPressEvent`` win).

    Uses the plot's ``editor``, ``_selection``, ``_tracks``, ``_focus``, ``playhead``,
    ``set_selection``, ``frame_all`` and ``_find``; keeps the open menu in ``_menu``.
    """

    editor: Any
    _selection: list[tuple[Hashable, float]]
    _tracks: dict[Hashable, Any]
    _focus: Hashable | None
    _menu: QMenu | None

    def _key_action(self, event: QKeyEvent) -> Callable[[], object] | None:
        ed, sel = self.editor, list(self._selection)
        if ed is None:
            return None
        ctrl = bool(event.modifiers() & Qt.ControlModifier)
        actions: dict[tuple[int, bool], Callable[[], object]] = {
            (Qt.Key_Delete, False): lambda: sel and ed.delete_keys(sel),
            (Qt.Key_Backspace, False): lambda: sel and ed.delete_keys(sel),
            (Qt.Key_C, True): lambda: sel and ed.copy_keys(sel),
            (Qt.Key_V, True): lambda: ed.paste_keys(self.playhead),
            (Qt.Key_A, True): lambda: self.set_selection((t, x) for t, e in self._tracks.items() for x in e.times),
            (Qt.Key_K, False): lambda: ed.add_key(self.playhead, self._focus),
            (Qt.Key_F, False): self.frame_all,
            (Qt.Key_Escape, False): lambda: self.set_selection([]),
        }
        if event.modifiers() & ~(Qt.ControlModifier | Qt.KeypadModifier):
            return None
        return actions.get((event.key(), ctrl))

    def event(self, ev: QEvent) -> bool:
        # Our keys win over same-named window shortcuts while the plot has focus (K, Delete, Ctrl+C).
        if ev.type() == QEvent.ShortcutOverride and self._key_action(ev) is not None:  # type: ignore[arg-type]
            ev.accept()
            return True
        return super().event(ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        action = self._key_action(ev)
        if action is None:
            super().keyPressEvent(ev)
            return
        action()
        ev.accept()

    @property
    def context_menu(self) -> QMenu | None:
        """The menu of the last right-click (open while it is shown)."""
        return self._menu

    def _show_menu(self, screen_pos: QPoint) -> None:
        """Interpolation of the selected keys, auto tangents, clipboard, add/delete."""
        ed, handles, playhead = self.editor, list(self._selection), self.playhead
        if ed is None:
            return
        picked = [(self._tracks[h[0]], i) for h in handles if (i := self._find(h)[1]) >= 0]
        modes = {entry.modes[i] for entry, i in picked}
        if self._menu is not None:
            self._menu.deleteLater()
        menu = self._menu = QMenu(self)
        if handles:
            menu.addSection("Interpolation")
            for mode in ("linear", "smooth", "step"):
                action = menu.addAction(mode.capitalize(), lambda m=mode: ed.set_interpolation(handles, m))
                action.setCheckable(True)
                action.setChecked(modes == {mode})
            if any(entry.tangents is not None for entry, _ in picked):
                menu.addAction("Auto tangents", lambda: ed.reset_tangents(handles))
            menu.addSeparator()
            menu.addAction("Copy keys\tCtrl+C", lambda: ed.copy_keys(handles))
            menu.addAction("Delete keys\tDel", lambda: ed.delete_keys(handles))
        menu.addAction("Paste at playhead\tCtrl+V", lambda: ed.paste_keys(playhead))
        menu.addAction("Add key at playhead\tK", lambda: ed.add_key(playhead, None))
        menu.popup(screen_pos)
