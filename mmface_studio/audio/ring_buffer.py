"""A lock-free single-producer / single-consumer ring of audio frames.

Why no lock: the producer is PortAudio's callback thread, which must never wait (a callback that
blocks on a lock the GUI or analysis thread holds turns into an input overflow: the sound card
drops audio). With one writer and one reader, two counters suffice. The producer copies its block
into free space and only then publishes it by advancing ``_written``; the consumer copies what is
published and only then frees it by advancing ``_read``. Each counter has exactly one writer, and
a Python attribute store is atomic, so neither side ever sees a half-written block or overwrites
unread data. The counters are totals since creation (Python ints do not wrap), so "full" and
"empty" are never ambiguous.

Overflow policy: when the consumer falls behind and a block does not fit, the block is dropped
whole and remembered; once space returns, as much silence as was lost is written ahead of the next
block (within the free space), so the timeline downstream stays aligned with real time: a take
recorded through an overflow keeps its length and its lip-sync, with a silent gap where the audio
was lost. ``overflows`` (events) and ``dropped`` (frames) say how much.

A second, smaller ring of the same kind (:class:`BlockTimes`) carries when each block arrived and was
captured, so the consumer can tell the capture time of any frame (latency measurement).
"""

from __future__ import annotations

import numpy as np


class SampleRing:
    """Frames x channels float32 ring; ``write`` from one thread, ``read`` from one other thread."""

    def __init__(self, capacity: int, channels: int = 1) -> None:
        if capacity <= 0 or channels <= 0:
            raise ValueError(f"capacity and channels must be positive, got {capacity} and {channels}")
        self._buf = np.zeros((int(capacity), int(channels)), np.float32)
        self._cap = int(capacity)
        self._written = 0  # producer-owned: frames published (silence for gaps included)
        self._read = 0  # consumer-owned: frames consumed
        self._lost = 0  # producer-owned: frames dropped and not yet made up with silence
        self.overflows = 0  # producer-owned: blocks that did not fit
        self.dropped = 0  # producer-owned: frames in those blocks

    @property
    def capacity(self) -> int:
        return self._cap

    @property
    def channels(self) -> int:
        return int(self._buf.shape[1])

    @property
    def available(self) -> int:
        """Frames the consumer can read now."""
        return self._written - self._read

    @property
    def free(self) -> int:
        """Frames the producer can write now."""
        return self._cap - (self._written - self._read)

    @property
    def written(self) -> int:
        """Frames published since creation (the stream position of the next written frame)."""
        return self._written

    @property
    def consumed(self) -> int:
        """Frames read since creation (the stream position of the next frame ``read`` returns)."""
        return self._read

    # ------------------------------------------------------------------ producer side

    def write(self, block: np.ndarray) -> bool:
        """Append ``block`` (frames, or frames x channels); False when it was dropped for lack of space.

        Never blocks and never allocates beyond the silence made up after an overflow.
        """
        n = int(block.shape[0])
        if n == 0:
            return True
        free = self._cap - (self._written - self._read)
        if n > free:
            self.overflows += 1
            self.dropped += n
            self._lost += n
            return False
        w = self._written
        if self._lost:
            gap = min(self._lost, free - n)
            if gap > 0:
                self._put(w, None, gap)
                w += gap
            self._lost = 0  # whatever did not fit is given up: the consumer is too far behind anyway
        self._put(w, block, n)
        self._written = w + n  # publish last
        return True

    def _put(self, at: int, block: np.ndarray | None, n: int) -> None:
        i = at % self._cap
        first = min(n, self._cap - i)
        dst_a, dst_b = self._buf[i : i + first], self._buf[: n - first]
        if block is None:
            dst_a.fill(0.0)
            dst_b.fill(0.0)
            return
        src = block.reshape(n, -1)
        dst_a[:] = src[:first]
        if n > first:
            dst_b[:] = src[first:]

    # ------------------------------------------------------------------ consumer side

    def read(self, max_frames: int | None = None) -> np.ndarray:
        """Copy out and consume up to ``max_frames`` (all available by default): frames x channels."""
        n = self._written - self._read
        if max_frames is not None:
            n = max(0, min(n, int(max_frames)))
        out = np.empty((n, self._buf.shape[1]), np.float32)
        if n:
            r = self._read
            i = r % self._cap
            first = min(n, self._cap - i)
            out[:first] = self._buf[i : i + first]
            out[first:] = self._buf[: n - first]
            self._read = r + n  # free last
        return out


class BlockTimes:
    """Per published block: end position, arrival time, capture time of its first frame, its first frame.

    SPSC like the ring. Old entries are overwritten (the most recent ``capacity`` blocks are kept):
    the consumer only ever asks about frames it is reading now.
    """

    def __init__(self, capacity: int = 2048) -> None:
        self._ends = np.zeros(int(capacity), np.int64)
        self._firsts = np.zeros(int(capacity), np.int64)
        self._arrivals = np.zeros(int(capacity), np.float64)
        self._captured = np.zeros(int(capacity), np.float64)
        self._cap = int(capacity)
        self._count = 0  # producer-owned

    def add(self, end_frame: int, arrival: float, first_captured: float, first_frame: int) -> None:
        i = self._count % self._cap
        self._ends[i] = end_frame
        self._firsts[i] = first_frame
        self._arrivals[i] = arrival
        self._captured[i] = first_captured
        self._count += 1  # publish last

    def lookup(self, frame: int) -> tuple[float, float, int] | None:
        """(arrival, capture time of the block's first frame, that frame) for the block holding ``frame``.

        None when that block has not arrived yet or was overwritten.
        """
        count = self._count
        if count == 0:
            return None
        k = min(count, self._cap - 1)  # one slot of slack: the producer may be overwriting the oldest
        idx = np.arange(count - k, count) % self._cap
        j = int(np.searchsorted(self._ends[idx], frame, side="right"))
        if j >= k or (j == 0 and count > k):
            return None
        i = idx[j]
        return float(self._arrivals[i]), float(self._captured[i]), int(self._firsts[i])
