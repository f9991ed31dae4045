"""Generating from the GUI: off the GUI thread, with progress, cancel and a clear failure message."""

from __future__ import annotations

from mmface_studio.audio import clip_from_array
from mmface_studio.audio.phonetic_espeak import synthesize
from mmface_studio.engine import GenerationRequest
from tests.ui.conftest import close_next_message_box


def _request(text: str = "Bob may move the blue boat by the bay.") -> GenerationRequest:
    speech = synthesize(text)
    return GenerationRequest(audio=clip_from_array(speech.audio16k, 16000, name="espeak"), transcript=text)


def test_generate_runs_off_the_gui_thread_and_plays_the_take(main_window, qtbot) -> None:
    seen: list[float] = []
    main_window._bridge.progressed.connect(lambda fraction, stage: seen.append(fraction))
    main_window.generate_async(_request())
    assert main_window.progress_bar.isVisible() and main_window.act_cancel.isEnabled()
    qtbot.waitUntil(lambda: main_window._cancel is None, timeout=60000)
    perf = main_window.performance
    assert perf.provenance["engine"] == "classic" and perf.duration > 1.5
    assert perf.curve("jawOpen").max() > 0.2
    assert seen and seen[-1] == 1.0
    assert not main_window.progress_bar.isVisible()
    assert main_window.transport.playing


def test_cancel_keeps_the_previous_take(main_window, qtbot) -> None:
    before = main_window.performance
    main_window.generate_async(_request("Many people paint pictures of the moon."))
    main_window.cancel_generation()
    qtbot.waitUntil(lambda: main_window._cancel is None, timeout=60000)
    assert main_window.performance is before or "Generated" in main_window.statusBar().currentMessage()
    if main_window.performance is before:
        assert "cancelled" in main_window.statusBar().currentMessage()


def test_bad_audio_shows_a_message_and_the_app_keeps_running(main_window, qtbot) -> None:
    found: list[str] = []
    close_next_message_box(found)
    main_window.generate_async(lambda: GenerationRequest(audio="/nonexistent/take.wav"))
    qtbot.waitUntil(lambda: bool(found), timeout=30000)
    assert "take.wav" in found[0]
    assert main_window.isVisible() and main_window._cancel is None
