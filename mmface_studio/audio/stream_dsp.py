"""Signal processing for live input, block by block: a stateful resampler and an input level meter.

Why a resampler of its own: ``scipy.signal.resample_poly`` filters one whole signal, so calling it
per 10 ms block would click at every block edge and give a result that depends on how the stream
happened to be cut. :class:`StreamResampler` keeps the filter's history between blocks, so the
output is the same whatever the block sizes, and equal (to float rounding) to ``resample_poly`` on
the whole signal away from its two ends. Its filter is ``resample_poly``'s (Kaiser-windowed sinc,
beta 5, ten zero crossings per side), centred: output sample ``m`` is the input's time ``m / out``,
which costs waiting for half the filter (0.6 ms at 48 kHz -> 16 kHz) and keeps every sample index
of the output a plain rescaling of the input's (what latency measurement relies on).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import firwin

SILENCE_DB = -120.0


class StreamResampler:
    """Mono polyphase resampling ``in_rate`` -> ``out_rate`` over a stream cut into arbitrary blocks."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        g = math.gcd(int(in_rate), int(out_rate))
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.up, self.down = self.out_rate // g, self.in_rate // g
        self._half = 10 * max(self.up, self.down)
        if self.up == self.down:
            self._phases = np.ones((1, 1), np.float64)
        else:
            h = firwin(2 * self._half + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0)) * self.up
            taps = -(-h.size // self.up)
            padded = np.zeros(taps * self.up)
            padded[: h.size] = h
            self._phases = padded.reshape(taps, self.up).T.copy()  # [phase, j] = h[phase + j * up]
        self._taps = self._phases.shape[1]
        self._hist = np.zeros(self._taps + 1, np.float64)  # input frames [_start, _consumed)
        self._start = -(self._taps + 1)
        self._consumed = 0
        self._next = 0  # index of the next output sample

    @property
    def delay_s(self) -> float:
        """How much input after an output sample's time it needs (the centred filter's half length)."""
        return 0.0 if self.up == self.down else self._half / self.up / self.in_rate

    @property
    def produced(self) -> int:
        """Output samples produced so far."""
        return self._next

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed input samples; return every output sample they complete (float32)."""
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if self.up == self.down:
            self._consumed += x.size
            self._next += x.size
            return x.astype(np.float32)
        buf = np.concatenate([self._hist, x])
        self._consumed += x.size
        # output m needs input up to floor((m * down + half) / up)
        last = ((self._consumed - 1) * self.up - self._half) // self.down
        out = np.zeros(0, np.float32)
        if last >= self._next:
            m = np.arange(self._next, last + 1, dtype=np.int64)
            t = m * self.down + self._half
            newest = t // self.up
            phase = t - newest * self.up
            idx = newest[:, None] - np.arange(self._taps)[None, :] - self._start
            samples = np.where(idx >= 0, buf[np.maximum(idx, 0)], 0.0)
            out = np.einsum("mj,mj->m", self._phases[phase], samples).astype(np.float32)
            self._next = int(last) + 1
        keep = self._taps + 1
        self._hist = buf[-keep:] if buf.size >= keep else np.concatenate([np.zeros(keep - buf.size), buf])
        self._start = self._consumed - keep
        return out


def dbfs(power: float) -> float:
    """Mean square (full scale sine = 0.5, full scale square = 1) to dBFS, floored at digital silence."""
    return SILENCE_DB if power <= 1e-12 else max(SILENCE_DB, 10.0 * math.log10(power))


class LevelMeter:
    """Input level for a meter: RMS over ~100 ms and peak with a one-second hold, both in dBFS.

    Written by the thread that reads the audio, read by the GUI: each value is a single float
    attribute, so a reader never sees a torn value. Peak hold then a 20 dB/s fall is what recording
    meters do: a clipped syllable stays visible long enough to be noticed.
    """

    def __init__(self, rate: int, rms_window_s: float = 0.1, hold_s: float = 1.0, fall_db_per_s: float = 20.0) -> None:
        self._rate = int(rate)
        self._tau = rms_window_s
        self._hold = hold_s
        self._fall = fall_db_per_s
        self._ms = 0.0
        self._peak_age = 0.0
        self.rms_db = SILENCE_DB
        self.peak_db = SILENCE_DB
        self.clipped = 0  # blocks that reached full scale

    def update(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return
        dt = x.size / self._rate
        a = 1.0 - math.exp(-dt / self._tau)
        self._ms += a * (float(np.mean(np.square(x, dtype=np.float64))) - self._ms)
        self.rms_db = dbfs(self._ms)
        peak = float(np.max(np.abs(x)))
        peak_db = SILENCE_DB if peak <= 1e-6 else max(SILENCE_DB, 20.0 * math.log10(peak))
        self.clipped += peak >= 0.999
        self._peak_age += dt
        if peak_db >= self.peak_db:
            self.peak_db, self._peak_age = peak_db, 0.0
        elif self._peak_age > self._hold:
            self.peak_db = max(peak_db, self.peak_db - self._fall * dt)
