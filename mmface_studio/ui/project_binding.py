"""One way for a view to observe one project: bind, detach, and detach on close.

Every editor and panel that shows the document does the same three things; keeping them here
means none of them can forget to disconnect (a stale observer would redraw a closed widget).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QCloseEvent


class ProjectBound:
    """Mixin for QWidgets: ``self.project``/``self.stack`` and ``self._on_change`` as the observer."""

    project: Any = None
    stack: Any = None

    def _bind(self, project: Any, stack: Any) -> None:
        """Observe ``project`` (edits go to ``stack``); the previous project is no longer observed."""
        self.detach()
        self.project, self.stack = project, stack
        project.events.connect(self._on_change)

    def detach(self) -> None:
        """Stop observing (on close; the owner also calls it when it drops the view)."""
        if self.project is not None:
            self.project.events.disconnect(self._on_change)
            self.project = None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.detach()
        super().closeEvent(event)

    def _on_change(self, change: Any) -> None:  # pragma: no cover - every view overrides it
        raise NotImplementedError
