"""Head pose: prosody-linked nods, slow drift, style presets, seeded takes and locked ranges.

Speakers move their heads with their prosody: small downward nods land on stressed syllables
(loud, high-pitched, long vowels), and under them the head drifts slowly. The drift is a sum of
random sinusoids in a low band (band-limited noise without filter edge effects, and cheap), the
nods an impulse train through a smooth nod kernel; both are vectorised over frames, so a
re-sample of 60 s costs a few milliseconds.

A seed picks one take; re-sampling with another seed gives a different but plausible one, with
the same style. Locked ranges (PoseLock) keep their previous values bit-exactly, and the new
take cross-fades into them over ~150 ms outside each lock, so no pop appears at the edges.

Output: HeadYaw, HeadPitch, HeadRoll in radians with Live Link Face conventions (+ yaw turns to
the character's left, + pitch nods down, + roll tilts to the character's left), soft-limited
per style.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import fftconvolve

from mmface_studio.engine.classic.coarticulation import FrameProsody, smoothstep
from mmface_studio.engine.request import VOWELS, PoseLock

if TYPE_CHECKING:
    from mmface_studio.engine.request import Analysis

LOCK_BLEND_S = 0.15
#: A nod goes down in 0.2 s and comes back in 0.35 s (peak speed ~0.8 rad/s for a 0.1 rad nod).
NOD_DOWN_S, NOD_UP_S = 0.2, 0.35
SHAKE_HZ = 2.2


@dataclass(frozen=True)
class PoseStyle:
    """Amplitudes (rad) and rhythms of one head-motion preset."""

    drift: tuple[float, float, float]  # std of yaw, pitch, roll drift
    band: tuple[float, float]  # drift frequency band (Hz)
    nod: float  # peak pitch of a typical stressed-syllable nod
    stress_quantile: float  # vowels scoring above this quantile may nod
    nod_spacing: float  # s, minimum time between nods
    shake: float  # peak yaw of a head shake (0: none)
    shake_chance: float  # chance of a shake at each phrase start
    limits: tuple[float, float, float]  # soft limits of |yaw|, |pitch|, |roll|
    pause_damping: float  # drift scale in pauses (speakers move less when silent)


STYLES: dict[str, PoseStyle] = {
    "calm": PoseStyle((0.035, 0.025, 0.015), (0.04, 0.3), 0.03, 0.75, 0.6, 0.0, 0.0, (0.25, 0.18, 0.15), 0.6),
    "animated": PoseStyle((0.09, 0.055, 0.045), (0.06, 0.6), 0.07, 0.55, 0.35, 0.06, 0.15, (0.33, 0.23, 0.2), 0.7),
    "nodding": PoseStyle((0.04, 0.03, 0.02), (0.05, 0.4), 0.11, 0.4, 0.3, 0.0, 0.0, (0.25, 0.23, 0.15), 0.7),
    "shaking": PoseStyle((0.04, 0.03, 0.02), (0.05, 0.4), 0.025, 0.8, 0.6, 0.12, 0.7, (0.33, 0.18, 0.15), 0.7),
}


def nod_kernel(fps: float) -> np.ndarray:
    """Unit nod: a smooth dip (sin^2 down, cos^2 back up), so it starts and ends at rest speed."""
    tau = np.arange(int(np.ceil((NOD_DOWN_S + NOD_UP_S) * fps)) + 1) / fps
    down = np.sin(0.5 * np.pi * np.clip(tau / NOD_DOWN_S, 0.0, 1.0)) ** 2
    up = np.cos(0.5 * np.pi * np.clip((tau - NOD_DOWN_S) / NOD_UP_S, 0.0, 1.0)) ** 2
    return np.where(tau < NOD_DOWN_S, down, up)


def _drift(style: PoseStyle, t: np.ndarray, rng: np.random.Generator, components: int = 10) -> np.ndarray:
    """(3, T) band-limited noise: random sinusoids, 1/sqrt(f) amplitudes, scaled to the style's std."""
    lo, hi = style.band
    freqs = np.exp(rng.uniform(np.log(lo), np.log(hi), (3, components)))
    phases = rng.uniform(0.0, 2.0 * np.pi, (3, components))
    amps = freqs ** -0.5
    amps *= (np.array(style.drift)[:, None] / np.sqrt(0.5 * (amps**2).sum(axis=1, keepdims=True)))
    return np.einsum("ak,akt->at", amps, np.sin(2.0 * np.pi * freqs[:, :, None] * t[None, None, :]
                                                + phases[:, :, None]))


def stressed_vowels(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """(onset times, z-scored stress) of the vowels: energy peak + 0.5 f0 peak + 0.3 duration."""
    vowels = [p for p in analysis.phones if p.label in VOWELS]
    if not vowels:
        return np.zeros(0), np.zeros(0)
    rate = analysis.feature_rate
    n = analysis.energy_db.size
    starts = np.array([p.start for p in vowels])
    ends = np.array([p.end for p in vowels])
    if n == 0:
        return starts, np.zeros(starts.size)
    a = np.clip((starts * rate).astype(np.int64), 0, n - 1)
    b = np.clip(np.ceil(ends * rate).astype(np.int64), a + 1, n)
    energy = analysis.energy_db.astype(np.float64)
    f0 = analysis.f0_hz.astype(np.float64)
    semis = np.where(f0 > 0, 12.0 * np.log2(np.maximum(f0, 1.0) / 100.0), 0.0)
    peak_e = np.array([energy[i:j].max() for i, j in zip(a, b, strict=True)])
    peak_f = np.array([semis[i:j].max() for i, j in zip(a, b, strict=True)])

    def z(x: np.ndarray) -> np.ndarray:
        sd = x.std()
        return (x - x.mean()) / sd if sd > 1e-6 else np.zeros_like(x)

    return starts, z(peak_e) + 0.5 * z(peak_f) + 0.3 * z(ends - starts)


def _pick_nods(onsets: np.ndarray, score: np.ndarray, style: PoseStyle) -> np.ndarray:
    if score.size == 0:
        return np.zeros(0, np.int64)
    threshold = np.quantile(score, style.stress_quantile)
    taken: list[float] = []  # onsets already nodding, sorted: the spacing check is two neighbours
    chosen: list[int] = []
    for i in np.argsort(-score):
        if score[i] < threshold:
            break
        t = float(onsets[i])
        k = bisect.bisect_left(taken, t)
        if (k == 0 or t - taken[k - 1] >= style.nod_spacing) and (k == len(taken) or taken[k] - t >= style.nod_spacing):
            taken.insert(k, t)
            chosen.append(int(i))
    return np.array(sorted(chosen), np.int64)


def _events(times: np.ndarray, weights: np.ndarray, n: int, fps: float) -> np.ndarray:
    train = np.zeros((weights.shape[0], n))
    idx = np.round(times * fps).astype(np.int64)
    ok = (idx >= 0) & (idx < n)
    np.add.at(train, (slice(None), idx[ok]), weights[:, ok])
    return train


def sample_pose(analysis: Analysis, prosody: FrameProsody, fps: float, n_frames: int, seed: int,
                style_name: str) -> np.ndarray:
    """(3, T) float32 HeadYaw, HeadPitch, HeadRoll for one seeded take in a style."""
    style = STYLES[style_name]
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x4EAD])
    t = np.arange(n_frames) / fps
    speaking = gaussian_filter1d(prosody.speaking.astype(np.float64), 0.4 * fps, mode="nearest")
    pose = _drift(style, t, rng) * (style.pause_damping + (1.0 - style.pause_damping) * speaking)[None, :]

    onsets, score = stressed_vowels(analysis)
    nods = _pick_nods(onsets, score, style)
    if nods.size:
        s = score[nods]
        strength = style.nod * (0.7 + 0.3 * np.clip((s - s.min()) / max(np.ptp(s), 1e-6), 0, 1))
        strength *= rng.uniform(0.75, 1.25, nods.size)
        weights = np.stack([rng.normal(0, 0.25, nods.size), np.ones(nods.size), rng.normal(0, 0.2, nods.size)])
        train = _events(onsets[nods] - 0.5 * NOD_DOWN_S, weights * strength[None, :], n_frames, fps)
        pose += fftconvolve(train, nod_kernel(fps)[None, :], axes=1)[:, :n_frames]

    if style.shake > 0:
        starts = np.flatnonzero(np.diff(prosody.speaking.astype(np.int8)) > 0) / fps
        starts = starts[rng.random(starts.size) < style.shake_chance]
        if starts.size:
            sign = np.where(rng.random(starts.size) < 0.5, -1.0, 1.0)
            amp = style.shake * rng.uniform(0.7, 1.2, starts.size) * sign
            train = _events(starts, amp[None, :], n_frames, fps)
            tau = np.arange(int(2.5 / SHAKE_HZ * fps) + 1) / fps  # two and a half swings
            kernel = np.sin(2 * np.pi * SHAKE_HZ * tau) * np.sin(np.pi * tau / tau[-1]) ** 2
            pose[0] += fftconvolve(train[0], kernel)[:n_frames]

    limits = np.array(style.limits)[:, None]
    return (limits * np.tanh(pose / limits)).astype(np.float32)


def lock_frames(locks: Sequence[PoseLock], fps: float, n_frames: int) -> np.ndarray:
    """Boolean mask of frames whose time f / fps lies in any lock's [start, end]."""
    mask = np.zeros(n_frames, bool)
    for lock in locks:
        a = max(int(np.ceil(lock.start * fps - 1e-6)), 0)
        b = min(int(np.floor(lock.end * fps + 1e-6)), n_frames - 1)
        if b >= a:
            mask[a:b + 1] = True
    return mask


def apply_pose_locks(new: np.ndarray, previous: np.ndarray | None, locks: Sequence[PoseLock], fps: float,
                     blend_s: float = LOCK_BLEND_S) -> np.ndarray:
    """``new`` (C x T) with locked frames copied exactly from ``previous`` and eased into them outside.

    Outside a lock, within ``blend_s``, the new take is shifted by the gap between the locked value
    and the new take at the nearest locked frame, fading from 1 to 0: continuous at the lock edge,
    and it depends on ``previous`` only through locked frames, so re-running with the result as
    ``previous`` gives the same result (edits never creep). Without a previous take there is
    nothing to keep and ``new`` is returned; where ``previous`` is shorter (the audio changed
    length), only the frames both have are kept.
    """
    if previous is None or not locks:
        return new
    n = min(new.shape[1], previous.shape[1])
    inside = np.zeros(new.shape[1], bool)
    inside[:n] = lock_frames(locks, fps, n)
    if not inside.any():
        return new
    idx = np.arange(new.shape[1])
    big = 10 * idx.size + 10
    last = np.maximum.accumulate(np.where(inside, idx, -big))
    nxt = np.minimum.accumulate(np.where(inside, idx, 2 * big)[::-1])[::-1]
    nearest = np.clip(np.where(idx - last <= nxt - idx, last, nxt), 0, n - 1)
    dist = np.abs(idx - nearest)
    steps = max(1, int(round(blend_s * fps)))
    w = smoothstep(1.0 - dist / (steps + 1.0))
    offset = previous[:, nearest].astype(np.float64) - new[:, nearest]
    out = (new + w[None, :] * offset).astype(new.dtype)
    out[:, inside] = previous[:, :n][:, inside[:n]]
    return out
