"""The curve editors with real mouse and key events: every gesture is one exact undo step.

The widgets are the real ones (pyqtgraph plots in an X server); the document is a 10 s project
with a generated base performance. Drags go through Qt's event system (press, moves, release)
exactly as a user's would, so pyqtgraph's drag detection and our merging are both exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from mmface_studio.core.document import (
    EMOTIONS,
    AddChannelKey,
    Curve,
    CurveKey,
    EmotionKey,
    EmotionTrack,
    Project,
    SetLayerCurve,
    UndoStack,
)
from mmface_studio.core.spaces import ARKIT52

pytestmark = pytest.mark.gui

HAPPY = EMOTIONS.index("happiness")
SAD = EMOTIONS.index("sadness")


@pytest.fixture(scope="module")
def base_performance():
    from mmface_studio.engine import GenerationRequest, generate, synthetic_analysis

    return generate(GenerationRequest(), analysis=synthetic_analysis(10.0, seed=0))


@pytest.fixture
def project(base_performance) -> Project:
    track = EmotionTrack((EmotionKey.of(0.0, neutral=1.0), EmotionKey.of(2.0, happiness=0.5),
                          EmotionKey.of(6.0, sadness=0.4)))
    return Project(base=base_performance, emotion=track)


def _show(qtbot, widget, width: int = 1200, height: int = 320):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def emotion(qtbot, project):
    from mmface_studio.ui.timeline.emotion_editor import EmotionCurveEditor

    stack = UndoStack()
    return _show(qtbot, EmotionCurveEditor(project, stack)), project, stack


@pytest.fixture
def channels(qtbot, project):
    from mmface_studio.ui.timeline.channel_editor import ChannelCurveEditor

    stack = UndoStack()
    return _show(qtbot, ChannelCurveEditor(project, stack, channels=["jawOpen"]), 1300), project, stack


def _key(track: EmotionTrack, time: float, tol: float = 1e-5) -> EmotionKey | None:
    return next((k for k in track.keys if abs(k.time - time) < tol), None)


def _move(widget, pos: QPoint, modifiers=Qt.NoModifier) -> None:
    """A real mouse-move event with the left button held (and modifiers, which QTest.mouseMove lacks)."""
    event = QMouseEvent(QEvent.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)), Qt.NoButton,
                        Qt.LeftButton, modifiers)
    QApplication.sendEvent(widget, event)


def drag(qtbot, widget, start: QPoint, end: QPoint, modifiers=Qt.NoModifier, steps: int = 10) -> None:
    qtbot.mousePress(widget, Qt.LeftButton, modifiers, start)
    for i in range(1, steps + 1):
        _move(widget, start + (end - start) * (i / steps), modifiers)
        qtbot.wait(5)
    qtbot.mouseRelease(widget, Qt.LeftButton, modifiers, end)


def click(qtbot, plot, time: float, value: float, modifiers=Qt.NoModifier, button=Qt.LeftButton) -> None:
    qtbot.mouseClick(plot.viewport(), button, modifiers, plot.widget_pos(time, value))


# --- emotion editor -------------------------------------------------------------------------------------


def test_k_adds_an_emotion_key_with_the_blend_at_the_playhead(qtbot, emotion) -> None:
    editor, project, stack = emotion
    before = project.emotion
    editor.set_playhead(4.0)
    expected = project.emotion_at(4.0)
    click(qtbot, editor.plot, 4.0, 0.95)  # empty space: focuses the plot
    qtbot.keyClick(editor.plot, Qt.Key_K)
    key = _key(project.emotion, 4.0)
    assert key is not None and key.gammas == pytest.approx(expected, abs=1e-6)
    assert len(stack) == 1 and editor.selected_times() == (key.time,)
    stack.undo()
    assert project.emotion == before


def test_dragging_a_key_in_time_and_value_is_one_undo_step(qtbot, emotion) -> None:
    editor, project, stack = emotion
    before = project.emotion
    seen = []
    project.events.connect(lambda change: seen.append(change.kind))
    plot = editor.plot
    drag(qtbot, plot.viewport(), plot.widget_pos(2.0, 0.5), plot.widget_pos(3.0, 0.8))
    assert seen.count("emotion") >= 3, "the document must follow the drag live"
    moved = _key(project.emotion, 3.0, tol=1 / 30 + 1e-6)
    assert moved is not None and _key(project.emotion, 2.0) is None
    assert moved.time * 30 == pytest.approx(round(moved.time * 30), abs=1e-6), "times snap to frames"
    assert moved.gammas[HAPPY] == pytest.approx(0.8, abs=0.02)
    assert moved.gammas[SAD] == 0.0, "only the dragged emotion changes"
    assert len(stack) == 1 and stack.undo_text == "Drag emotion keys"
    after = project.emotion
    stack.undo()
    assert project.emotion == before
    stack.redo()
    assert project.emotion == after


def test_shift_drag_moves_along_one_axis_only(qtbot, emotion) -> None:
    editor, project, stack = emotion
    plot = editor.plot
    drag(qtbot, plot.viewport(), plot.widget_pos(2.0, 0.5), plot.widget_pos(4.0, 0.6), Qt.ShiftModifier)
    moved = _key(project.emotion, 4.0, tol=1 / 30 + 1e-6)
    assert moved is not None and moved.gammas[HAPPY] == 0.5
    assert len(stack) == 1


def test_a_drag_stops_at_the_value_range(qtbot, emotion) -> None:
    editor, project, stack = emotion
    plot = editor.plot
    drag(qtbot, plot.viewport(), plot.widget_pos(6.0, 0.4), plot.widget_pos(6.0, 1.0) - QPoint(0, 60))
    assert _key(project.emotion, 6.0).gammas[SAD] == 1.0


def test_box_select_two_keys_and_delete(qtbot, emotion) -> None:
    editor, project, stack = emotion
    before = project.emotion
    plot = editor.plot
    drag(qtbot, plot.viewport(), plot.widget_pos(1.5, 0.9), plot.widget_pos(6.5, -0.02))
    assert editor.selected_times() == (2.0, 6.0)
    qtbot.keyClick(plot, Qt.Key_Delete)
    assert [k.time for k in project.emotion.keys] == [0.0]
    assert len(stack) == 1
    stack.undo()
    assert project.emotion == before


def test_ctrl_click_extends_the_selection(qtbot, emotion) -> None:
    editor, project, stack = emotion
    click(qtbot, editor.plot, 2.0, 0.5)
    click(qtbot, editor.plot, 6.0, 0.4, Qt.ControlModifier)
    assert editor.selected_times() == (2.0, 6.0)


def test_copy_and_paste_at_the_playhead(qtbot, emotion) -> None:
    editor, project, stack = emotion
    click(qtbot, editor.plot, 2.0, 0.5)
    qtbot.keyClick(editor.plot, Qt.Key_C, Qt.ControlModifier)
    editor.set_playhead(8.0)
    qtbot.keyClick(editor.plot, Qt.Key_V, Qt.ControlModifier)
    pasted = _key(project.emotion, 8.0)
    assert pasted is not None and pasted.gammas == _key(project.emotion, 2.0).gammas
    assert len(stack) == 1 and editor.selected_times() == (8.0,)
    stack.undo()
    assert _key(project.emotion, 8.0) is None


def test_right_click_menu_sets_the_interpolation(qtbot, emotion) -> None:
    editor, project, stack = emotion
    click(qtbot, editor.plot, 6.0, 0.4, button=Qt.RightButton)
    menu = editor.plot.context_menu
    qtbot.waitUntil(lambda: menu is not None and menu.isVisible())
    step = next(a for a in menu.actions() if a.text() == "Step")
    qtbot.mouseClick(menu, Qt.LeftButton, pos=menu.actionGeometry(step).center())
    assert _key(project.emotion, 6.0).interpolation == "step"
    assert _key(project.emotion, 2.0).interpolation == "smooth"
    assert len(stack) == 1


def test_clicking_the_time_axis_requests_a_seek(qtbot, emotion) -> None:
    editor, _, _ = emotion
    plot = editor.plot
    axis = plot.getPlotItem().getAxis("bottom")
    y = plot.mapFromScene(axis.parentItem().mapRectToScene(axis.geometry()).center()).y()
    with qtbot.waitSignal(editor.seek_requested) as signal:
        qtbot.mouseClick(plot.viewport(), Qt.LeftButton, pos=QPoint(plot.widget_pos(5.0, 0).x(), y))
    assert signal.args[0] == pytest.approx(5.0, abs=0.05)


def test_priors_overlay_follows_the_weight_slider_and_undo(qtbot, emotion) -> None:
    """The dotted overlay is the keyed curve as the voice bends it; the header slider sets how much."""
    editor, project, stack = emotion
    times = np.linspace(0, 10, 301)
    voice = np.tile(0.5 + 0.4 * np.sin(times), (7, 1))  # the voice's happiness rises and falls
    editor.set_priors(times, voice)
    assert "prior:anger" in editor.plot.curve_names()

    def bend() -> float:
        """How far the dotted happiness curve departs from the keyed one (largest gap)."""
        t, keyed = editor.plot.curve_data("emotion:happiness")
        t2, followed = editor.plot.curve_data("prior:happiness")
        return float(np.max(np.abs(np.interp(t, t2, followed) - keyed)))

    project.assign(emotion_prior_weight=0.0, emotion=EmotionTrack.constant(happiness=0.5))  # set-up, not an edit
    swing = float(np.max(np.abs(voice[1] - voice[1].mean())))  # the voice's largest departure from its mean
    assert bend() < 1e-6, "at 0 % the voice changes nothing"
    control = editor.follow_voice
    control.slider.setFocus()
    for _ in range(5):
        qtbot.keyClick(control.slider, Qt.Key_PageUp)  # 5 x 10 %
    assert project.emotion_prior_weight == pytest.approx(0.5) and control.value.text() == "50 %"
    assert bend() == pytest.approx(0.5 * swing, abs=0.01), "the curve bends by w times the voice's swing"
    stack.undo()
    assert project.emotion_prior_weight == pytest.approx(0.4) and control.slider.value() == 40
    assert bend() == pytest.approx(0.4 * swing, abs=0.01)
    qtbot.mouseClick(editor.chips["anger"], Qt.LeftButton)
    assert "prior:anger" not in editor.plot.curve_names() and "emotion:anger" not in editor.plot.curve_names()
    editor.set_priors(None, None)
    assert not any(name.startswith("prior:") for name in editor.plot.curve_names())


def test_slider_panel_edits_the_selected_key(qtbot, emotion) -> None:
    from mmface_studio.ui.panels.emotion_sliders import EmotionKeyPanel

    editor, project, stack = emotion
    panel = _show(qtbot, EmotionKeyPanel(project, stack), 300, 320)
    panel.connect_editor(editor)
    before = project.emotion
    click(qtbot, editor.plot, 6.0, 0.4)
    assert panel.key_time == 6.0 and panel.sliders["sadness"].value() == 400
    slider = panel.sliders["happiness"]
    handle = QPoint(7, slider.height() // 2)  # the handle sits at the left end (value 0)
    drag(qtbot, slider, handle, handle + QPoint(int(slider.width() * 0.6), 0))
    gamma = _key(project.emotion, 6.0).gammas[HAPPY]
    assert 0.4 < gamma <= 1.0 and panel.values["happiness"].text() == f"{gamma:.2f}"
    assert len(stack) == 1, "one slider drag is one undo step"
    stack.undo()
    assert project.emotion == before and panel.sliders["happiness"].value() == 0
    panel.time_field.setValue(7.0)  # typed time: moves the key, the editor keeps it selected
    assert _key(project.emotion, 7.0) is not None and editor.selected_times() == (7.0,)
    panel.close()


def test_editors_stop_observing_on_close(qtbot, emotion, channels) -> None:
    editor, project, _ = emotion
    observers = len(project.events)
    editor.close()
    channels[0].close()
    assert len(project.events) == observers - 3, "the emotion editor, its follow-voice control, the channel editor"


# --- channel editor -------------------------------------------------------------------------------------


def _expected_row(project: Project, channel: str) -> np.ndarray:
    row = ARKIT52.index[channel]
    spec = ARKIT52.channel(channel)
    values = project.base.values[row].astype(np.float64) + project.layer(channel).sample(project.frame_times())
    return np.clip(values, spec.minimum, spec.maximum).astype(np.float32)


def test_channel_key_added_with_k_and_dragged(qtbot, channels) -> None:
    editor, project, stack = channels
    plot = editor.plot
    assert editor.shown_channels == ("jawOpen",) and editor.focused_channel == "jawOpen"
    editor.set_playhead(1.0)
    click(qtbot, plot, 1.0, -0.2)
    qtbot.keyClick(plot, Qt.Key_K)
    assert project.layer("jawOpen").keys == (CurveKey(1.0, 0.0),)
    drag(qtbot, plot.viewport(), plot.widget_pos(1.0, 0.0), plot.widget_pos(1.5, 0.3))
    (key,) = project.layer("jawOpen").keys
    assert key.time == pytest.approx(1.5, abs=1 / 30 + 1e-6) and key.value == pytest.approx(0.3, abs=0.03)
    assert len(stack) == 2
    perf = project.evaluate()
    np.testing.assert_array_equal(perf.values[ARKIT52.index["jawOpen"]], _expected_row(project, "jawOpen"))
    x, y = plot.curve_data("jawOpen:result")
    np.testing.assert_allclose(y, perf.values[ARKIT52.index["jawOpen"]])
    dragged = project.layer("jawOpen")
    stack.undo()
    assert project.layer("jawOpen") == Curve((CurveKey(1.0, 0.0),))
    stack.undo()
    assert "jawOpen" not in project.layers
    np.testing.assert_array_equal(project.evaluate().values, project.base.values)
    stack.redo()
    stack.redo()
    assert project.layer("jawOpen") == dragged


def test_tangent_drag_changes_the_curve(qtbot, channels) -> None:
    editor, project, stack = channels
    stack.push(SetLayerCurve(project, "jawOpen", Curve((CurveKey(1.0, 0.0), CurveKey(2.0, 0.3),
                                                        CurveKey(3.0, 0.0)))))
    before = project.layer("jawOpen")
    sample_times = np.linspace(1.0, 3.0, 41)
    plot = editor.plot
    click(qtbot, plot, 2.0, 0.3)
    tips = plot.tangent_handles()
    assert set(tips) == {(("jawOpen", 2.0), "in"), (("jawOpen", 2.0), "out")}
    tip = plot.widget_pos(*tips[(("jawOpen", 2.0), "out")])
    drag(qtbot, plot.viewport(), tip, tip - QPoint(0, 50))
    key = project.layer("jawOpen").key_at(2.0)
    assert key.out_tangent is not None and key.out_tangent > 0.0 and key.in_tangent == key.out_tangent
    assert not np.allclose(project.layer("jawOpen").sample(sample_times), before.sample(sample_times))
    assert len(stack) == 2 and stack.undo_text.startswith("Change tangents")
    stack.undo()
    assert project.layer("jawOpen") == before


def test_channel_box_select_delete_and_multi_channel(qtbot, channels) -> None:
    editor, project, stack = channels
    stack.push(AddChannelKey(project, "jawOpen", CurveKey(2.0, 0.1)))
    stack.push(AddChannelKey(project, "mouthSmileLeft", CurveKey(2.0, -0.1)))
    editor.show_channels(["jawOpen", "mouthSmileLeft"])
    plot = editor.plot
    drag(qtbot, plot.viewport(), plot.widget_pos(1.5, 0.25), plot.widget_pos(2.5, -0.2))
    assert editor.selected_keys() == {"jawOpen": (2.0,), "mouthSmileLeft": (2.0,)}
    qtbot.keyClick(plot, Qt.Key_Delete)
    assert project.layers == {}
    assert len(stack) == 3
    stack.undo()
    assert set(project.layers) == {"jawOpen", "mouthSmileLeft"}


def test_only_the_changed_channel_is_redrawn(qtbot, channels, monkeypatch) -> None:
    editor, project, stack = channels
    editor.show_channels(["jawOpen", "mouthSmileLeft"])
    drawn: list[str] = []
    original = editor.plot.set_curve
    monkeypatch.setattr(editor.plot, "set_curve", lambda name, *a, **k: (drawn.append(name), original(name, *a, **k)))
    stack.push(AddChannelKey(project, "mouthSmileLeft", CurveKey(1.0, 0.2)))
    assert drawn and {name.split(":")[0] for name in drawn} == {"mouthSmileLeft"}
    drawn.clear()
    stack.push(AddChannelKey(project, "browInnerUp", CurveKey(1.0, 0.2)))  # not shown: nothing to draw
    assert drawn == []


def test_k_keys_the_current_layer_value(qtbot, channels) -> None:
    editor, project, stack = channels
    stack.push(SetLayerCurve(project, "jawOpen", Curve((CurveKey(1.0, 0.0), CurveKey(3.0, 0.2, "linear")))))
    editor.set_playhead(5.0)  # after the last key: the layer holds 0.2 there
    click(qtbot, editor.plot, 5.0, 0.9)
    qtbot.keyClick(editor.plot, Qt.Key_K)
    assert project.layer("jawOpen").key_at(5.0).value == pytest.approx(0.2)
    assert editor.selected_keys() == {"jawOpen": (5.0,)}


def test_channel_menu_sets_interpolation_and_resets_tangents(qtbot, channels) -> None:
    editor, project, stack = channels
    stack.push(SetLayerCurve(project, "jawOpen", Curve((CurveKey(1.0, 0.1, in_tangent=0.5, out_tangent=0.5),
                                                        CurveKey(2.0, 0.3)))))
    for label, check in (("Step", lambda k: k.interpolation == "step"),
                         ("Auto tangents", lambda k: k.in_tangent is None and k.out_tangent is None)):
        editor.plot.set_selection([])
        click(qtbot, editor.plot, 1.0, 0.1, button=Qt.RightButton)
        menu = editor.plot.context_menu
        qtbot.waitUntil(lambda m=menu: m is not None and m.isVisible())
        action = next(a for a in menu.actions() if a.text() == label)
        qtbot.mouseClick(menu, Qt.LeftButton, pos=menu.actionGeometry(action).center())
        assert check(project.layer("jawOpen").key_at(1.0))
    assert len(stack) == 3
