"""A Qt-free playback clock: wall time -> frame index, with loop and step.

The clock reads elapsed real time instead of counting timer ticks, so a slow
frame is skipped rather than stretching the whole performance. Issue 4 will
swap the time source for the audio device clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class PlaybackClock:
    def __init__(self, fps: float = 30.0, frame_count: int = 1, now: Callable[[], float] = time.perf_counter) -> None:
        self._now = now
        self.fps = fps
        self.frame_count = max(1, frame_count)
        self.loop = True
        self._playing = False
        self._origin_time = 0.0
        self._origin_frame = 0
        self._frame = 0

    def set_timeline(self, fps: float, frame_count: int) -> None:
        self.fps = fps
        self.frame_count = max(1, frame_count)
        self.seek(min(self._frame, self.frame_count - 1))

    @property
    def playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        if self._frame >= self.frame_count - 1 and not self.loop:
            self._frame = 0
        self._origin_time, self._origin_frame = self._now(), self._frame
        self._playing = True

    def pause(self) -> None:
        self._frame = self.current_frame()
        self._playing = False

    def toggle(self) -> None:
        self.pause() if self._playing else self.play()

    def seek(self, frame: int) -> None:
        self._frame = min(max(int(frame), 0), self.frame_count - 1)
        self._origin_time, self._origin_frame = self._now(), self._frame

    def step(self, delta: int) -> None:
        self.pause()
        self.seek(self._frame + delta)

    def current_frame(self) -> int:
        """Frame for the current time; stops at the end unless looping."""
        if not self._playing:
            return self._frame
        advanced = int((self._now() - self._origin_time) * self.fps)
        frame = self._origin_frame + advanced
        if frame >= self.frame_count:
            if self.loop:
                frame %= self.frame_count
            else:
                frame = self.frame_count - 1
                self._playing = False
        self._frame = frame
        return frame
