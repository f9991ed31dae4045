"""Which channels the channel curve editor shows: a filterable, grouped ARKit channel list in a popup.

Why a popup and not a column beside the plot: the curve editors share the timeline's time axis,
and a time lines up in all of them only when every plot starts where the timeline's rows start
(the same left gutter). A chooser column would push the plot right and hide the first seconds
under it. The popup opens under the editor's "Channels" button, as tall as it needs (a bottom
dock a few rows high would show three channels at a time), and stays open while the animator
picks several.

The chooser owns no document data: it reports the chosen channel names and the clicked one (the
key target) and marks the channels that have edit-layer keys, as the editor tells it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mmface_studio.core.spaces import ARKIT52
from mmface_studio.ui import theme

GROUP_ORDER: tuple[str, ...] = ("brows", "eyes", "jaw", "mouth", "cheeks/nose", "tongue", "head pose", "eye gaze")
_ROLE = Qt.UserRole


def swatch(colour: str, size: int = 10) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class ChannelChooser(QFrame):
    """Filter box + grouped tree (multi-select). ``chosen(tuple[str, ...])`` in ARKit order, ``picked(str)``."""

    chosen = Signal(object)
    picked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.Popup)
        self.setObjectName("channel-chooser")
        self.setFrameShape(QFrame.StyledPanel)
        self.setStyleSheet(f"#channel-chooser {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; }}")
        self._items: dict[str, QTreeWidgetItem] = {}
        self.filter = QLineEdit(placeholderText="Filter channels (e.g. jaw, smile)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        hint = QLabel("Click to show one channel, Ctrl/Shift-click for several.")
        hint.setProperty("role", "muted")
        hint.setWordWrap(True)
        self.tree = self._build_tree()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.filter)
        layout.addWidget(hint)
        layout.addWidget(self.tree, 1)
        self.resize(300, 460)

    def _build_tree(self) -> QTreeWidget:
        tree = QTreeWidget()
        tree.setHeaderHidden(True)
        tree.setSelectionMode(QAbstractItemView.ExtendedSelection)
        tree.setIndentation(14)
        tree.setStyleSheet(f"QTreeWidget {{ background: {theme.BACKGROUND}; border: 1px solid {theme.BORDER}; }}"
                           f"QTreeWidget::item {{ padding: 2px 0; }}")
        groups = list(GROUP_ORDER) + sorted({c.group for c in ARKIT52.channels} - set(GROUP_ORDER))
        bold = QFont(tree.font())
        bold.setBold(True)
        for group in groups:
            names = [c.name for c in ARKIT52.channels if c.group == group]
            if not names:
                continue
            parent = QTreeWidgetItem(tree, [group.capitalize()])
            parent.setFlags(Qt.ItemIsEnabled)
            parent.setFont(0, bold)
            parent.setForeground(0, QColor(theme.MUTED))
            for name in names:
                item = QTreeWidgetItem(parent, [name])
                item.setData(0, _ROLE, name)
                self._items[name] = item
        tree.itemSelectionChanged.connect(self._selection)
        tree.currentItemChanged.connect(self._current)
        return tree

    # --- what the editor tells it ---------------------------------------------------------------------

    def select(self, names: Sequence[str]) -> None:
        """Select exactly ``names`` (no ``chosen`` signal: the editor is the one asking)."""
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        for name in names:
            self._items[name].setSelected(True)
            self._items[name].parent().setExpanded(True)
        if names:
            self.tree.setCurrentItem(self._items[names[0]], 0, QItemSelectionModel.NoUpdate)
            self.tree.scrollToItem(self._items[names[0]])
        self.tree.blockSignals(False)

    def set_colours(self, colours: dict[str, str]) -> None:
        """Swatches for the shown channels (the plot's colours), none for the others."""
        for name, item in self._items.items():
            item.setIcon(0, swatch(colours[name]) if name in colours else QIcon())

    def mark_edited(self, names: Iterable[str], edited: set[str]) -> None:
        """Bold accent text for channels with edit-layer keys, so edits are easy to find again."""
        for name in names:
            item = self._items.get(name)
            if item is None:
                continue
            font = item.font(0)
            font.setBold(name in edited)
            item.setFont(0, font)
            item.setForeground(0, QColor(theme.ACCENT if name in edited else theme.TEXT))
            item.setToolTip(0, f"{name}: has edit-layer keys" if name in edited else name)

    def chosen_names(self) -> tuple[str, ...]:
        """The selected channels, those the filter hides included (``selectedItems`` would drop them)."""
        return tuple(n for n in ARKIT52.names if self._items[n].isSelected())

    def popup_at(self, where: QPoint) -> None:
        """Open at ``where`` (global), moved up when it would leave the screen, with the filter focused."""
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None:
            where = QPoint(min(where.x(), screen.right() - self.width()),
                           min(where.y(), screen.bottom() - self.height()))
        self.move(where)
        self.show()
        self.raise_()
        self.filter.setFocus(Qt.PopupFocusReason)

    # --- user ---------------------------------------------------------------------------------------

    def _selection(self) -> None:
        self.chosen.emit(self.chosen_names())

    def _current(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None and item.data(0, _ROLE):
            self.picked.emit(item.data(0, _ROLE))

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                child = group.child(j)
                hide = bool(needle) and needle not in child.text(0).lower()
                child.setHidden(hide)
                visible += not hide
            group.setHidden(visible == 0)
            group.setExpanded(bool(needle) or group.isExpanded())

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.hide()
            return
        super().keyPressEvent(event)
