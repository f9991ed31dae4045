"""Emotion keyframes: the animator's per-key intensities and how they are interpolated.

This is document data (the project file stores it, the timeline edits it) that the engine also
reads, so it lives in ``core`` and ``engine.request`` re-exports it: the engine depends on the
document's vocabulary, never the other way round (DESIGN 2).

The emotion vector follows seed 003's order (neutral, happiness, sadness, surprise, fear,
disgust, anger). Per keyframe the animator sets gamma_u (0..1 each); between keyframes it is
interpolated; the engine may add the mean-centred audio prior w * (gamma_a,t - mean(gamma_a)).
Both types are immutable and hashable so that the pipeline's emotion-stage cache can key on a
track and undo commands can keep the previous track as is.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

EMOTIONS: tuple[str, ...] = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
INTERPOLATIONS: tuple[str, ...] = ("linear", "smooth", "step")

#: Everyday words for the emotions, so ``happy:0.8`` works on the command line like ``happiness:0.8``.
EMOTION_ALIASES: dict[str, str] = {
    "happy": "happiness", "joy": "happiness", "sad": "sadness", "surprised": "surprise",
    "afraid": "fear", "scared": "fear", "fearful": "fear", "disgusted": "disgust",
    "angry": "anger", "neutrality": "neutral",
}


class RequestError(ValueError):
    """A generation request, emotion key or emotion-track text is invalid (message is user-facing).

    Defined here with the emotion types that raise it; ``engine.request`` re-exports it, so
    ``except RequestError`` catches the same class everywhere.
    """


def finite_number(value: Any, what: str) -> float:
    """``float(value)`` or a user-facing ``RequestError`` naming ``what`` (non-numbers, NaN, infinity)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise RequestError(f"{what} must be a finite number, got {value!r}.")
    return number


def emotion_index(name: str) -> int:
    """Index of an emotion by name or alias (case-insensitive); unknown names get close suggestions."""
    key = name.strip().lower()
    key = EMOTION_ALIASES.get(key, key)
    if key in EMOTIONS:
        return EMOTIONS.index(key)
    close = difflib.get_close_matches(key, list(EMOTIONS) + list(EMOTION_ALIASES), n=3, cutoff=0.5)
    close = list(dict.fromkeys(EMOTION_ALIASES.get(c, c) for c in close))
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise RequestError(f"Unknown emotion {name.strip()!r}.{hint} Known emotions: {', '.join(EMOTIONS)}.")


@dataclass(frozen=True)
class EmotionKey:
    """Emotion intensities (gamma_u, 7 values in 0..1) at ``time`` seconds.

    ``interpolation`` says how the track moves from this key to the next one:
    "linear", "smooth" (ease in/out, the default: emotions do not start with a jerk) or "step".
    """

    time: float
    gammas: tuple[float, ...]
    interpolation: str = "smooth"

    def __post_init__(self) -> None:
        t = finite_number(self.time, "An emotion key's time")
        if t < 0:
            raise RequestError(f"An emotion key's time must be >= 0 seconds, got {t:g}.")
        gammas = tuple(finite_number(g, "An emotion intensity") for g in self.gammas)
        if len(gammas) != len(EMOTIONS):
            raise RequestError(f"An emotion key needs {len(EMOTIONS)} intensities ({', '.join(EMOTIONS)}), "
                               f"got {len(gammas)}.")
        for name, g in zip(EMOTIONS, gammas, strict=True):
            if not 0.0 <= g <= 1.0:
                raise RequestError(f"Intensity of {name} must be between 0 and 1, got {g:g}.")
        if self.interpolation not in INTERPOLATIONS:
            raise RequestError(f"Unknown interpolation {self.interpolation!r}; use one of {', '.join(INTERPOLATIONS)}.")
        object.__setattr__(self, "time", t)
        object.__setattr__(self, "gammas", gammas)

    @classmethod
    def of(cls, time: float, interpolation: str = "smooth", **intensities: float) -> EmotionKey:
        """``EmotionKey.of(2.0, happiness=0.8)``: unnamed emotions are 0."""
        gammas = [0.0] * len(EMOTIONS)
        for name, value in intensities.items():
            gammas[emotion_index(name)] = value
        return cls(time, tuple(gammas), interpolation)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(EMOTIONS, self.gammas, strict=True))


@dataclass(frozen=True)
class EmotionTrack:
    """Emotion keyframes sorted by time; hashable, so it can key the emotion-stage cache."""

    keys: tuple[EmotionKey, ...] = ()

    def __post_init__(self) -> None:
        keys = tuple(sorted(self.keys, key=lambda k: k.time))
        for a, b in pairwise(keys):
            if b.time - a.time < 1e-6:
                raise RequestError(f"Two emotion keys at {a.time:g} s; merge them into one key.")
        object.__setattr__(self, "keys", keys)

    @classmethod
    def neutral(cls) -> EmotionTrack:
        return cls((EmotionKey.of(0.0, neutral=1.0),))

    @classmethod
    def constant(cls, **intensities: float) -> EmotionTrack:
        """One key at 0 s: ``EmotionTrack.constant(anger=0.7)``."""
        return cls((EmotionKey.of(0.0, **intensities),))

    @classmethod
    def parse(cls, text: str, interpolation: str = "smooth") -> EmotionTrack:
        """Parse CLI text such as ``happiness:0.8@0,sadness:0.6@3.5``.

        Each item is ``name[:intensity][@seconds][~interpolation]``; intensity defaults to 1,
        time to 0. Items at the same time are merged into one key; emotions a key does not name are 0.
        """
        if not text or not text.strip():
            return cls.neutral()
        merged: dict[float, dict[str, Any]] = {}
        pattern = re.compile(r"^(?P<name>[^:@~]+)(?::(?P<value>[^@~]*))?(?:@(?P<time>[^~]*))?(?:~(?P<interp>.*))?$")
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            match = pattern.match(item)
            if match is None:
                raise RequestError(f"Cannot read emotion key {item!r}; write it as name:intensity@seconds, "
                                   "e.g. happiness:0.8@2.5.")
            index = emotion_index(match["name"])
            value = _parse_number(match["value"], 1.0, f"intensity in {item!r}")
            if not 0.0 <= value <= 1.0:
                raise RequestError(f"Intensity in {item!r} must be between 0 and 1, got {value:g}.")
            time = _parse_number(match["time"], 0.0, f"time in {item!r}")
            if time < 0:
                raise RequestError(f"Time in {item!r} must be >= 0 seconds, got {time:g}.")
            slot = merged.setdefault(round(time, 6), {"gammas": [0.0] * len(EMOTIONS), "named": set(),
                                                      "interp": interpolation})
            if index in slot["named"]:
                raise RequestError(f"{EMOTIONS[index]} is given twice at {time:g} s.")
            slot["named"].add(index)
            slot["gammas"][index] = value
            if match["interp"] is not None:
                slot["interp"] = match["interp"].strip().lower()
        if not merged:
            return cls.neutral()
        return cls(tuple(EmotionKey(t, tuple(s["gammas"]), s["interp"]) for t, s in merged.items()))

    def to_text(self) -> str:
        """Inverse of :meth:`parse` (zero intensities are left out)."""
        items = []
        for key in self.keys:
            named = [(n, g) for n, g in zip(EMOTIONS, key.gammas, strict=True) if g > 0] or [("neutral", 1.0)]
            suffix = "" if key.interpolation == "smooth" else f"~{key.interpolation}"
            items += [f"{n}:{g:g}@{key.time:g}{suffix}" for n, g in named]
        return ",".join(items)

    def sample(self, times: np.ndarray | Sequence[float]) -> np.ndarray:
        """Intensities at ``times`` seconds as a (7, T) float32 array.

        Before the first key the first key holds, after the last the last holds; between keys the
        outgoing key's interpolation applies. An empty track is neutral.
        """
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        keys = self.keys or EmotionTrack.neutral().keys
        values = np.array([k.gammas for k in keys], dtype=np.float64)  # K x 7
        if len(keys) == 1:
            return np.repeat(values.T, t.size, axis=1).astype(np.float32)
        key_t = np.array([k.time for k in keys])
        seg = np.clip(np.searchsorted(key_t, t, side="right") - 1, 0, len(keys) - 2)
        u = np.clip((t - key_t[seg]) / (key_t[seg + 1] - key_t[seg]), 0.0, 1.0)
        mode = np.array([INTERPOLATIONS.index(k.interpolation) for k in keys])[seg]
        u = np.where(mode == 1, u * u * (3.0 - 2.0 * u), u)
        u = np.where((mode == 2) & (u < 1.0), 0.0, u)
        out = values[seg] + (values[seg + 1] - values[seg]) * u[:, None]
        return out.T.astype(np.float32)


def follow_voice(keyed: np.ndarray, prior: np.ndarray, weight: float,
                 mean: np.ndarray | None = None) -> np.ndarray:
    """gamma_t = gamma_u,t + w (gamma_a,t - mean gamma_a), clipped to 0..1 (7 x T float32).

    ``keyed`` is the animator's track sampled where ``prior`` is given. The prior is mean-centred
    so that following the voice only adds the variation the voice has within the clip, never a
    bias away from what the animator keyed; ``mean`` (7,) is the prior's mean over the whole clip
    when ``prior`` holds only some of its instants (a view drawing the visible part). Here, in the
    document's vocabulary, because the engine applies it and the emotion editor draws it: both
    must show the same curve.
    """
    gammas = np.asarray(keyed, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    if weight > 0 and prior.size:
        centre = prior.mean(axis=1) if mean is None else np.asarray(mean, dtype=np.float64)
        gammas = gammas + weight * (prior - centre[:, None])
    return np.clip(gammas, 0.0, 1.0).astype(np.float32)


def _parse_number(text: str | None, default: float, what: str) -> float:
    if text is None or not text.strip():
        return default
    try:
        value = float(text.strip().rstrip("s"))
    except ValueError:
        raise RequestError(f"The {what} is not a number: {text.strip()!r}.") from None
    if not math.isfinite(value):
        raise RequestError(f"The {what} must be finite, got {text.strip()!r}.")
    return value

