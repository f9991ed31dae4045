"""Live mode in the real window: a voice in the (virtual) microphone moves the head; Record keeps the take.

The microphone is the private PulseAudio null sink's monitor (``tests/audio/virtual_mic.py``): the
window captures through sounddevice -> PortAudio -> ALSA ``pulse`` -> PulseAudio while ``pacat``
speaks espeak-ng speech into the sink. Mic permission refusal cannot happen here; it is simulated
at the seam where sounddevice raises.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from mmface_studio.core.spaces import ARKIT52
from tests.audio import conftest as audio_fixtures
from tests.audio.pulse import PulseServer
from tests.audio.virtual_mic import play_into_mic, speech

pulse_server = audio_fixtures.pulse_server  # the audio tests' private PulseAudio server, shared
spare_pulse_server = audio_fixtures.spare_pulse_server
JAW = ARKIT52.index["jawOpen"]
SMILE = ARKIT52.index["mouthSmileLeft"]


def watch(qtbot, window, player, after_s: float = 0.4) -> list[tuple[float, float, float]]:
    """Run the GUI while ``player`` speaks: (time, jawOpen on screen, level meter RMS) every ~20 ms."""
    rows = []
    end = time.monotonic() + player.duration + 10.0
    while time.monotonic() < end:
        if player.done:
            end = min(end, time.monotonic() + after_s)
        qtbot.wait(20)
        shown = window.live.shown
        rows.append((time.monotonic(), float(shown[JAW]) if shown is not None else 0.0,
                     window.live.panel.meter.rms_db))
    player.wait()
    return rows


def test_voice_moves_the_head_and_record_keeps_the_take(qtbot, main_window, pulse_server: PulseServer) -> None:
    w = main_window
    live = w.live
    w.live_dock.show()
    w.live_dock.raise_()
    qtbot.wait(50)
    assert "pulse (ALSA)" in [live.panel.device_combo.itemText(i) for i in range(live.panel.device_combo.count())]
    assert live.start("pulse"), live.panel.message_label.text()
    assert live.panel.start_button.text() == "Stop live" and live.panel.record_button.isEnabled()
    qtbot.wait(300)
    quiet = w.viewport.render_image()
    live.panel.record_button.click()
    said = speech("Hello there, how are you today?", lead_s=0.2, tail_s=0.2)
    rows = np.asarray(watch(qtbot, w, play_into_mic(pulse_server, said, 16_000)))
    assert rows[:, 1].max() > 0.4, "the mouth never opened on screen"
    assert rows[:, 2].max() > -35  # the level meter showed the voice
    open_image = None
    player = play_into_mic(pulse_server, speech("Ah.", tail_s=0.1), 16_000)
    for _ in range(200):
        qtbot.wait(10)
        if live.shown is not None and live.shown[JAW] > 0.3:
            open_image = w.viewport.render_image()
            break
    player.wait()
    qtbot.waitUntil(lambda: live.shown is not None and live.shown[JAW] < 0.06, timeout=2000)  # closes in silence
    assert open_image is not None
    changed = np.abs(open_image[..., :3].astype(int) - quiet[..., :3].astype(int)).sum(axis=2) > 30
    assert changed.sum() > 300, "the viewport did not show the open mouth"
    stats = live.runner.stats()
    assert stats.latency_ms is not None and stats.latency_ms <= 80 and stats.dropped == 0
    status = live.status_label.text()
    assert status.startswith("LIVE ") and "dropped 0" in status and "late" in status and "REC" in status
    assert "ms" in live.panel.latency_label.text() and "lookahead" in live.panel.latency_label.text()

    project, stack = w.controller.project, w.controller.stack
    assert project.audio is None
    live.panel.record_button.click()  # stop recording: the take becomes the project's clip
    qtbot.waitUntil(lambda: project.audio is not None and not w.tasks.busy(), timeout=5000)
    assert stack.undo_text == "Record live take"
    take_s = project.audio.duration
    assert 2.0 < take_s < 6.0
    assert project.base is not None and project.base.duration == pytest.approx(take_s, abs=0.05)
    jaw = project.base.curve("jawOpen")
    assert jaw.max() > 0.4 and jaw[:3].max() < 0.1  # the recorded animation opens with the voice
    assert project.base.provenance["engine"] == "live-classic"
    assert "Kept" in live.panel.take_label.text()
    live.stop()
    assert not live.running and live.panel.start_button.text() == "Start live"
    assert not live.status_label.isVisible()
    stack.undo()  # one step takes the whole take back
    assert project.audio is None and project.base is None


def test_microphone_lost_mid_take_stops_cleanly_and_keeps_the_take(
        qtbot, main_window, spare_pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    w = main_window
    monkeypatch.setenv("PULSE_SERVER", spare_pulse_server.server)  # the 'pulse' device reads the spare
    assert w.live.start("pulse")
    w.live.set_recording(True)
    player = play_into_mic(spare_pulse_server, speech("Keep this part of the take, please.", lead_s=0.1), 16_000)
    qtbot.wait(1500)
    spare_pulse_server.kill()
    player.stop()
    qtbot.waitUntil(lambda: not w.live.running, timeout=3000)  # live mode ends by itself
    message = w.live.panel.message_label.text()
    assert "stopped delivering audio" in message and "kept" in message
    assert w.live.panel.start_button.text() == "Start live" and not w.live.panel.record_button.isEnabled()
    qtbot.waitUntil(lambda: w.controller.project.audio is not None and not w.tasks.busy(), timeout=5000)
    assert w.controller.project.audio.duration > 1.0  # what was said before the loss is in the project
    assert "cut short" in w.live.panel.take_label.text()
    w.transport.seek(5)  # and the window carries on
    assert w.isVisible()


def test_start_failures_are_explained_and_nothing_breaks(qtbot, main_window, pulse_server: PulseServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    w = main_window
    assert not w.live.start("Studio Mic 9000")
    assert 'Microphone "Studio Mic 9000" not found' in w.live.panel.message_label.text()
    assert not w.live.running and w.live.panel.start_button.text() == "Start live"

    import sounddevice as sd

    def refuse(*args, **kwargs):  # simulated: what a refused ALSA open raises (EACCES)
        raise sd.PortAudioError("Error opening InputStream: Unanticipated host error [PaErrorCode -9999]: "
                                "'Permission denied' [ALSA error -13]")

    with monkeypatch.context() as m:
        m.setattr(sd, "InputStream", refuse)
        assert not w.live.start("pulse")
    assert "refused by the system" in w.live.panel.message_label.text()
    assert "refused" in w.statusBar().currentMessage()
    assert w.live.start("pulse")  # permission given: it starts, and the old message is gone
    assert not w.live.panel.message_label.isVisible()
    w.live.stop()


def test_emotion_shows_live_and_closing_keeps_a_running_take(qtbot, main_window, pulse_server: PulseServer) -> None:
    from mmface_studio.core.document import EmotionTrack, SetEmotionTrack

    w = main_window
    w.controller.stack.push(SetEmotionTrack(w.controller.project, EmotionTrack.parse("happiness:1.0@0")))
    assert w.live.start("pulse")
    w.live.set_recording(True)
    watch(qtbot, w, play_into_mic(pulse_server, speech("Wonderful news!", lead_s=0.1), 16_000), after_s=0.2)
    assert w.live.shown[SMILE] > 0.5  # the project's emotion is on the live face
    assert "happiness 1.0" in w.live.panel.settings_label.text()
    w.live.shutdown()  # what closing the window does first: the take joins the project at once
    assert w.controller.project.audio is not None and w.controller.stack.undo_text == "Record live take"
    assert w.controller.project.base.curve("mouthSmileLeft").mean() > 0.5
