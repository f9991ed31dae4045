"""Blinks and gaze: seedable, emotion-aware eyelids and saccadic eye movement.

Blinks are a renewal process (gamma-distributed intervals, not Poisson: real blinks have a
refractory time, and a renewal process keeps the count per minute steady) whose rate is lower
while speaking steadily and higher in pauses, plus extra blinks at phrase boundaries and with
large gaze shifts. Emotion raises the rate (fear, surprise): that part is cheap and runs with
the emotion, so the random draws are made once here and only the time warp is redone when an
emotion key changes -- blinks then slide instead of being re-drawn.

Each blink is a full, symmetric closure: ~50 ms closing, ~100 ms opening (the lid opens more
slowly than it closes), snapped so the closed instant lands on a frame.

Gaze is a sequence of fixations (log-normal durations) mostly on the listener, with aversions
that are likelier when a phrase starts, joined by saccades whose duration grows with amplitude
(main sequence). Output is the eye rotation (radians, Live Link Face conventions: + yaw to the
character's left, + pitch down) and the matching eyeLook* weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
from mmface_studio.engine.classic.coarticulation import FrameProsody, smoothstep

#: Blinks per second while speaking steadily / in pauses (before emotion).
RATE_SPEAKING = 10.0 / 60.0
RATE_PAUSE = 18.0 / 60.0
#: Extra blink per phrase boundary (pause >= 0.25 s) and per large gaze shift, with these chances.
BOUNDARY_CHANCE = 0.4
SACCADE_CHANCE = 0.1
LARGE_SACCADE_RAD = 0.15
#: Intervals are Gamma(shape) in operational time (coefficient of variation 1/sqrt(5) = 0.45,
#: about what blink-interval studies report; Poisson's would be 1).
INTERVAL_SHAPE = 5.0
REFRACTORY_S = 0.6
#: Rate multiplier per unit intensity (EMOTIONS order): fear and surprise blink more.
EMOTION_RATE = np.array([0.0, 0.0, 0.0, 0.6, 0.8, 0.0, 0.2])
CLOSE_S, OPEN_S = 0.05, 0.10

#: Eye rotation (rad) that each eyeLook* shape stands for at weight 1 (measured on the built-in
#: head's ARKit face units: out 40 deg, in 36 deg, up 20 deg, down 33 deg).
LOOK_OUT, LOOK_IN, LOOK_UP, LOOK_DOWN = 0.70, 0.63, 0.35, 0.58
_IDX = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}


@dataclass(frozen=True)
class BlinkPlan:
    """The random part of blinks and gaze, fixed per (analysis, fps, seed)."""

    fps: float
    base_rate: np.ndarray  # (T,) blinks per second before emotion
    intervals: np.ndarray  # operational-time gaps between background blinks (mean 1)
    extra_frames: np.ndarray  # candidate blinks at phrase boundaries / large saccades
    extra_chance: np.ndarray
    extra_phase: float  # random phase of the systematic sampling of those candidates
    gaze: np.ndarray  # (2, T) yaw, pitch in radians


def _pause_onsets(speaking: np.ndarray, fps: float, min_pause_s: float = 0.25) -> np.ndarray:
    """Frames where speech stops for at least ``min_pause_s``."""
    s = speaking.astype(np.int8)
    edges = np.flatnonzero(np.diff(s) != 0) + 1
    bounds = np.concatenate([[0], edges, [s.size]])
    onsets = []
    for a, b in pairwise(bounds):
        if not s[a] and a > 0 and (b - a) >= min_pause_s * fps:
            onsets.append(a)
    return np.array(onsets, np.int64)


def _gaze(prosody: FrameProsody, fps: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(2, T) gaze and the frames of large saccades."""
    duration = n / fps
    count = int(duration / 0.3) + 4
    lengths = np.clip(rng.lognormal(np.log(1.1), 0.5, count), 0.3, 4.0)
    starts = np.concatenate([[0.0], np.cumsum(lengths)])[:count]
    starts = starts[starts < duration]
    k = starts.size
    speech_onsets = np.flatnonzero(np.diff(prosody.speaking.astype(np.int8)) > 0) / fps
    near_onset = np.zeros(k, bool)
    if speech_onsets.size:
        j = np.searchsorted(speech_onsets, starts)
        nxt = speech_onsets[np.minimum(j, speech_onsets.size - 1)]
        near_onset = np.abs(nxt - starts) < 0.4
    avert = rng.random(k) < np.where(near_onset, 0.5, 0.25)
    side = np.where(rng.random(k) < 0.5, -1.0, 1.0)
    yaw = np.where(avert, side * rng.uniform(0.1, 0.22, k), rng.normal(0.0, 0.025, k))
    pitch = np.where(avert, rng.normal(0.04, 0.04, k), rng.normal(0.0, 0.02, k))
    yaw[0], pitch[0] = rng.normal(0.0, 0.02), rng.normal(0.0, 0.015)
    prev_yaw, prev_pitch = np.roll(yaw, 1), np.roll(pitch, 1)
    prev_yaw[0], prev_pitch[0] = yaw[0], pitch[0]
    amplitude = np.hypot(yaw - prev_yaw, pitch - prev_pitch)
    length = 0.02 + 0.12 * amplitude  # main sequence: ~45 ms for 12 degrees
    t = np.arange(n) / fps
    i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, k - 1)
    u = smoothstep((t - starts[i]) / length[i])
    gaze = np.stack([prev_yaw[i] + (yaw[i] - prev_yaw[i]) * u, prev_pitch[i] + (pitch[i] - prev_pitch[i]) * u])
    # Fixational drift: a few slow sinusoids of ~0.003 rad.
    freqs = rng.uniform(0.2, 1.5, (2, 3))
    phases = rng.uniform(0, 2 * np.pi, (2, 3))
    gaze += 0.002 * np.sin(2 * np.pi * freqs[:, :, None] * t[None, None, :] + phases[:, :, None]).sum(axis=1)
    big = np.round(starts[1:][amplitude[1:] > LARGE_SACCADE_RAD] * fps).astype(np.int64)
    return gaze.astype(np.float32), big


def plan_blinks(prosody: FrameProsody, fps: float, n_frames: int, seed: int) -> BlinkPlan:
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xB11E])
    base = np.where(prosody.speaking, RATE_SPEAKING, RATE_PAUSE).astype(np.float64)
    worst = float(base.max() * (1.0 + EMOTION_RATE.sum()))
    count = int(np.ceil(n_frames / fps * worst * 1.5)) + 8
    intervals = rng.gamma(INTERVAL_SHAPE, 1.0 / INTERVAL_SHAPE, count)
    intervals[0] *= rng.random()  # start mid-interval, as a process already running would
    gaze, saccades = _gaze(prosody, fps, n_frames, rng)
    pauses = _pause_onsets(prosody.speaking, fps)
    pauses = pauses + np.round(rng.uniform(0.03, 0.2, pauses.size) * fps).astype(np.int64)
    extra = np.concatenate([pauses, saccades])
    chance = np.concatenate([np.full(pauses.size, BOUNDARY_CHANCE), np.full(saccades.size, SACCADE_CHANCE)])
    order = np.argsort(extra, kind="stable")
    extra, chance = extra[order], chance[order]
    keep = extra < n_frames
    return BlinkPlan(fps, base.astype(np.float32), intervals, extra[keep], chance[keep], float(rng.random()), gaze)


def blink_frames(plan: BlinkPlan, gammas: np.ndarray) -> np.ndarray:
    """Frames where the eyes are fully closed, given the per-frame emotion intensities (7 x T)."""
    n = plan.base_rate.size
    factor = 1.0 + EMOTION_RATE @ gammas.astype(np.float64)  # (T,)
    warp = np.cumsum(plan.base_rate * factor) / plan.fps
    background = np.searchsorted(warp, np.cumsum(plan.intervals))
    background = background[background < n]
    # Systematic sampling of the candidates (one random phase, then every time the running sum of
    # chances crosses an integer): the count follows the chances closely instead of scattering
    # like independent coin flips, so the blink rate per minute stays steady.
    chance = plan.extra_chance * factor[plan.extra_frames] if plan.extra_frames.size else plan.extra_chance
    running = np.floor(plan.extra_phase + np.cumsum(np.minimum(chance, 1.0)))
    extra = plan.extra_frames[np.diff(np.concatenate([[np.floor(plan.extra_phase)], running])) > 0]
    frames = np.unique(np.concatenate([background, extra]))
    kept: list[int] = []
    gap = REFRACTORY_S * plan.fps
    for f in frames.tolist():
        if not kept or f - kept[-1] >= gap:
            kept.append(f)
    return np.array(kept, np.int64)


def blink_curve(frames: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Eyelid closure 0..1 per frame: 1 at each blink frame, closing over CLOSE_S before, opening over OPEN_S."""
    curve = np.zeros(n_frames, np.float32)
    if frames.size == 0:
        return curve
    before = int(np.ceil(CLOSE_S * fps))
    after = int(np.ceil(OPEN_S * fps))
    offsets = np.arange(-before, after + 1)
    tau = offsets / fps
    kernel = np.where(tau < 0, smoothstep((tau + CLOSE_S) / CLOSE_S), 1.0 - smoothstep(tau / OPEN_S))
    idx = frames[:, None] + offsets[None, :]
    ok = (idx >= 0) & (idx < n_frames)
    np.maximum.at(curve, idx[ok], np.broadcast_to(kernel, idx.shape)[ok].astype(np.float32))
    return curve


def eye_look_shapes(yaw: np.ndarray, pitch: np.ndarray) -> dict[str, np.ndarray]:
    """eyeLook* weights matching an eye rotation (+ yaw: to the character's left, + pitch: down)."""
    left, right = np.maximum(yaw, 0.0), np.maximum(-yaw, 0.0)
    down, up = np.maximum(pitch, 0.0) / LOOK_DOWN, np.maximum(-pitch, 0.0) / LOOK_UP
    return {
        "eyeLookOutLeft": left / LOOK_OUT, "eyeLookInRight": left / LOOK_IN,
        "eyeLookInLeft": right / LOOK_IN, "eyeLookOutRight": right / LOOK_OUT,
        "eyeLookDownLeft": down, "eyeLookDownRight": down, "eyeLookUpLeft": up, "eyeLookUpRight": up,
    }


def blink_count_per_minute(frames: np.ndarray, n_frames: int, fps: float) -> float:
    return 60.0 * frames.size / max(n_frames / fps, 1e-9)

