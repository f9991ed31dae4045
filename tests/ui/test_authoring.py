"""Authoring in the main window: generate from audio, edit emotion, re-sample and lock pose, files, undo."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from mmface_studio.audio import clip_from_array
from mmface_studio.audio.phonetic_espeak import synthesize
from mmface_studio.core.document import AddEmotionKey, EmotionKey, EmotionTrack, SetEmotionTrack, load_project

TEXT = "Bob may move the blue boat by the bay, and maybe paint it purple."


@pytest.fixture
def generated(main_window, qtbot):
    """The window with an espeak-ng line imported and generated (alignment with its transcript)."""
    controller = main_window.controller
    speech = synthesize(TEXT)
    from mmface_studio.core.document import SetAudio, SetProperty

    controller.stack.push(SetAudio(controller.project, clip_from_array(speech.audio16k, 16000, name="line")))
    controller.stack.push(SetProperty(controller.project, "transcript", TEXT))
    controller.generate()
    qtbot.waitUntil(lambda: not controller.busy and controller.project.base is not None, timeout=60000)
    main_window.transport.pause()
    return main_window


def test_generate_fills_timeline_and_viewport(generated) -> None:
    perf = generated.performance
    assert perf.provenance["engine"] == "classic" and perf.duration > 3.0
    assert generated.transport.clock.frame_count == perf.frame_count
    assert generated.controller.stack.can_undo and "Generate" in generated.controller.stack.undo_text


def test_emotion_edit_updates_the_animation_at_once_and_undoes(generated) -> None:
    c = generated.controller
    before = generated.performance.curve("mouthSmileLeft").copy()
    c.stack.push(SetEmotionTrack(c.project, EmotionTrack.constant(happiness=0.9)))
    after = generated.performance.curve("mouthSmileLeft")
    assert after.mean() > before.mean() + 0.1, "the smile shows without regenerating"
    c.stack.undo()
    assert np.allclose(generated.performance.curve("mouthSmileLeft"), before, atol=1e-6)


def test_resample_changes_pose_and_lock_keeps_the_locked_range(generated) -> None:
    c = generated.controller
    fps = generated.performance.fps
    yaw0 = generated.performance.curve("HeadYaw").copy()
    c.lock_range(1.0, 2.0)
    c.resample_pose()
    yaw1 = generated.performance.curve("HeadYaw")
    locked = slice(int(1.0 * fps) + 1, int(2.0 * fps))
    assert np.array_equal(yaw1[locked], yaw0[locked]), "locked frames are kept exactly"
    assert np.abs(yaw1 - yaw0).max() > 1e-3, "outside the lock the take changed"
    c.stack.undo()  # re-sample
    assert np.array_equal(generated.performance.curve("HeadYaw"), yaw0)


def test_pose_candidates_preview_and_pick(generated, qtbot) -> None:
    panel = generated.pose_panel
    panel.count.setValue(3)
    with qtbot.waitSignal(generated.controller.candidates_ready, timeout=30000):
        panel.preview_button.click()
    rows = [panel.candidates.itemAt(i).widget() for i in range(panel.candidates.count())]
    rows = [r for r in rows if r is not None]
    assert len(rows) == 3
    qtbot.waitUntil(lambda: rows[0].plot.height() > 0 and rows[0].use_button.isVisible(), timeout=5000)
    ranges = {tuple(np.round(r.plot.getPlotItem().getViewBox().viewRange()[1], 3)) for r in rows}
    assert len(ranges) == 1, "one vertical scale for all takes, so their motion sizes compare"
    for row in rows:  # readable: a real plot height, nothing cut off at the card's edges
        assert row.plot.height() >= 80 and row.plot.getPlotItem().getAxis("bottom").isVisible()
        for label in (row.title, row.summary, row.use_button):
            inside = label.mapTo(row, label.rect().bottomRight())
            assert inside.x() <= row.width() and label.width() >= label.minimumSizeHint().width()
        assert row.summary.text().count("°") == 3
    rows[1].use_button.click()
    assert generated.controller.project.pose_seed == rows[1].seed
    assert np.allclose(generated.performance.curve("HeadYaw"), rows[1].take.curve("HeadYaw"), atol=1e-6)


def test_voice_priors_are_overlaid_and_the_follow_voice_weight_is_an_undoable_edit(generated) -> None:
    c = generated.controller
    editor, panel = generated.timeline.emotion_editor, generated.timeline.emotion_panel
    assert editor.has_priors, "the engine's voice-predicted emotion reaches the emotion editor"
    assert "prior:happiness" in editor.plot.curve_names()
    before = generated.performance.values.copy()
    panel.follow_voice.slider.setValue(90)  # the emotion key panel's Follow voice slider
    assert c.project.emotion_prior_weight == pytest.approx(0.9)
    assert editor.follow_voice.value.text() == "90 %", "the editor header shows the same document value"
    assert not np.allclose(generated.performance.values, before), "the face follows the voice at once"
    t, keyed = editor.plot.curve_data("emotion:happiness")
    t2, followed = editor.plot.curve_data("prior:happiness")
    assert np.abs(np.interp(t, t2, followed) - keyed).max() > 0.01, "the overlay shows the bend"
    assert c.stack.undo_text == "Set follow-voice weight"
    c.stack.undo()
    assert c.project.emotion_prior_weight == pytest.approx(0.1) and panel.follow_voice.slider.value() == 10
    np.testing.assert_allclose(generated.performance.values, before, atol=1e-6)


def test_save_open_round_trip_and_title(generated, qtbot, tmp_path) -> None:
    c = generated.controller
    c.stack.push(AddEmotionKey(c.project, EmotionKey.of(1.5, surprise=0.8)))
    assert "•" in generated.windowTitle()
    path = tmp_path / "take.mmfs"
    assert c.save(path)
    assert "•" not in generated.windowTitle() and path.name in generated.windowTitle()
    reopened = load_project(path)
    assert np.allclose(reopened.evaluate().values, c.project.evaluate().values, atol=1e-5)
    generated.open_path(path)
    qtbot.waitUntil(lambda: not c.busy, timeout=30000)
    assert c.path == path and not c.stack.can_undo
    assert np.allclose(generated.performance.values, reopened.evaluate().values, atol=1e-5)


def test_dropping_an_audio_file_imports_and_generates(main_window, qtbot, tmp_path) -> None:
    import soundfile

    speech = synthesize("Please drop the map by the lamp.")
    wav = tmp_path / "dropped.wav"
    soundfile.write(wav, speech.audio16k, 16000)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(wav))])
    event = QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    main_window.dropEvent(event)
    qtbot.waitUntil(lambda: main_window.controller.project.base is not None and not main_window.controller.busy,
                    timeout=60000)
    assert main_window.controller.project.audio.source is not None


def test_undo_redo_actions_follow_the_stack(generated) -> None:
    c = generated.controller
    c.stack.push(AddEmotionKey(c.project, EmotionKey.of(0.5, anger=0.7)))
    assert generated.act_undo.isEnabled() and "Undo" in generated.act_undo.text()
    generated.act_undo.trigger()
    assert generated.act_redo.isEnabled()
    generated.act_redo.trigger()
    assert c.project.emotion_at(0.5)[6] == pytest.approx(0.7, abs=1e-6)
