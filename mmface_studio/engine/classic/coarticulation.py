"""Dominance blending of viseme targets (Cohen-Massaro) and the hard lip constraints.

Each phone claims the mouth with a dominance that is flat over the phone (at least
``MIN_HOLD`` wide) and decays exponentially outside it; the mouth shape at any time is the
dominance-weighted mean of all targets, per channel group. Why this model: it coarticulates
for free (a /t/ between two /uw/ stays rounded because its lip dominance is low), anticipates
(rounded sounds have a long backward spread) and cannot chatter (a phone shorter than the
minimum hold shares its plateau with its neighbours instead of flipping the mouth for a frame).

Blending runs at 100 Hz, the feature rate, so that phones shorter than an animation frame
still count, then is low-passed and sampled at the animation frame times.

The hard constraints are then enforced frame-exactly -- after blending and again after the
emotion stage -- because a bilabial that does not close, or an /f/ without the lower lip at the
teeth, reads as wrong lip-sync whatever the blend says. They are tight in time: enforced on the
frames inside the phone, eased in over 30 ms before it and out over 12 ms after it, and the
closure visemes' plateau is not widened to the full minimum hold. Looser (a 70 ms ramp, weight
0.74 on the next frame at 30 fps, plus a 70 ms hold) they shut every vowel of <= 80 ms between
two bilabials: "maybe", "my mother", "bumpy" (measured: M-EY-B with an 80 ms vowel -0.5 mm at its
widest, now 3.9-4.3 mm at any frame phase; the vowel alone opens 6.8 mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
from mmface_studio.engine.classic import visemes as vz

if TYPE_CHECKING:
    from mmface_studio.engine.request import Analysis

INTERNAL_RATE = 100.0
#: Shortest time a mouth shape is held (s). 70 ms ~ the shortest visibly distinct mouth posture
#: at conversational rate; shorter phones blend with their neighbours rather than flash.
MIN_HOLD = 0.07
#: Minimum hold of the hold-exempt visemes (/p b m/, /f v/): shorter than ``MIN_HOLD``, because
#: their hard constraints already make them visible, and a 70 ms plateau around a 40 ms /b/ ate
#: the vowels beside it (the /ey/ of "maybe" stayed shut).
CLOSURE_MIN_HOLD = 0.05
#: Temporal smoothing of the blend (s, Gaussian sigma): removes the plateau corners. 30 ms rather
#: than 20: with closures now tight in time, it takes back some of the jitter they add (worst case
#: jaw 0.052 -> 0.051 per frame on espeak-ng speech, lip gap 1.70 -> 1.64 mm on the dev recordings)
#: at little cost in opening (a lone /ey/ 7.0 -> 6.8 mm).
SMOOTH_S = 0.03
#: Ramps (s) over which a hard constraint is eased in before its phone's interval and out after it,
#: measured in time from the interval's edges, so that a closure is tight in time and a short vowel
#: between two bilabials still opens. The release is the shorter: lips close in a gesture that
#: starts before the acoustic closure but part at the burst (~10-15 ms to several millimetres).
CONSTRAINT_APPROACH_S = 0.03
CONSTRAINT_RELEASE_S = 0.012
#: Exponent c of the dominance exp(-(d / spread)^c): Cohen & Massaro fit c around 1; 1.5 keeps the
#: near reach (anticipation across a consonant cluster) but lets it die out across a pause.
SHAPE = 1.5
#: A dominance below exp(-CUTOFF) is ignored (keeps the blend banded, O(phones) not O(phones^2)).
CUTOFF = 7.0
_CHUNK = 512
_IDX = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}


def smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    return np.arange(n_frames, dtype=np.float64) / fps


def resample_feature(values: np.ndarray, rate: float, times: np.ndarray, smooth_s: float = 0.0) -> np.ndarray:
    """A feature at ``rate`` (frame i centred on (i + 0.5) / rate) sampled at ``times`` seconds."""
    if values.size == 0:
        return np.zeros(times.shape, np.float32)
    v = values.astype(np.float64)
    if smooth_s > 0:
        v = gaussian_filter1d(v, smooth_s * rate, mode="nearest")
    return np.interp(times * rate - 0.5, np.arange(v.size), v).astype(np.float32)


@dataclass(frozen=True)
class FrameProsody:
    """Per-frame prosody shared by the stages: loudness 0..1, f0 (semitones re 100 Hz, 0 unvoiced), speaking."""

    loudness: np.ndarray
    semitones: np.ndarray
    voiced: np.ndarray
    speaking: np.ndarray


def loudness(energy_db: np.ndarray, rate: float) -> np.ndarray:
    """Energy (dB) -> 0..1 relative to the clip's own range, so recording level does not matter.

    The range is the 10th..95th percentile of the non-silent frames (at least 12 dB wide).
    """
    if energy_db.size == 0:
        return np.zeros(0, np.float32)
    e = gaussian_filter1d(energy_db.astype(np.float64), 0.025 * rate, mode="nearest")
    live = e[e > e.max() - 60.0]
    lo, hi = np.percentile(live, [10.0, 95.0]) if live.size else (e.min(), e.max())
    hi = max(hi, lo + 12.0)
    return np.clip((e - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def frame_prosody(analysis: Analysis, fps: float, n_frames: int) -> FrameProsody:
    times = frame_times(n_frames, fps)
    rate = analysis.feature_rate
    loud = resample_feature(loudness(analysis.energy_db, rate), rate, times, 0.5 / fps)
    f0 = analysis.f0_hz.astype(np.float64)
    semis = np.where(f0 > 0, 12.0 * np.log2(np.maximum(f0, 1.0) / 100.0), 0.0)
    idx = np.clip(np.round(times * rate - 0.5).astype(np.int64), 0, max(f0.size - 1, 0))
    voiced = (f0[idx] > 0) if f0.size else np.zeros(n_frames, bool)
    semitones = np.where(voiced, semis[idx] if f0.size else 0.0, 0.0).astype(np.float32)
    starts = np.array([p.start for p in analysis.phones] or [0.0])
    ends = np.array([p.end for p in analysis.phones] or [0.0])
    silent = np.array([p.label == "SIL" for p in analysis.phones] or [True])
    k = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(starts) - 1)
    speaking = (~silent[k]) & (times < ends[k]) & (times >= starts[k])
    return FrameProsody(loud, semitones, voiced, speaking)


# --- blending ------------------------------------------------------------------------------------------------


def _segments(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(viseme index, start, end) per segment; diphthongs become two segments."""
    names = list(vz.VISEMES)
    vis, starts, ends = [], [], []
    for p in analysis.phones:
        parts = vz.visemes_for(p.label)
        if len(parts) == 1:
            vis.append(names.index(parts[0]))
            starts.append(p.start)
            ends.append(p.end)
        else:
            mid = p.start + vz.DIPHTHONG_ONSET_SHARE * (p.end - p.start)
            vis += [names.index(parts[0]), names.index(parts[1])]
            starts += [p.start, mid]
            ends += [mid, p.end]
    return np.array(vis, np.int64), np.array(starts), np.array(ends)


def blend_visemes(analysis: Analysis, fps: float, n_frames: int, check=lambda: None) -> np.ndarray:
    """(52, n_frames) mouth shapes from the phones and loudness (only mouth channels are non-zero)."""
    _names, targets, dominance, spread, anticipation, exempt = vz.viseme_table()
    groups = vz.group_of_channels()
    vis, starts, ends = _segments(analysis)
    n = max(1, int(np.ceil(analysis.duration * INTERNAL_RATE)))
    out = np.zeros((len(ARKIT_BLENDSHAPES), n), np.float64)
    rest = vz.REST.vector().astype(np.float64)
    if vis.size == 0:
        out[:] = rest[:, None]
    else:
        dur = ends - starts
        centre = 0.5 * (starts + ends)
        # Closures (hold-exempt visemes) keep their own length: widening a 60 ms /b/ to the minimum
        # hold would eat into a short vowel beside it, and the hard constraint already shows it.
        half = 0.5 * np.maximum(dur, np.where(exempt[vis], CLOSURE_MIN_HOLD, MIN_HOLD))
        thin = np.where(exempt[vis], 1.0, np.minimum(1.0, dur / MIN_HOLD))
        alpha = dominance[vis] * thin[:, None]  # S x 3
        after = spread[vis][:, None] * np.ones((1, 3))
        before = after.copy()
        before[:, 2] *= anticipation[vis]
        reach = float(half.max() + CUTOFF ** (1.0 / SHAPE) * before.max())
        tgt = targets[vis].astype(np.float64)
        channels = [np.flatnonzero(groups == g) for g in range(len(vz.GROUPS))]
        eps = 1e-4
        for i0 in range(0, n, _CHUNK):
            check()
            t = (np.arange(i0, min(i0 + _CHUNK, n)) + 0.5) / INTERNAL_RATE
            s0 = np.searchsorted(ends, t[0] - reach)
            s1 = np.searchsorted(starts, t[-1] + reach, side="right")
            if s1 <= s0:
                out[:, i0:i0 + t.size] = rest[:, None]
                continue
            sl = slice(s0, s1)
            offset = t[None, :] - centre[sl, None]
            dist = np.maximum(np.abs(offset) - half[sl, None], 0.0)
            is_before = offset < 0
            for g, chans in enumerate(channels):
                sigma = np.where(is_before, before[sl, g, None], after[sl, g, None])
                d = alpha[sl, g, None] * np.exp(-np.minimum((dist / sigma) ** SHAPE, CUTOFF + 5.0))
                num = tgt[sl][:, chans].T @ d + eps * rest[chans, None]
                out[chans, i0:i0 + t.size] = num / (d.sum(axis=0) + eps)
    rate = analysis.feature_rate
    loud = resample_feature(loudness(analysis.energy_db, rate), rate, (np.arange(n) + 0.5) / INTERNAL_RATE)
    gain = 0.55 + 0.9 * loud.astype(np.float64)
    for name in vz.OPENING_CHANNELS:
        out[_IDX[name]] *= gain
    sigma = max(SMOOTH_S * INTERNAL_RATE, 0.5 * INTERNAL_RATE / fps)
    mouth = np.flatnonzero(groups >= 0)
    out[mouth] = gaussian_filter1d(out[mouth], sigma, axis=1, mode="nearest")
    pos = np.clip(frame_times(n_frames, fps) * INTERNAL_RATE - 0.5, 0.0, n - 1)
    i = np.minimum(pos.astype(np.int64), n - 1)
    j = np.minimum(i + 1, n - 1)
    frac = pos - i
    return np.clip(out[:, i] * (1.0 - frac) + out[:, j] * frac, 0.0, 1.0).astype(np.float32)


# --- hard constraints ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """Bounds a set of channels must respect inside every interval of its phones."""

    caps: MappingProxyType
    floors: MappingProxyType


def _c(caps: dict[str, float], floors: dict[str, float]) -> Constraint:
    return Constraint(MappingProxyType(vz.expand_symmetric(caps)), MappingProxyType(vz.expand_symmetric(floors)))


#: Applied in this order; bilabial last so that a closure wins where a ramp overlaps another class.
#: Bilabial seal: on ARKit rigs mouthClose cancels the lip gap that jawOpen makes (on the built-in head
#: jawOpen 1 drops the lower lip 34 mm and mouthClose 1 lifts it 27 mm, so mouthClose >= 1.25 jawOpen
#: seals); with jawOpen capped at 0.08 the floor mouthClose >= 0.1 seals at any allowed jaw.
CONSTRAINTS: dict[str, Constraint] = {
    "rounded": _c({"mouthSmile": 0.3, "mouthStretch": 0.15}, {"mouthPucker": 0.3, "mouthFunnel": 0.25}),
    "labiodental": _c({"jawOpen": 0.12, "mouthLowerDown": 0.1, "mouthFunnel": 0.15, "mouthPucker": 0.25,
                       "mouthClose": 0.1, "tongueOut": 0.05, "mouthUpperUp": 0.35},
                      {"mouthRollLower": 0.4, "mouthUpperUp": 0.1}),
    "bilabial": _c({"jawOpen": 0.08, "mouthLowerDown": 0.05, "mouthUpperUp": 0.05, "mouthFunnel": 0.1,
                    "tongueOut": 0.0}, {"mouthPress": 0.2, "mouthClose": 0.1}),
}


def _intervals(analysis: Analysis, label_set: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    spans = [(p.start, p.end) for p in analysis.phones if p.label in label_set]
    return np.array([a for a, _ in spans], np.float64), np.array([b for _, b in spans], np.float64)


def constraint_frames(analysis: Analysis, fps: float, n_frames: int, label_set: frozenset[str]) -> np.ndarray:
    """Frames inside the phones of ``label_set`` (time f/fps in [start, end)), plus the nearest frame
    of any such phone too short to contain one -- a 20 ms /p/ must still close the lips on screen."""
    mask = np.zeros(n_frames + 1, np.int64)
    for start, end in zip(*_intervals(analysis, label_set), strict=True):
        a = int(np.ceil(start * fps - 1e-6))
        b = int(np.ceil(end * fps - 1e-6))
        if b <= a:
            a = min(int(round(0.5 * (start + end) * fps)), n_frames - 1)
            b = a + 1
        a, b = min(max(a, 0), n_frames), min(max(b, 0), n_frames)
        mask[a] += 1
        mask[b] -= 1
    return np.cumsum(mask[:-1]) > 0


def ramp_weights(inside: np.ndarray, times: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 approach_s: float = CONSTRAINT_APPROACH_S, release_s: float = CONSTRAINT_RELEASE_S) -> np.ndarray:
    """1 on ``inside`` frames, easing to 0 over ``approach_s`` before and ``release_s`` after the
    intervals (``starts``/``ends``, s), in *time*.

    Measured from the phone's edges, not in frames: a frame 5 ms after a /b/ releases is still
    nearly closed, one 30 ms after it is free. Counting whole frames instead (the first version:
    a 70 ms ramp, weight 0.74 on the frame after a closure at 30 fps) shut any vowel shorter than
    ~90 ms between two bilabials ("maybe", "my mother", "bumpy").
    """
    if starts.size == 0:
        return inside.astype(np.float32)
    order = np.argsort(starts)
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    k = np.searchsorted(starts, times, side="right") - 1  # last interval starting at or before t
    after = np.where(k >= 0, times - ends[np.maximum(k, 0)], np.inf)  # > 0: past its end
    nxt = np.minimum(k + 1, starts.size - 1)
    before = np.where(k + 1 < starts.size, starts[nxt] - times, np.inf)
    after = np.where(after > 0, after, 0.0)  # 0 inside an interval
    w_after = smoothstep(1.0 - after / max(release_s, 1e-9))
    w_before = smoothstep(1.0 - np.maximum(before, 0.0) / max(approach_s, 1e-9))
    return np.where(inside, 1.0, np.maximum(w_after, w_before)).astype(np.float32)


def constraint_masks(analysis: Analysis, fps: float, n_frames: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class: (inside frames, weights with ramps)."""
    out = {}
    times = frame_times(n_frames, fps)
    for name in CONSTRAINTS:
        labels = vz.CONSTRAINT_PHONES[name]
        inside = constraint_frames(analysis, fps, n_frames, labels)
        out[name] = (inside, ramp_weights(inside, times, *_intervals(analysis, labels)))
    return out


def enforce_constraints(face: np.ndarray, masks: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Clamp ``face`` (52 x T, modified in place and returned) into every class's bounds.

    Pass 1 eases each class in and out: x + w (clip(x, floor, cap) - x), w = 1 inside its phones
    and ramping to 0 outside. Pass 2 re-clamps every class's inside frames, because a neighbour's
    ramp may have pulled them (an /f/ easing out lowers the pucker of the /ow/ right after it);
    the ramp's compatible part stays (the jaw still eases out of a /b/ into a /w/). Every step is
    monotone in x, so an emotion that pushes a channel up never pulls the result down.
    """
    for hard_only in (False, True):
        for name, rule in CONSTRAINTS.items():
            inside, ramp = masks[name]
            active = np.flatnonzero(inside if hard_only else ramp > 0)
            if active.size == 0:
                continue
            w, hard = ramp[active], inside[active]
            for channel in set(rule.caps) | set(rule.floors):
                row = face[_IDX[channel]]
                x = row[active]
                target = np.clip(x, rule.floors.get(channel, -np.inf), rule.caps.get(channel, np.inf))
                row[active] = np.where(hard, target, x + w * (target - x))
    return face
