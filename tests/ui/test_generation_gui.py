"""Generating from the GUI: off the GUI thread, with progress, cancel and clear failure messages."""

from __future__ import annotations

from mmface_studio.audio import clip_from_array
from mmface_studio.audio.phonetic_espeak import synthesize
from mmface_studio.core.document import SetAudio
from tests.ui.conftest import close_next_message_box


def _set_line(window, text: str) -> None:
    speech = synthesize(text)
    c = window.controller
    c.stack.push(SetAudio(c.project, clip_from_array(speech.audio16k, 16000, name="espeak")))


def test_generate_shows_progress_and_plays_the_take(main_window, qtbot) -> None:
    _set_line(main_window, "Bob may move the blue boat by the bay.")
    seen: list[float] = []
    main_window.controller.progressed.connect(lambda fraction, stage: seen.append(fraction))
    main_window.controller.generate()
    assert main_window.progress_bar.isVisible() and main_window.act_cancel.isEnabled()
    assert not main_window.generate_panel.generate_button.isEnabled()
    qtbot.waitUntil(lambda: not main_window.controller.busy, timeout=60000)
    perf = main_window.performance
    assert perf.provenance["engine"] == "classic" and perf.curve("jawOpen").max() > 0.2
    assert seen and seen[-1] == 1.0
    assert not main_window.progress_bar.isVisible() and main_window.transport.playing


def test_cancel_keeps_the_previous_state(main_window, qtbot) -> None:
    _set_line(main_window, "Many people paint pictures of the moon.")
    main_window.controller.generate()
    main_window.controller.cancel()
    qtbot.waitUntil(lambda: not main_window.controller.busy, timeout=60000)
    if main_window.controller.project.base is None:
        assert "cancelled" in main_window.statusBar().currentMessage()


def test_bad_audio_file_shows_a_message_and_the_app_keeps_running(main_window, qtbot, tmp_path) -> None:
    bad = tmp_path / "take.wav"
    bad.write_text("this is not audio")
    found: list[str] = []
    close_next_message_box(found)
    main_window.open_path(bad)
    qtbot.waitUntil(lambda: bool(found), timeout=30000)
    assert "take.wav" in found[0]
    assert main_window.isVisible() and not main_window.controller.busy


def test_generate_without_audio_says_what_to_do(main_window, qtbot) -> None:
    found: list[str] = []
    close_next_message_box(found)
    main_window.controller.generate()
    qtbot.waitUntil(lambda: bool(found), timeout=10000)
    assert "Import" in found[0]
