"""Engine tests: synthetic phone tracks and energy, so no audio or pocketsphinx is needed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmface_studio.engine.request import Analysis, PhoneSpan

VOWEL_DB, CONSONANT_DB, SILENCE_DB = -18.0, -32.0, -70.0
VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def speech(phones: Sequence[tuple[str, float] | tuple[str, float, float]], lead: float = 0.3,
           tail: float = 0.3) -> Analysis:
    """An Analysis from (label, duration[, level dB]) items, with silence before and after.

    Energy follows the phones (vowels loud, consonants quieter, silence near the floor) unless an
    item gives its own level; f0 is 140 Hz on vowels.
    """
    spans, levels = [PhoneSpan("SIL", 0.0, lead)], [SILENCE_DB]
    t = lead
    for item in phones:
        label, length = item[0], float(item[1])
        level = item[2] if len(item) > 2 else (
            SILENCE_DB if label == "SIL" else VOWEL_DB if label in VOWELS else CONSONANT_DB)
        spans.append(PhoneSpan(label, t, t + length))
        levels.append(level)
        t += length
    spans.append(PhoneSpan("SIL", t, t + tail))
    levels.append(SILENCE_DB)
    duration = t + tail
    n = int(np.ceil(duration * 100))
    centres = (np.arange(n) + 0.5) / 100
    starts = np.array([s.start for s in spans])
    k = np.clip(np.searchsorted(starts, centres, side="right") - 1, 0, len(spans) - 1)
    energy = np.array(levels)[k]
    f0 = np.where([spans[i].label in VOWELS for i in k], 140.0, 0.0)
    return Analysis(tuple(spans), energy.astype(np.float32), f0.astype(np.float32), duration, 100.0, "test")


def frames_in(start: float, end: float, fps: float, n_frames: int) -> np.ndarray:
    """Frames whose time f / fps lies in [start, end); the nearest frame if none does."""
    f = np.arange(n_frames)
    inside = f[(f / fps >= start - 1e-9) & (f / fps < end - 1e-9)]
    if inside.size == 0:
        inside = np.array([min(int(round(0.5 * (start + end) * fps)), n_frames - 1)])
    return inside


def jitter(curve: np.ndarray) -> float:
    """Mean absolute second difference per frame."""
    return float(np.abs(np.diff(curve, 2)).mean())
