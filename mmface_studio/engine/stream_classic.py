"""The classic engine's streaming lip-sync: frame features -> a blend of its viseme targets.

Why blend the offline engine's visemes: the live head then has the same mouth vocabulary (and the
same look on every rig) as a generated take; only the choice of shapes differs -- soft acoustic
cues (see ``stream_features``) instead of recognised phones. Each frame gets weights for a few
viseme families, normalised, and the mouth is the weighted mean of their targets, mixed with the
rest pose by how much speech there is; the opening channels then scale with loudness, exactly as
in ``coarticulation.blend_visemes``.

The cue thresholds were read off espeak-ng speech with known phone timing (median features per
phone) and checked on the real recordings in ``../shared/speech``:

- F1 (power centroid 200-1000 Hz) ~ 650 Hz on /aa/, ~ 500 on /eh/, /ow/, < 350 on /iy/, /uw/ and
  voiced closures -> ``open`` = (F1 - 300) / 350.
- F2 region (centroid 900-3000 Hz) < 1400 Hz on back rounded vowels, > 2100 on front vowels, with
  > 5 % of the speech band at 1.8-3.5 kHz -> ``front``; low F2 and low F1 -> ``round``.
- Nasals and voiced closures: voiced, centroid < 420 Hz, several dB below the speech peak ->
  ``closure`` (lips together).
- Unvoiced with > 20 % of the power above 4 kHz -> fricative (/s/: teeth together; /sh/ with most
  energy at 1.8-3.5 kHz: funnelled lips).

Smoothing is causal: the family weights (30 ms) and the loudness gain (falls in 50 ms) first, then
the shapes through two cascaded one-pole stages (opening 15 ms, closing 30 ms each). Measured on
espeak-ng speech and the real recordings: faster output stages chatter at segment edges (jaw jitter
2-3x the offline engine's bound), slower ones blur 50 ms closures; these settings keep the lip gap
following the voice (r 0.6-0.9 against speech-band energy) with jitter within 1.5x the offline bound
(0.4-0.9x on real voices), and the jaw still crosses 0.1 before the burst of a /ba/ is over.
"""

from __future__ import annotations

import math

import numpy as np

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
from mmface_studio.engine.classic import visemes as vz
from mmface_studio.engine.stream_features import HOP, SR, FrameFeatures

#: Output smoothing: two cascaded one-pole stages (an S-shaped step response: no kink, so no jerk),
#: faster when opening than when closing.
OPEN_TAU_S, CLOSE_TAU_S = 0.015, 0.030
STAGES = 2
#: The viseme-family weights and the loudness gain are smoothed before the blend: they flip between
#: neighbouring frames at segment edges (a single frame heard as unvoiced), which the jaw must not show.
WEIGHT_TAU_S = 0.03
LEVEL_TAU_S = 0.05  # the gain follows a rise at once and falls with this time constant
SPEECH_FULL = 0.35  # level from which a frame is all speech (no rest pose mixed in)
_IDX = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}
_FAMILIES = ("rest", "AA", "AH", "EH", "IY", "OW", "UW", "SZ", "SH", "PBM")
_TARGETS = np.stack([vz.VISEMES[name].vector() for name in _FAMILIES]).astype(np.float64)  # F x 52
_OPENING = np.array([_IDX[c] for c in vz.OPENING_CHANNELS])


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, smooth between (hi < lo gives a falling ramp)."""
    u = np.minimum(np.maximum((x - lo) * (1.0 / (hi - lo)), 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


def cue_weights(f: FrameFeatures) -> np.ndarray:
    """(families, n) unnormalised weights of the viseme families for each frame."""
    f2, centroid = f.f2_hz, f.centroid_hz
    voiced = _ramp(f.voicing, 0.35, 0.6)
    opened = _ramp(f.f1_hz, 300.0, 650.0)
    front = voiced * _ramp(f2, 1800.0, 2300.0) * _ramp(f.mid, 0.03, 0.08)
    rounded = (voiced * _ramp(f2, 2000.0, 1400.0) * _ramp(f.f1_hz, 600.0, 420.0) * _ramp(f.mid, 0.10, 0.04)
               * _ramp(centroid, 420.0, 520.0))
    closure = voiced * _ramp(centroid, 460.0, 380.0) * _ramp(f.level, 0.95, 0.75)
    fricative = (1.0 - voiced) * _ramp(f.high, 0.2, 0.45)
    sh = _ramp(f.mid, 0.45, 0.7)
    vowel = (1.0 - closure) * (1.0 - fricative)
    plain = vowel * (1.0 - front) * (1.0 - rounded)
    w = np.stack([
        np.full(len(f), 0.05),  # rest: what an ambiguous frame falls back to
        plain * opened,  # AA
        plain * (1.0 - opened),  # AH
        vowel * front * opened,  # EH
        vowel * front * (1.0 - opened),  # IY
        vowel * rounded * opened,  # OW
        vowel * rounded * (1.0 - opened),  # UW
        fricative * (1.0 - sh),  # SZ
        fricative * sh,  # SH
        closure,  # PBM
    ])
    return w


class ClassicStreamingBackend:
    """Causal acoustic-cue lip-sync with the classic engine's visemes (no weights, ~50 us a frame)."""

    name = "classic"
    min_lookahead = 0  # works causally; the session's default lookahead centres its window

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._state = [_TARGETS[0].copy() for _ in range(STAGES)]
        self._weights = np.eye(len(_FAMILIES))[0]
        self._level = 0.0

    def mouth(self, features: FrameFeatures) -> np.ndarray:
        """(52, n) mouth shapes for the frames (only mouth channels are non-zero)."""
        n = len(features)
        w = cue_weights(features)
        w /= w.sum(axis=0, keepdims=True)
        level = features.level.astype(np.float64)
        gain_level = np.empty(n)
        a_w = 1.0 - math.exp(-HOP / SR / WEIGHT_TAU_S)
        a_l = 1.0 - math.exp(-HOP / SR / LEVEL_TAU_S)
        wk, lk = self._weights, self._level
        for k in range(n):
            wk = w[:, k] = wk + a_w * (w[:, k] - wk)
            lk = gain_level[k] = lk + (a_l if level[k] < lk else 1.0) * (level[k] - lk)
        self._weights, self._level = wk, lk
        shapes = _TARGETS.T @ w  # 52 x n
        speech = _ramp(level, 0.0, SPEECH_FULL)
        raw = _TARGETS[0][:, None] * (1.0 - speech) + shapes * speech
        raw[_OPENING] *= 0.55 + 0.9 * gain_level[None, :]
        out = np.empty((len(ARKIT_BLENDSHAPES), n), np.float32)
        a_open = 1.0 - math.exp(-HOP / SR / OPEN_TAU_S)
        a_close = 1.0 - math.exp(-HOP / SR / CLOSE_TAU_S)
        state = self._state
        for k in range(n):
            x = raw[:, k]
            for j in range(STAGES):
                x = state[j] = state[j] + np.where(x > state[j], a_open, a_close) * (x - state[j])
            out[:, k] = x
        np.clip(out, 0.0, 1.0, out=out)
        return out
