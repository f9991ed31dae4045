"""Side docks that share the right-hand column without starving the timeline below.

Two things keep the column usable at laptop sizes (1440x900):

* each panel sits in a vertical :class:`PanelScroll`, so a tall panel scrolls instead of imposing
  its minimum height on the whole dock area (which would squeeze the curve editors under it);
* the tab bars QMainWindow puts under tabbed docks show whole titles (no "Gene…"): when the
  column is too narrow for them they scroll, with arrow buttons, instead of eliding.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QTabBar, QWidget

#: The least height a side panel keeps before it scrolls: a few rows of controls stay in view.
PANEL_MIN_HEIGHT = 120


class PanelScroll(QScrollArea):
    """A vertical-only scroll area as wide as its panel needs: it never scrolls sideways.

    The panel fills the visible height and scrolls only below its minimum height. (A resizable
    QScrollArea would lay a height-for-width panel, e.g. one with word-wrapped labels, out at its
    preferred height and scroll where the panel used to fit by shrinking its text boxes.)
    """

    def __init__(self, panel: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(panel)  # not resizable: _fit sizes it
        panel.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        panel = self.widget()
        hint = panel.minimumSizeHint() if panel is not None else QSize(0, 0)
        height = min(max(hint.height(), 0), PANEL_MIN_HEIGHT)
        return QSize(max(hint.width(), 0) + self.verticalScrollBar().sizeHint().width(), height)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        panel = self.widget()
        return panel.sizeHint() if panel is not None else super().sizeHint()

    def _fit(self) -> None:
        panel = self.widget()
        if panel is None:
            return
        area = self.contentsRect()
        height = max(area.height(), panel.minimumSizeHint().height())
        width = area.width() - (self.verticalScrollBar().sizeHint().width() if height > area.height() else 0)
        panel.resize(max(width, panel.minimumSizeHint().width()), height)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit()  # the panel's minimum changed (e.g. the identity sliders were rebuilt)
        return super().eventFilter(watched, event)


def side_dock(window: QMainWindow, title: str, panel: QWidget, name: str,
              menu_text: str | None = None) -> QDockWidget:
    """A movable, closable right-hand dock showing ``panel`` in a :class:`PanelScroll`.

    ``title`` is what the dock's tab and title bar show (kept short so five tabs fit the column);
    ``menu_text`` is the longer name the View menu uses, when it differs.
    """
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(PanelScroll(panel))
    dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable)
    dock.setMinimumWidth(300)
    window.addDockWidget(Qt.RightDockWidgetArea, dock)
    if menu_text:
        dock.toggleViewAction().setText(menu_text)
    return dock


def show_whole_tab_titles(bar: QTabBar) -> None:
    bar.setElideMode(Qt.TextElideMode.ElideNone)
    bar.setUsesScrollButtons(True)


class DockTabTitles(QObject):
    """Keeps every dock tab bar of ``window`` unelided, including bars made when docks are re-arranged.

    QMainWindow creates those bars itself (with ElideRight) when docks are tabbed together; they are
    fixed up here as they are polished, i.e. before they are first shown.
    """

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        for bar in window.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
            show_whole_tab_titles(bar)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.ChildPolished and isinstance(event.child(), QTabBar):
            show_whole_tab_titles(event.child())
        return False


def tab_bar_width(window: QMainWindow, dock: QDockWidget) -> int:
    """The width the tab bar under ``dock``'s tab group needs to show all its titles (0: not tabbed)."""
    title = dock.windowTitle()
    for bar in window.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
        if bar.isVisible() and any(bar.tabText(i) == title for i in range(bar.count())):
            return bar.sizeHint().width()
    return 0
