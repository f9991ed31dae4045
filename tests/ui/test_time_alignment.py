"""A time sits at the same x in the timeline and both curve editors of the main window, whatever the zoom."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from mmface_studio.core.document import SetBasePerformance
from mmface_studio.ui.timeline.time_axis import GUTTER_PX


@pytest.fixture
def window(main_window):
    from mmface_studio.engine import GenerationRequest, generate, synthetic_analysis

    c = main_window.controller
    take = generate(GenerationRequest(), analysis=synthetic_analysis(10.0, seed=1))
    c.stack.push(SetBasePerformance(c.project, take))
    QApplication.processEvents()
    return main_window


def _scene_x(box, seconds: float) -> float:
    return float(box.mapViewToScene(QPointF(seconds, 0.5)).x())


def _where(window, seconds: float) -> dict[str, tuple[float, int]]:
    """Scene and screen x of ``seconds`` in the ruler and in the curve editor shown below (the other tab is hidden)."""
    area = window.timeline
    editor = area.tabs.currentWidget()
    out = {}
    for name, box, view in (("ruler", area.timeline.x_view_box(), area.timeline.graphics),
                            (type(editor).__name__, editor.x_view_box(), editor.plot)):
        scene = _scene_x(box, seconds)
        screen = view.viewport().mapToGlobal(view.mapFromScene(QPointF(scene, 0.0))).x()
        out[name] = (scene, screen)
    return out


def _assert_aligned(window, times=(0.0, 2.5, 7.0, 9.9)) -> None:
    for t in times:
        where = _where(window, t)
        scenes = [s for s, _ in where.values()]
        screens = [x for _, x in where.values()]
        assert max(scenes) - min(scenes) < 1.0, f"{t} s maps to scene x {where}"
        assert max(screens) - min(screens) <= 1, f"{t} s lies at screen x {where}"


def _show_tab(window, index: int) -> None:
    window.timeline.tabs.setCurrentIndex(index)
    QApplication.processEvents()


def test_one_time_maps_to_one_x_in_timeline_and_both_editors(window, qtbot) -> None:
    area = window.timeline
    assert area.emotion_editor.plot.getPlotItem().getAxis("left").width() == GUTTER_PX
    assert area.channel_editor.plot.getPlotItem().getAxis("left").width() == GUTTER_PX
    for tab in (0, 1):  # each editor is checked while shown
        _show_tab(window, tab)
        _assert_aligned(window)
    area.timeline.set_visible_range(2.0, 4.5)  # zoomed on the timeline
    QApplication.processEvents()
    _assert_aligned(window, (2.1, 3.0, 4.4))
    _show_tab(window, 0)
    _assert_aligned(window, (2.1, 3.0, 4.4))
    plot = area.emotion_editor.plot
    plot.setFocus()
    qtbot.keyClick(plot, Qt.Key_F)  # frame all in an editor: the timeline follows, still aligned
    assert area.timeline.visible_range()[1] > 9.5
    _assert_aligned(window)
    wider = window.width() + 240
    window.resize(wider, window.height())  # another width: everything rescales together
    qtbot.waitUntil(lambda: window.width() == wider, timeout=2000)
    QApplication.processEvents()
    _assert_aligned(window)
    _show_tab(window, 1)
    _assert_aligned(window)


def test_the_channel_chooser_is_a_popup_so_the_plot_spans_the_editor(window, qtbot) -> None:
    editor = window.timeline.channel_editor
    _show_tab(window, 1)
    plot_left = editor.plot.mapTo(editor, editor.plot.rect().topLeft()).x()
    assert plot_left == 0, "no channel column beside the plot"
    editor.open_chooser()
    qtbot.waitUntil(editor.chooser.isVisible, timeout=2000)
    qtbot.keyClicks(editor.chooser.filter, "smile")
    visible = [editor.chooser.tree.topLevelItem(i) for i in range(editor.chooser.tree.topLevelItemCount())]
    names = [g.child(j).text(0) for g in visible if not g.isHidden() for j in range(g.childCount())
             if not g.child(j).isHidden()]
    assert names == ["mouthSmileLeft", "mouthSmileRight"]
    tree = editor.chooser.tree
    item = tree.findItems("mouthSmileLeft", Qt.MatchExactly | Qt.MatchRecursive)[0]
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, Qt.ControlModifier, tree.visualItemRect(item).center())
    assert editor.shown_channels == ("jawOpen", "mouthSmileLeft"), "Ctrl-click adds; the filtered-out jawOpen stays"
    assert list(editor.chips) == ["jawOpen", "mouthSmileLeft"] and editor.chips["jawOpen"].isChecked()
    qtbot.mouseClick(editor.chips["mouthSmileLeft"], Qt.LeftButton)  # a chip picks the key target
    assert editor.focused_channel == "mouthSmileLeft" and editor.chips["mouthSmileLeft"].isChecked()
    editor.chooser.hide()
