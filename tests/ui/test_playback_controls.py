"""Playback in the main window as an animator drives it: J/K/L shuttle, In/Out loop range, the ruler's loop bar."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from mmface_studio.audio import clip_from_array
from mmface_studio.core.document import SetAudio, SetBasePerformance
from mmface_studio.ui.timeline.ruler import LOOP

FPS = 30


@pytest.fixture(scope="module")
def take():
    from mmface_studio.engine import GenerationRequest, generate, synthetic_analysis

    return generate(GenerationRequest(), analysis=synthetic_analysis(10.0, seed=2))


@pytest.fixture
def clip_window(main_window, take):
    """The window with a 10 s take and 10 s of quiet audio (the audio player is the transport's time source)."""
    c = main_window.controller
    noise = (0.01 * np.random.default_rng(0).standard_normal(16000 * 10)).astype(np.float32)
    c.stack.push(SetAudio(c.project, clip_from_array(noise, 16000, name="quiet")))
    c.stack.push(SetBasePerformance(c.project, take))
    main_window.transport.pause()
    main_window.transport.seek(0)
    main_window.setFocus()
    return main_window


def _speed(transport, seconds: float = 0.4) -> float:
    """Measured playback speed: frames moved per wall second, in units of the frame rate (negative: backwards)."""
    clock = transport.clock
    f0, t0 = clock.current_frame(), time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        time.sleep(0.01)
    f1, t1 = clock.current_frame(), time.perf_counter()
    return (f1 - f0) / ((t1 - t0) * clock.fps)


def test_jkl_shuttle_backwards_and_faster_with_sound_only_at_1x(clip_window, qtbot) -> None:
    transport = clip_window.transport
    transport.seek(280)
    qtbot.keyClick(clip_window, Qt.Key_L)
    assert transport.playing and transport.rate == 1.0 and transport.speed.text() == ""
    assert transport.clock.audible and transport.player.playing, "forward 1x: the audio clock leads"
    assert _speed(transport) == pytest.approx(1.0, abs=0.25)
    qtbot.keyClick(clip_window, Qt.Key_J)
    assert transport.rate == -1.0 and not transport.player.playing, "backwards plays silent"
    assert _speed(transport) == pytest.approx(-1.0, abs=0.25), "J plays backwards"
    qtbot.keyClick(clip_window, Qt.Key_J)
    assert transport.rate == -2.0 and transport.speed.text() == "◀◀ 2×"
    assert _speed(transport) == pytest.approx(-2.0, abs=0.5)
    for _ in range(2):
        qtbot.keyClick(clip_window, Qt.Key_J)
    assert transport.rate == -4.0 and transport.speed.text() == "◀◀ 4×", "4x is the fastest"
    qtbot.keyClick(clip_window, Qt.Key_K)
    assert not transport.playing and transport.speed.text() == ""
    stopped = transport.frame
    qtbot.wait(100)
    assert transport.frame == stopped
    qtbot.keyClick(clip_window, Qt.Key_L)
    qtbot.keyClick(clip_window, Qt.Key_L)
    assert transport.rate == 2.0 and transport.speed.text() == "▶▶ 2×" and not transport.player.playing
    assert _speed(transport) == pytest.approx(2.0, abs=0.5)
    qtbot.keyClick(clip_window, Qt.Key_Space)  # pause; Space again plays at normal speed
    qtbot.keyClick(clip_window, Qt.Key_Space)
    assert transport.rate == 1.0 and transport.player.playing
    transport.pause()


def _loop_pixels(window, seconds: float) -> bool:
    """Whether the ruler shows the loop bar's colour at ``seconds`` (in the bar along its top)."""
    view = window.timeline.timeline
    image = view.graphics.grab().toImage()
    top = view.point_at("ruler", seconds, 1.0)
    pixel = QColor(image.pixel(top.x(), top.y() + 2))
    want = QColor(LOOP)
    return abs(pixel.red() - want.red()) + abs(pixel.green() - want.green()) + abs(pixel.blue() - want.blue()) < 90


def test_in_and_out_keys_set_the_loop_range_that_playback_repeats(clip_window, qtbot) -> None:
    transport, timeline = clip_window.transport, clip_window.timeline.timeline
    assert _loop_pixels(clip_window, 1.0) and _loop_pixels(clip_window, 9.0), "no range: the whole clip loops"
    transport.seek(60)
    qtbot.keyClick(clip_window, Qt.Key_I)
    assert timeline.selection() == pytest.approx((2.0, 10.0))
    transport.seek(120)
    qtbot.keyClick(clip_window, Qt.Key_O)
    assert timeline.selection() == pytest.approx((2.0, 4.0)) and transport.clock.loop_range == pytest.approx((2.0, 4.0))
    assert _loop_pixels(clip_window, 3.0) and not _loop_pixels(clip_window, 1.0) and not _loop_pixels(clip_window, 6.0)

    transport.seek(250)  # outside the range: play starts at its start
    qtbot.keyClick(clip_window, Qt.Key_Space)
    seen = []
    end = time.perf_counter() + 2.6  # longer than the 2 s range
    while time.perf_counter() < end:
        qtbot.wait(20)
        seen.append(transport.frame)
    transport.pause()
    assert min(seen) >= 60 and max(seen) < 120, "only the range plays"
    assert any(b < a for a, b in zip(seen, seen[1:], strict=False)), "and it wraps around"

    qtbot.keyClick(clip_window, Qt.Key_J)  # backwards loops the range too
    qtbot.wait(300)
    assert 60 <= transport.frame < 120
    qtbot.keyClick(clip_window, Qt.Key_K)

    transport.act_loop.trigger()  # Loop off: no bar, the clock does not loop
    assert not transport.clock.loop and not _loop_pixels(clip_window, 3.0)
    transport.act_loop.trigger()
    qtbot.keyClick(clip_window, Qt.Key_X, Qt.ControlModifier | Qt.ShiftModifier)
    assert timeline.selection() is None and transport.clock.loop_range is None
    assert _loop_pixels(clip_window, 6.0), "cleared: the whole clip loops again"
