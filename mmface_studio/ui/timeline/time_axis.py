"""One time axis on screen: the shared left gutter and X-linked ViewBoxes that line up to the pixel.

The timeline rows and the curve editors are separate plots stacked in one dock; an animator reads
a key against the waveform straight above it, so a time must sit at the same screen x in all of
them. Two things make that so:

- the same left gutter (:data:`GUTTER_PX`): the timeline's row-header column and the editors'
  value axis are equally wide, so with equal widths the plots start and end at the same x and a
  time maps to the same x in each widget;
- :class:`AlignedViewBox`: pyqtgraph's X link already lines linked views up by their screen
  geometry (a view offset or narrower than the other shows the matching part of the range), but
  ``ViewBox.screenGeometry`` adds the view widget's position in its parent to its global
  position, counting that offset twice, so views in nested widgets (tabs, docks, splitters) end up
  shifted by a few pixels to whole seconds. Computing the geometry from the viewport's global
  origin fixes the alignment for any layout, gutter or not.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect

#: Pixels left of the time axis in every time-based plot: the timeline's row headers, the editors' value axis.
GUTTER_PX = 76


class AlignedViewBox(pg.ViewBox):
    """A ViewBox whose X link lines up with its linked views on screen to the pixel (see the module docstring)."""

    def screenGeometry(self) -> QRect | None:  # noqa: N802 - pyqtgraph naming
        view = self.getViewWidget()
        if view is None:
            return None
        rect = view.mapFromScene(self.sceneBoundingRect()).boundingRect()  # viewport pixels
        return rect.translated(view.viewport().mapToGlobal(QPoint(0, 0)))
