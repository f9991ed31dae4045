"""Live head motion, blinks and gaze: the classic engine's behaviour, made causal and driven by energy.

The offline stages see the whole clip: nods land on the stressed vowels (ranked against the whole
clip's vowels, centred half a nod early), blinks are drawn over the whole duration. Live there is
no future, so each rule becomes an online one with the same constants (``head_motion.STYLES``,
``blinks``):

- Drift: the same band-limited random sinusoids, evaluated at the frame's time, damped in pauses.
- Nods: a syllable onset is the level rising through 0.5; its stress is its peak energy in the
  next 80 ms, ranked against the last 20 onsets, and the style's ``stress_quantile`` of them nod
  (at most one per ``nod_spacing``). The nod kernel starts where the onset was detected.
- Shakes: at a phrase start (speech after >= 0.25 s of pause) with the style's chance.
- Blinks: a renewal process in operational time whose rate is higher in pauses and raised by
  fear/surprise (``blinks.EMOTION_RATE``), plus a chance of a blink at each phrase end; each blink
  closes in 50 ms and opens in 100 ms from the moment it is triggered.
- Gaze: fixations of log-normal length, mostly on the listener, joined by main-sequence saccades.

Everything is seeded, so a stream gives the same motion for the same audio.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from mmface_studio.engine.classic import blinks as bl
from mmface_studio.engine.classic import head_motion as hm
from mmface_studio.engine.classic.coarticulation import smoothstep

STRESS_WINDOW_S = 0.08
ONSET_LEVEL = 0.5
PHRASE_PAUSE_S = 0.25
SPEAKING_LEVEL = 0.15


class LiveMotion:
    """Per-frame head pose (yaw, pitch, roll), eyelid closure and gaze (yaw, pitch) from the level."""

    def __init__(self, rate: float, style: str = "calm", seed: int = 0) -> None:
        self.rate = float(rate)
        self._rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x11FE])
        lo, hi = 0.04, 0.6
        self._freqs = np.exp(self._rng.uniform(np.log(lo), np.log(hi), (3, 10)))
        self._phases = self._rng.uniform(0.0, 2.0 * np.pi, (3, 10))
        self.set_style(style)
        self._kernel = hm.nod_kernel(self.rate)
        tau = np.arange(int(2.5 / hm.SHAKE_HZ * self.rate) + 1) / self.rate
        self._shake = np.sin(2 * np.pi * hm.SHAKE_HZ * tau) * np.sin(np.pi * tau / tau[-1]) ** 2
        self._events: list[tuple[int, np.ndarray, int]] = []  # (start frame, weights (3,), kind: 0 nod 1 shake)
        self._stress: deque[float] = deque(maxlen=20)
        self._pending: tuple[int, float] | None = None  # onset frame, running peak energy
        self._last_nod = -10**9
        self._prev_level = 0.0
        self._speaking = 0.0
        self._silent_frames = 10**6
        self._op = 0.0
        self._next_blink = float(self._rng.gamma(bl.INTERVAL_SHAPE, 1.0 / bl.INTERVAL_SHAPE)) * self._rng.random()
        self._blink_at = -10**9
        self._gaze = np.zeros(2)
        self._gaze_from = np.zeros(2)
        self._gaze_to = np.zeros(2)
        self._saccade_at = 0
        self._saccade_len = 1.0
        self._next_fixation = 0

    def set_style(self, name: str) -> None:
        """Change the head-motion style; applies from the next frame (amplitudes, rhythms, limits)."""
        if name not in hm.STYLES:
            raise ValueError(f"Unknown pose style {name!r}; styles: {', '.join(hm.STYLES)}.")
        self.style_name = name
        self.style = hm.STYLES[name]
        amps = self._freqs ** -0.5
        self._amps = amps * (np.array(self.style.drift)[:, None] / np.sqrt(0.5 * (amps**2).sum(axis=1, keepdims=True)))

    def step(self, frame: int, level: float, energy_db: float, blink_factor: float) -> tuple[np.ndarray, float]:
        """Advance one frame: (yaw, pitch, roll, gaze yaw, gaze pitch) and the eyelid closure 0..1."""
        st, t = self.style, frame / self.rate
        speaking = level > SPEAKING_LEVEL
        self._speaking += (float(speaking) - self._speaking) * (1.0 - np.exp(-1.0 / (0.4 * self.rate)))
        phrase_start = speaking and self._silent_frames >= PHRASE_PAUSE_S * self.rate
        phrase_end = not speaking and self._silent_frames == int(PHRASE_PAUSE_S * self.rate)
        self._silent_frames = 0 if speaking else self._silent_frames + 1
        self._onsets(frame, level, energy_db)
        if phrase_start and st.shake > 0 and self._rng.random() < st.shake_chance:
            amp = st.shake * self._rng.uniform(0.7, 1.2) * (1 if self._rng.random() < 0.5 else -1)
            self._events.append((frame, np.array([amp, 0.0, 0.0]), 1))
        damping = st.pause_damping + (1.0 - st.pause_damping) * self._speaking
        pose = (self._amps * np.sin(2 * np.pi * self._freqs * t + self._phases)).sum(axis=1) * damping
        kept = []
        for start, weights, kind in self._events:
            kernel = self._shake if kind else self._kernel
            k = frame - start
            if k < kernel.size:
                pose += weights * kernel[k]
                kept.append((start, weights, kind))
        self._events = kept
        limits = np.array(st.limits)
        pose = limits * np.tanh(pose / limits)
        lids = self._blink(frame, speaking, phrase_end, blink_factor)
        return np.concatenate([pose, self._look(frame, phrase_start)]), lids

    def _onsets(self, frame: int, level: float, energy_db: float) -> None:
        if self._prev_level < ONSET_LEVEL <= level:
            self._pending = (frame, energy_db)
        self._prev_level = level
        if self._pending is None:
            return
        onset, peak = self._pending
        peak = max(peak, energy_db)
        if frame - onset < STRESS_WINDOW_S * self.rate:
            self._pending = (onset, peak)
            return
        self._pending = None
        st = self.style
        ranked = len(self._stress) >= 4 and peak >= np.quantile(np.array(self._stress), st.stress_quantile)
        self._stress.append(peak)
        if ranked and frame - self._last_nod >= st.nod_spacing * self.rate:
            self._last_nod = frame
            strength = st.nod * self._rng.uniform(0.75, 1.25)
            weights = np.array([self._rng.normal(0, 0.25), 1.0, self._rng.normal(0, 0.2)]) * strength
            self._events.append((frame, weights, 0))

    def _blink(self, frame: int, speaking: bool, phrase_end: bool, factor: float) -> float:
        rate = bl.RATE_SPEAKING if speaking else bl.RATE_PAUSE
        self._op += rate * factor / self.rate
        refractory = frame - self._blink_at >= bl.REFRACTORY_S * self.rate
        extra = phrase_end and self._rng.random() < bl.BOUNDARY_CHANCE * factor
        if refractory and (self._op >= self._next_blink or extra):
            self._blink_at = frame
            self._op = 0.0
            self._next_blink = float(self._rng.gamma(bl.INTERVAL_SHAPE, 1.0 / bl.INTERVAL_SHAPE))
        tau = (frame - self._blink_at) / self.rate
        if tau < bl.CLOSE_S:
            return float(smoothstep(np.array((tau + 1.0 / self.rate) / bl.CLOSE_S)))
        return float(1.0 - smoothstep(np.array((tau - bl.CLOSE_S) / bl.OPEN_S)))

    def _look(self, frame: int, phrase_start: bool) -> np.ndarray:
        rng = self._rng
        if frame >= self._next_fixation or (phrase_start and rng.random() < 0.3):
            avert = rng.random() < (0.5 if phrase_start else 0.25)
            side = -1.0 if rng.random() < 0.5 else 1.0
            target = (np.array([side * rng.uniform(0.1, 0.22), rng.normal(0.04, 0.04)]) if avert
                      else np.array([rng.normal(0.0, 0.025), rng.normal(0.0, 0.02)]))
            self._gaze_from, self._gaze_to = self._gaze.copy(), target
            self._saccade_at = frame
            self._saccade_len = (0.02 + 0.12 * float(np.hypot(*(target - self._gaze)))) * self.rate
            self._next_fixation = frame + int(np.clip(rng.lognormal(np.log(1.1), 0.5), 0.3, 4.0) * self.rate)
        u = float(smoothstep(np.array((frame - self._saccade_at + 1) / max(self._saccade_len, 1.0))))
        self._gaze = self._gaze_from + (self._gaze_to - self._gaze_from) * u
        return self._gaze
