"""A Qt-free playback clock: time -> frame index, with a loop range, shuttle speeds and frame steps.

The clock reads elapsed time instead of counting timer ticks, so a slow frame is skipped rather than
stretching the whole performance. Without a time source it reads wall time (``now``). With a
:class:`TimeSource` (the audio player) the source is the master at normal speed: the clock forwards
play, pause, seek and loop to it and shows the frame of the sample being heard, so picture and
sound cannot drift apart; the source keeps time on its own (wall clock) when there is no audio
device.

Shuttle speeds (J/K/L: -4x .. 4x) run on the wall clock with the sound paused: reverse audio is
noise to an animator, and 2x/4x forward is for finding a place, not for judging lip-sync. Only
1x forward plays sound, so only 1x forward needs the audio clock.

Looping repeats the loop range (the timeline selection) or, when none is set, the whole timeline.
Play starts inside it: from the playhead when the playhead is in the range, else from the range's
start (its end, playing backwards), as an animator who set a range expects to see it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

#: The shuttle speeds J and L step through (as in video editors).
SHUTTLE_SPEEDS: tuple[float, ...] = (1.0, 2.0, 4.0)
_EPS = 1e-6  # keeps frame k when a position reads exactly k / fps


class TimeSource(Protocol):
    """A transport that keeps the time, e.g. :class:`mmface_studio.audio.player.AudioPlayer`."""

    @property
    def playing(self) -> bool: ...

    def play(self, from_seconds: float | None = None) -> None: ...

    def pause(self) -> None: ...

    def seek(self, seconds: float) -> None: ...

    def set_loop(self, start_s: float = 0.0, end_s: float | None = None) -> None: ...

    def set_length(self, seconds: float) -> None: ...

    def position(self) -> float: ...


class PlaybackClock:
    """Which frame to show now; ``rate`` is the playback speed (negative: backwards)."""

    def __init__(self, fps: float = 30.0, frame_count: int = 1, now: Callable[[], float] = time.perf_counter,
                 time_source: TimeSource | None = None) -> None:
        self._now = now
        self.fps = fps
        self.frame_count = max(1, frame_count)
        self._loop = True
        self._range_s: tuple[float, float] | None = None
        self._rate = 1.0
        self._playing = False
        self._origin_time = 0.0
        self._origin_frame = 0
        self._frame = 0
        self._source: TimeSource | None = None
        if time_source is not None:
            self.set_time_source(time_source)

    @property
    def time_source(self) -> TimeSource | None:
        return self._source

    def set_time_source(self, source: TimeSource | None) -> None:
        """Make ``source`` the master clock (None: back to wall time), keeping the frame and play state."""
        was_playing = self._playing
        if was_playing:
            self.pause()
        self._source = source
        if source is not None:
            source.set_length(self.frame_count / self.fps)
            self._sync_loop()
            source.seek(self._frame / self.fps)
        if was_playing:
            self.play()

    # --- loop ---------------------------------------------------------------------------------------

    @property
    def loop(self) -> bool:
        return self._loop

    @loop.setter
    def loop(self, on: bool) -> None:
        self._loop = bool(on)
        self._sync_loop()

    @property
    def loop_range(self) -> tuple[float, float] | None:
        """The range looped when ``loop`` is on, in seconds (None: the whole timeline)."""
        return self._range_s

    def set_loop_range(self, span: tuple[float, float] | None) -> None:
        """Loop ``(start_s, end_s)`` instead of the whole timeline; None (or an empty span) clears it."""
        if span is not None:
            start, end = sorted(float(t) for t in span)
            span = (start, end) if end > start else None
        if span == self._range_s:
            return
        self._range_s = span
        self._sync_loop()

    def loop_frames(self) -> tuple[int, int]:
        """The looped frames ``[first, end)``: the loop range snapped to frames, else the whole timeline."""
        if self._range_s is None:
            return 0, self.frame_count
        first = min(max(int(round(self._range_s[0] * self.fps)), 0), self.frame_count - 1)
        end = min(max(int(round(self._range_s[1] * self.fps)), first + 1), self.frame_count)
        return first, end

    def _sync_loop(self) -> None:
        """The source loops the same frames, seamlessly in the sound too."""
        if self._source is not None:
            first, end = self.loop_frames()
            self._source.set_loop(first / self.fps, end / self.fps) if self._loop else self._source.set_loop()

    # --- speed --------------------------------------------------------------------------------------

    @property
    def rate(self) -> float:
        """Playback speed: 1 normal, 2 and 4 fast forward, negative backwards."""
        return self._rate

    @property
    def audible(self) -> bool:
        """Whether playing now sounds: only at normal speed with a time source (the audio is the master)."""
        return self._source is not None and self._rate == 1.0

    def set_rate(self, rate: float) -> None:
        """Change the speed; while playing it takes effect from the frame shown now."""
        rate = float(rate)
        if not math.isfinite(rate) or rate == 0.0:
            raise ValueError(f"The playback rate must be a non-zero number, got {rate!r}.")
        if rate == self._rate:
            return
        was_playing = self._playing
        if was_playing:
            self.pause()
        self._rate = rate
        if was_playing:
            self.play()

    # --- transport ----------------------------------------------------------------------------------

    def set_timeline(self, fps: float, frame_count: int) -> None:
        self.fps = fps
        self.frame_count = max(1, frame_count)
        if self._source is not None:
            self._source.set_length(self.frame_count / self.fps)
            self._sync_loop()
        self.seek(min(self._frame, self.frame_count - 1))

    @property
    def playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        forward = self._rate > 0
        if self._loop:
            first, end = self.loop_frames()
            if not first <= self._frame < end:
                self._frame = first if forward else end - 1
        elif forward and self._frame >= self.frame_count - 1:
            self._frame = 0
        elif not forward and self._frame <= 0:
            self._frame = self.frame_count - 1
        self._origin_time, self._origin_frame = self._now(), self._frame
        if self._source is not None:
            if self.audible:
                self._source.play(self._frame / self.fps)
            else:
                self._source.pause()  # a shuttle speed: silent, on the wall clock
        self._playing = True

    def pause(self) -> None:
        self._frame = self.current_frame()
        if self._source is not None:
            self._source.pause()
        self._playing = False

    def toggle(self) -> None:
        self.pause() if self._playing else self.play()

    def seek(self, frame: int) -> None:
        self._frame = min(max(int(frame), 0), self.frame_count - 1)
        self._origin_time, self._origin_frame = self._now(), self._frame
        if self._source is not None:
            self._source.seek(self._frame / self.fps)

    def step(self, delta: int) -> None:
        self.pause()
        self.seek(self._frame + delta)

    def current_frame(self) -> int:
        """Frame for the current time; wraps in the loop range, else stops at either end."""
        if not self._playing:
            return self._frame
        if self.audible:
            frame = self._audio_frame()
        else:
            frame = self._wall_frame()
        self._frame = frame
        return frame

    def _audio_frame(self) -> int:
        assert self._source is not None
        frame = math.floor(self._source.position() * self.fps + _EPS)
        ended = not self._source.playing
        if frame >= self.frame_count or ended:
            if self._loop and not ended:
                first, end = self.loop_frames()
                frame = first + (frame - first) % (end - first)
            else:
                frame = min(frame, self.frame_count - 1)
                if not ended:
                    self._source.pause()
                self._playing = False
        return frame

    def _wall_frame(self) -> int:
        """Frames elapsed at ``rate`` since the last play/seek, wrapped in the loop or stopped at either end."""
        position = self._origin_frame + (self._now() - self._origin_time) * self.fps * self._rate
        if self._loop:
            first, end = self.loop_frames()
            span = end - first
            if position >= end:  # forwards past the end: again from the start
                position = first + (position - first) % span
            elif position < first:  # backwards past the start: again from the end
                behind = (first - position) % span
                position = end - behind if behind else first
            return min(max(math.floor(position + _EPS), first), end - 1)
        frame = math.floor(position + _EPS)
        if frame >= self.frame_count or position < 0:
            self._playing = False
        return min(max(frame, 0), self.frame_count - 1)
