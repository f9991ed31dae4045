"""A Qt-free playback clock: time -> frame index, with loop and step.

The clock reads elapsed time instead of counting timer ticks, so a slow frame is skipped rather than
stretching the whole performance. Without a time source it reads wall time (``now``). With a
:class:`TimeSource` (the audio player) the source is the master: the clock forwards play, pause,
seek and loop to it and shows the frame of the sample being heard, so picture and sound cannot
drift apart; the source keeps time on its own (wall clock) when there is no audio device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol


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
    def __init__(self, fps: float = 30.0, frame_count: int = 1, now: Callable[[], float] = time.perf_counter,
                 time_source: TimeSource | None = None) -> None:
        self._now = now
        self.fps = fps
        self.frame_count = max(1, frame_count)
        self._loop = True
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

    @property
    def loop(self) -> bool:
        return self._loop

    @loop.setter
    def loop(self, on: bool) -> None:
        self._loop = bool(on)
        self._sync_loop()

    def _sync_loop(self) -> None:
        """The source loops over the whole timeline, so the wrap is seamless in the sound too."""
        if self._source is not None:
            self._source.set_loop(0.0, self.frame_count / self.fps if self._loop else None)

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
        if self._frame >= self.frame_count - 1 and not self._loop:
            self._frame = 0
        self._origin_time, self._origin_frame = self._now(), self._frame
        if self._source is not None:
            self._source.play(self._frame / self.fps)
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
        """Frame for the current time; stops at the end unless looping."""
        if not self._playing:
            return self._frame
        ended = False
        if self._source is not None:
            # the epsilon keeps frame k when the source reports exactly k / fps after a seek
            frame = math.floor(self._source.position() * self.fps + 1e-6)
            ended = not self._source.playing
        else:
            frame = self._origin_frame + int((self._now() - self._origin_time) * self.fps)
        if frame >= self.frame_count or ended:
            if self._loop and not ended:
                frame %= self.frame_count
            else:
                frame = min(frame, self.frame_count - 1)
                if self._source is not None and not ended:
                    self._source.pause()
                self._playing = False
        self._frame = frame
        return frame
