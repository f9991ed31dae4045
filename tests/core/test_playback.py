"""The playback clock: shuttle speeds both ways, the loop range, and which clock leads (Qt-free, fake time)."""

from __future__ import annotations

import pytest

from mmface_studio.core.playback import PlaybackClock


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeSource:
    """A time source like the audio player: plays at 1x on the same fake time, loops a range, reports calls."""

    def __init__(self, now: FakeTime) -> None:
        self.now, self.playing, self.at, self.origin = now, False, 0.0, 0.0
        self.loop: tuple[float, float] | None = None
        self.length = 0.0
        self.plays = 0

    def play(self, from_seconds: float | None = None) -> None:
        self.at = self.position() if from_seconds is None else from_seconds
        self.origin, self.playing = self.now(), True
        self.plays += 1

    def pause(self) -> None:
        self.at, self.playing = self.position(), False

    def seek(self, seconds: float) -> None:
        self.at, self.origin = seconds, self.now()

    def set_loop(self, start_s: float = 0.0, end_s: float | None = None) -> None:
        self.loop = None if end_s is None else (start_s, end_s)

    def set_length(self, seconds: float) -> None:
        self.length = seconds

    def position(self) -> float:
        if not self.playing:
            return self.at
        p = self.at + self.now() - self.origin
        if self.loop is not None and p >= self.loop[1]:
            a, b = self.loop
            p = a + (p - a) % (b - a)
        return p


@pytest.fixture
def now() -> FakeTime:
    return FakeTime()


def test_reverse_and_fast_shuttle_on_the_wall_clock(now: FakeTime) -> None:
    clock = PlaybackClock(fps=30, frame_count=60, now=now)
    clock.seek(30)
    clock.set_rate(-1)
    clock.play()
    now.t += 0.5
    assert clock.current_frame() == 15, "backwards at normal speed"
    clock.set_rate(-2)  # pressing J again while playing: from the frame shown now
    now.t += 0.25
    assert clock.current_frame() == 0
    now.t += 0.25
    assert clock.current_frame() == 45, "looping backwards wraps to the end"
    clock.set_rate(4)
    now.t += 0.1
    assert clock.current_frame() == 57
    clock.loop = False
    now.t += 0.1
    assert clock.current_frame() == 59 and not clock.playing, "without a loop it stops at the end"
    clock.set_rate(-4)
    clock.play()
    now.t += 1.0
    assert clock.current_frame() == 0 and not clock.playing, "... and backwards at the start"


def test_the_loop_range_repeats_only_the_selection(now: FakeTime) -> None:
    clock = PlaybackClock(fps=30, frame_count=90, now=now)
    clock.set_loop_range((1.5, 1.0))  # either order
    assert clock.loop_range == (1.0, 1.5) and clock.loop_frames() == (30, 45)
    clock.seek(10)
    clock.play()
    assert clock.current_frame() == 30, "play starts at the range when the playhead is outside it"
    now.t += 0.6  # 18 frames: past the end by 3
    assert clock.current_frame() == 33
    clock.pause()
    clock.seek(40)
    clock.set_rate(-1)
    clock.play()
    now.t += 0.5  # 15 frames back from 40: 10 to the start, then 5 back from the end
    assert clock.current_frame() == 40
    clock.set_loop_range(None)
    assert clock.loop_frames() == (0, 90)
    clock.set_loop_range((2.0, 2.0))
    assert clock.loop_range is None, "an empty range is no range"


def test_the_audio_leads_at_1x_and_the_picture_runs_silent_at_other_speeds(now: FakeTime) -> None:
    source = FakeSource(now)
    clock = PlaybackClock(fps=30, frame_count=90, now=now, time_source=source)
    assert source.loop == (0.0, 3.0) and source.length == 3.0, "the whole timeline loops in the sound too"
    clock.set_loop_range((1.0, 2.0))
    assert source.loop == (1.0, 2.0)
    clock.play()
    assert clock.audible and source.playing and source.at == pytest.approx(1.0)
    now.t += 1.25  # the source wraps the loop itself
    assert clock.current_frame() == 37
    clock.set_rate(-1)  # J: backwards, silent
    assert not source.playing and not clock.audible and clock.playing
    now.t += 0.5
    assert clock.current_frame() == 52, "37 - 15, wrapped into 30..60"
    clock.set_rate(1)  # L once: sound again, from the frame shown
    assert source.playing and source.at == pytest.approx(52 / 30)
    clock.loop = False
    assert source.loop is None
    clock.pause()
    assert not source.playing and clock.current_frame() == 52


def test_a_rate_must_be_a_non_zero_number(now: FakeTime) -> None:
    clock = PlaybackClock(now=now)
    for bad in (0.0, float("nan")):
        with pytest.raises(ValueError):
            clock.set_rate(bad)
    assert clock.rate == 1.0
