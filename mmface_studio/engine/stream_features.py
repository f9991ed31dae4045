"""Causal frame features for live lip-sync: level, voicing and spectral shape every 10 ms.

Why not the offline analysis: phone recognition (pocketsphinx) needs hundreds of milliseconds of
context and CPU time per second of audio, far too slow and late for an 80 ms budget. A mouth,
however, mostly shows *how much* sound comes out and a few gross spectral traits, which one short
window reveals: loudness opens the jaw, a low first formant (F1) keeps it high (/i/, /u/), energy
piled below 1 kHz with nothing at 2-3 kHz means rounded lips (/u/, /o/), strong 2-3.5 kHz energy
spread lips (/i/, /e/), hiss above 4 kHz without voicing a fricative with the teeth together, a
quiet voiced murmur with energy only below ~500 Hz a nasal with closed lips (/m/).

Frame ``i`` stands for time ``i * HOP / 16000``. Its window is ``WINDOW`` samples ending
``lookahead`` samples after that time; with the default lookahead (half a window) the window is
centred on the frame, so the mouth moves with the sound rather than after it, and the frame can be
computed ``lookahead`` after its time. Each frame depends only on its own window and on trackers
updated frame by frame in order, so the features are the same however the stream is cut.

Levels are relative, tracked causally: a noise floor that follows the quietest frames (it drops at
once, rises 3 dB/s) and a speech peak (rises fast, falls 2 dB/s), so a quiet and a loud microphone
give the same mouth, as the offline engine's per-clip normalisation does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SR = 16_000
HOP = 160  # 10 ms
WINDOW = 512  # 32 ms: two pitch periods of a 60 Hz voice, for the voicing estimate
NFFT = 1024  # zero-padded: the autocorrelation must not wrap around
DEFAULT_LOOKAHEAD = WINDOW // 2
ABS_FLOOR_DB = -75.0  # below this (dBFS, speech band) nothing is speech, whatever the trackers say
GATE_DB = 8.0  # speech starts this far above the noise floor
MIN_RANGE_DB = 22.0  # the level's 0..1 spans at least this many dB
FLOOR_RISE_DB_S = (20.0, 3.0)  # noise floor rise: fast in the first second (finding it), then slow
PEAK_FALL_DB_S = 2.0
PEAK_ATTACK = 0.3

_FREQS = np.fft.rfftfreq(NFFT, 1.0 / SR)


def _band(lo: float, hi: float) -> np.ndarray:
    return (_FREQS >= lo) & (_FREQS < hi)


_SPEECH = _band(100.0, 4000.0)
_LOW = _band(100.0, 1000.0)
_F1 = _band(200.0, 1000.0)
_MID = _band(1800.0, 3500.0)
_HIGH = _band(4000.0, 8000.0)
_ALL = _band(100.0, 8000.0)
_F2 = _band(900.0, 3000.0)
_HANN = np.hanning(WINDOW + 2)[1:-1]
# Autocorrelation of the window itself: dividing by it undoes the taper (Boersma 1993), so a
# periodic frame scores near 1 whatever its period.
_WIN_AC = np.fft.irfft(np.abs(np.fft.rfft(_HANN, NFFT)) ** 2)[: WINDOW]
_LAGS = slice(SR // 400, SR // 60)  # pitch 60..400 Hz


@dataclass(frozen=True)
class FrameFeatures:
    """Features of ``n`` consecutive frames (arrays of length n, ``windows`` n x WINDOW)."""

    start: int  # index of the first frame
    windows: np.ndarray  # the raw audio each frame saw (for backends that want their own features)
    energy_db: np.ndarray  # speech band (100-4000 Hz) power, dBFS
    level: np.ndarray  # 0..1, relative to the tracked noise floor and speech peak
    voicing: np.ndarray  # 0..1, normalised autocorrelation peak in the pitch range
    f1_hz: np.ndarray  # power centroid of 200-1000 Hz: tracks the first formant
    f2_hz: np.ndarray  # power centroid of 900-3000 Hz: tracks the second formant where there is one
    centroid_hz: np.ndarray  # power centroid of the speech band
    low: np.ndarray  # share of 100-1000 Hz in the speech band
    mid: np.ndarray  # share of 1800-3500 Hz in the speech band
    high: np.ndarray  # share of 4-8 kHz in 100-8000 Hz

    def __len__(self) -> int:
        return int(self.energy_db.size)

    @property
    def times(self) -> np.ndarray:
        return (self.start + np.arange(len(self))) * (HOP / SR)


def _centroid(power: np.ndarray, band: np.ndarray) -> np.ndarray:
    return (power[:, band] * _FREQS[band]).sum(axis=1) / np.maximum(power[:, band].sum(axis=1), 1e-20)


class FrontEnd:
    """Buffers pushed 16 kHz audio and turns it into frames as soon as their windows are complete."""

    def __init__(self, lookahead: int = DEFAULT_LOOKAHEAD) -> None:
        if not 0 <= lookahead <= WINDOW:
            raise ValueError(f"lookahead must be 0..{WINDOW} samples, got {lookahead}")
        self.lookahead = int(lookahead)
        self._buf = np.zeros(WINDOW, np.float32)  # samples [_buf_start, pushed)
        self._buf_start = -WINDOW
        self.pushed = 0
        self.next_frame = 0
        self._floor = ABS_FLOOR_DB
        self._peak = ABS_FLOOR_DB + MIN_RANGE_DB
        self._seen = 0

    def ready_sample(self, frame: int) -> int:
        """Samples that must have been pushed before ``frame`` can be computed."""
        return frame * HOP + self.lookahead

    def push(self, samples: np.ndarray) -> FrameFeatures | None:
        """Append 16 kHz mono samples; features of every frame that became computable (None: none)."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size:
            self._buf = np.concatenate([self._buf, x])
            self.pushed += x.size
        last = (self.pushed - self.lookahead) // HOP  # frames 0..last are computable
        if last < self.next_frame:
            return None
        frames = np.arange(self.next_frame, last + 1)
        ends = frames * HOP + self.lookahead - self._buf_start
        idx = ends[:, None] - WINDOW + np.arange(WINDOW)[None, :]
        windows = self._buf[idx]
        self.next_frame = int(last) + 1
        keep_from = self.next_frame * HOP + self.lookahead - WINDOW  # first sample the next frame needs
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start = keep_from
        return self._features(int(frames[0]), windows)

    def _features(self, start: int, windows: np.ndarray) -> FrameFeatures:
        power = np.abs(np.fft.rfft(windows.astype(np.float64) * _HANN, NFFT, axis=1)) ** 2
        norm = (_HANN**2).sum() * NFFT / 2.0  # a full-scale sine reads about 0 dB
        speech = power[:, _SPEECH].sum(axis=1)
        energy = 10.0 * np.log10(np.maximum(speech / norm, 1e-12))
        f1, f2, centroid = (_centroid(power, band) for band in (_F1, _F2, _SPEECH))
        low = power[:, _LOW].sum(axis=1) / np.maximum(speech, 1e-20)
        mid = power[:, _MID].sum(axis=1) / np.maximum(speech, 1e-20)
        high = power[:, _HIGH].sum(axis=1) / np.maximum(power[:, _ALL].sum(axis=1), 1e-20)
        ac = np.fft.irfft(power, NFFT, axis=1)[:, :WINDOW]
        r = ac[:, _LAGS] / np.maximum(ac[:, :1], 1e-20) / (_WIN_AC[_LAGS] / _WIN_AC[0])
        voicing = np.clip(r.max(axis=1), 0.0, 1.0)
        voicing[energy < ABS_FLOOR_DB] = 0.0
        level = self._track(energy)
        f32 = np.float32
        return FrameFeatures(start, windows, energy.astype(f32), level, voicing.astype(f32), f1.astype(f32),
                             f2.astype(f32), centroid.astype(f32), low.astype(f32), mid.astype(f32), high.astype(f32))

    def _track(self, energy: np.ndarray) -> np.ndarray:
        """Causal noise floor and speech peak, frame by frame; level 0..1 between gate and peak."""
        out = np.empty(energy.size, np.float32)
        dt = HOP / SR
        floor, peak, seen = self._floor, self._peak, self._seen
        for k, e in enumerate(energy.tolist()):
            e = max(e, -120.0)
            rise = FLOOR_RISE_DB_S[0] if seen < SR // HOP else FLOOR_RISE_DB_S[1]
            floor = max(min(e, floor + rise * dt), ABS_FLOOR_DB - 30.0)
            gate = max(floor, ABS_FLOOR_DB) + GATE_DB
            peak = peak + PEAK_ATTACK * (e - peak) if e > peak else peak - PEAK_FALL_DB_S * dt
            peak = max(peak, gate + MIN_RANGE_DB)
            out[k] = min(max((e - gate) / (peak - gate), 0.0), 1.0)
            seen += 1
        self._floor, self._peak, self._seen = floor, peak, seen
        return out
