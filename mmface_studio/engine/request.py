"""What a caller asks the engine for: audio, text, an emotion track, head-pose settings and locks.

These are plain, immutable values so that the pipeline can key its caches on them (DESIGN 2:
an emotion edit re-runs only the emotion stage because only ``GenerationRequest.emotion``
changed). Edits make a new request with ``dataclasses.replace``.

The emotion vector follows seed 003's order (neutral, happiness, sadness, surprise, fear,
disgust, anger). Per keyframe the animator sets gamma_u (0..1 each); between keyframes it is
interpolated; the engine may add the mean-centred audio prior w * (gamma_a,t - mean(gamma_a)).
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

EMOTIONS: tuple[str, ...] = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
INTERPOLATIONS: tuple[str, ...] = ("linear", "smooth", "step")
POSE_STYLES: tuple[str, ...] = ("calm", "animated", "nodding", "shaking")
ANALYSIS_RATE = 16_000

#: Everyday words for the emotions, so ``happy:0.8`` works on the command line like ``happiness:0.8``.
EMOTION_ALIASES: dict[str, str] = {
    "happy": "happiness", "joy": "happiness", "sad": "sadness", "surprised": "surprise",
    "afraid": "fear", "scared": "fear", "fearful": "fear", "disgusted": "disgust",
    "angry": "anger", "neutrality": "neutral",
}


class RequestError(ValueError):
    """A generation request, emotion key or emotion-track text is invalid (message is user-facing)."""


def _finite(value: Any, what: str) -> float:
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
        t = _finite(self.time, "An emotion key's time")
        if t < 0:
            raise RequestError(f"An emotion key's time must be >= 0 seconds, got {t:g}.")
        gammas = tuple(_finite(g, "An emotion intensity") for g in self.gammas)
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


@dataclass(frozen=True)
class PoseLock:
    """A time range (seconds) whose head pose must survive a re-sample unchanged."""

    start: float
    end: float

    def __post_init__(self) -> None:
        start, end = _finite(self.start, "A pose lock's start"), _finite(self.end, "A pose lock's end")
        if start < 0 or end <= start:
            raise RequestError(f"A pose lock needs 0 <= start < end, got {start:g}..{end:g} s.")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """Everything one generation needs.

    ``audio``: 16 kHz mono float samples (other rates: set ``sample_rate``), a file path, or an
    ``AudioClip`` (anything with an ``analysis`` array). Arrays are treated as immutable: the
    pipeline caches on their content. ``pose_seed``/``pose_style`` drive the head-pose stage,
    ``blink_seed`` the blinks and gaze; ``locks`` keep head pose in time ranges on re-sampling.
    ``emotion_prior_weight`` is w in gamma_t = gamma_u,t + w * (gamma_a,t - mean(gamma_a)).
    """

    audio: Any = None
    sample_rate: int = ANALYSIS_RATE
    transcript: str | None = None
    prompt: str = ""
    emotion: EmotionTrack = field(default_factory=EmotionTrack.neutral)
    pose_seed: int = 0
    pose_style: str = "calm"
    locks: tuple[PoseLock, ...] = ()
    engine: str = "classic"
    fps: float = 30.0
    blink_seed: int = 0
    emotion_prior_weight: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.emotion, str):
            object.__setattr__(self, "emotion", EmotionTrack.parse(self.emotion))
        if not isinstance(self.emotion, EmotionTrack):
            raise RequestError(f"emotion must be an EmotionTrack or its text form, got {type(self.emotion).__name__}.")
        if self.pose_style not in POSE_STYLES:
            close = difflib.get_close_matches(str(self.pose_style), POSE_STYLES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise RequestError(f"Unknown pose style {self.pose_style!r}.{hint} Styles: {', '.join(POSE_STYLES)}.")
        fps = _finite(self.fps, "fps")
        if not 1.0 <= fps <= 240.0:
            raise RequestError(f"fps must be between 1 and 240, got {fps:g}.")
        object.__setattr__(self, "fps", fps)
        w = _finite(self.emotion_prior_weight, "emotion_prior_weight")
        if not 0.0 <= w <= 1.0:
            raise RequestError(f"emotion_prior_weight must be between 0 and 1, got {w:g}.")
        object.__setattr__(self, "emotion_prior_weight", w)
        locks = tuple(lk if isinstance(lk, PoseLock) else PoseLock(*lk) for lk in self.locks)
        object.__setattr__(self, "locks", tuple(sorted(locks, key=lambda lk: (lk.start, lk.end))))
        for name in ("pose_seed", "blink_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise RequestError(f"{name} must be an integer, got {value!r}.")
            object.__setattr__(self, name, int(value))
        plain = isinstance(self.audio, (type(None), str, os.PathLike, np.ndarray))
        if not plain and not hasattr(self.audio, "analysis"):
            raise RequestError("audio must be samples, a file path or an AudioClip, "
                               f"got {type(self.audio).__name__}.")

    def describe_inputs(self) -> dict[str, Any]:
        """The JSON-able part of the request, for a performance's provenance."""
        return {
            "transcript": self.transcript, "prompt": self.prompt, "emotion": self.emotion.to_text(),
            "pose_seed": self.pose_seed, "pose_style": self.pose_style, "blink_seed": self.blink_seed,
            "locks": [[lk.start, lk.end] for lk in self.locks], "fps": self.fps,
            "emotion_prior_weight": self.emotion_prior_weight,
        }


# ---------------------------------------------------------------------------------------------
# The analysed input: what every engine stage after "analysis" reads.

SILENCE = "SIL"
#: pocketsphinx fillers and silences; to the face they are all "mouth at rest".
_SILENCE_LABELS = frozenset({"SIL", "SP", "SPN", "NSN", "<SIL>", "<S>", "</S>", "NOISE", ""})
VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})
_VOICED_CONSONANTS = frozenset({"B", "D", "G", "V", "DH", "Z", "ZH", "JH", "M", "N", "NG", "L", "R", "W", "Y"})


def normalise_phone(label: str) -> str:
    """ARPAbet without stress, upper case; silences and fillers (``+NSN+``, ``<s>``...) become ``SIL``."""
    text = str(label).strip().upper().rstrip("012")
    if text in _SILENCE_LABELS or (text.startswith("+") and text.endswith("+")):
        return SILENCE
    return text


@dataclass(frozen=True)
class PhoneSpan:
    """One phone: ARPAbet label (no stress digit) and its time span in seconds."""

    label: str
    start: float
    end: float

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)


@dataclass(eq=False)
class Analysis:
    """Phones + prosody of one clip: the only audio-derived input the later stages see.

    Engines take this plain form (not the audio layer's types) so that they can run on synthetic
    tracks, on the audio layer's ``PhoneticTrack`` + ``AudioFeatures`` (:meth:`from_track`), or on
    a forced alignment from elsewhere. ``energy_db`` and ``f0_hz`` are at ``feature_rate`` with
    frame i centred on (i + 0.5) / feature_rate; ``f0_hz`` is 0 where unvoiced. ``key`` is a
    content digest that keys the downstream caches.
    """

    phones: tuple[PhoneSpan, ...] = field(repr=False)
    energy_db: np.ndarray = field(repr=False)
    f0_hz: np.ndarray = field(repr=False)
    duration: float | None = None
    feature_rate: float = 100.0
    mode: str = ""
    words: tuple[tuple[str, float, float], ...] = ()
    fallback_reason: str | None = None  # why alignment fell back to recognition, for the user
    key: str = field(init=False)

    def __post_init__(self) -> None:
        energy = np.nan_to_num(np.asarray(self.energy_db, dtype=np.float32).reshape(-1), nan=-100.0,
                               posinf=0.0, neginf=-100.0)
        f0 = np.nan_to_num(np.asarray(self.f0_hz, dtype=np.float32).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
        if f0.size != energy.size:
            f0 = np.resize(np.concatenate([f0, np.zeros(max(energy.size - f0.size, 0), np.float32)]), energy.size)
        rate = _finite(self.feature_rate, "feature_rate")
        spans = sorted((PhoneSpan(normalise_phone(p.label), float(p.start), float(p.end)) for p in self.phones),
                       key=lambda p: p.start)
        end_of_phones = max((p.end for p in spans), default=0.0)
        duration = self.duration if self.duration is not None else max(end_of_phones, energy.size / rate)
        duration = _finite(duration, "duration")
        if duration <= 0:
            raise RequestError("An analysis needs a positive duration (no phones and no features?).")
        cleaned: list[PhoneSpan] = []
        for i, p in enumerate(spans):
            end = min(p.end, spans[i + 1].start) if i + 1 < len(spans) else p.end
            start, end = max(p.start, 0.0), min(end, duration)
            if end > start:
                cleaned.append(PhoneSpan(p.label, start, end))
        for arr in (energy, f0):
            arr.flags.writeable = False
        self.phones, self.energy_db, self.f0_hz = tuple(cleaned), energy, f0
        self.duration, self.feature_rate = duration, rate
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((duration, rate, [(p.label, round(p.start, 6), round(p.end, 6)) for p in cleaned])).encode())
        digest.update(energy.tobytes())
        digest.update(f0.tobytes())
        self.key = digest.hexdigest()

    @classmethod
    def from_track(cls, track: Any, features: Any, duration: float | None = None) -> Analysis:
        """Adapter from the audio layer: a ``PhoneticTrack`` (``.phones`` with label/start/end, ``.words``,
        ``.mode``) and ``AudioFeatures`` (``.energy_db``, ``.f0_hz``, ``.fps``)."""
        words = tuple((str(w.text), float(w.start), float(w.end)) for w in getattr(track, "words", ()) or ())
        f0 = getattr(features, "f0_hz", None)
        if f0 is None:
            f0 = features.f0
        if duration is None:
            duration = getattr(track, "duration", None)
        return cls(tuple(track.phones), features.energy_db, f0, duration,
                   float(getattr(features, "fps", 100.0)), str(getattr(track, "mode", "")), words,
                   getattr(track, "fallback_reason", None))

    def frame_count(self, fps: float) -> int:
        """Frames of a performance at ``fps``: frame f shows time f / fps, the last one before the end."""
        return max(1, int(math.ceil(self.duration * fps - 1e-6)))


def synthetic_analysis(duration: float = 60.0, seed: int = 0, *, loudness_db: float = -20.0) -> Analysis:
    """A plausible phone track with matching energy and f0, with no audio involved.

    For tests, benchmarks and examples: phrases of CV/CVC syllables at about 11 phones/s with
    0.2-0.7 s pauses between them, louder stressed vowels and a declining f0. Deterministic per seed.
    """
    rng = np.random.default_rng(seed)
    onsets = ["P", "B", "M", "F", "V", "T", "D", "N", "S", "Z", "K", "G", "L", "R", "W", "Y", "HH", "SH", "CH",
              "TH", "DH", "JH"]
    codas = ["P", "M", "T", "N", "S", "K", "L", "R", "F", "V", "NG", "Z", "D"]
    vowels = sorted(VOWELS)
    phones: list[PhoneSpan] = []
    levels: list[float] = []
    t = 0.3
    phones.append(PhoneSpan(SILENCE, 0.0, t))
    levels.append(-70.0)
    while t < duration - 0.6:
        phrase_end = min(t + rng.uniform(1.5, 4.5), duration - 0.3)
        while t < phrase_end:
            syllable = [rng.choice(onsets)] * int(rng.random() < 0.85) + [rng.choice(vowels)]
            syllable += [rng.choice(codas)] * int(rng.random() < 0.4)
            stressed = rng.random() < 0.35
            for label in syllable:
                vowel = label in VOWELS
                length = rng.uniform(0.08, 0.2) * (1.25 if stressed else 1.0) if vowel else rng.uniform(0.05, 0.1)
                level = loudness_db + (rng.normal(0, 2.0) + 5.0 * stressed if vowel else -10.0 - rng.uniform(0, 8))
                phones.append(PhoneSpan(str(label), t, t + length))
                levels.append(level)
                t += length
        pause = rng.uniform(0.2, 0.7)
        phones.append(PhoneSpan(SILENCE, t, min(t + pause, duration)))
        levels.append(-70.0)
        t += pause
    if t < duration:
        phones.append(PhoneSpan(SILENCE, t, duration))
        levels.append(-70.0)
    n = int(math.ceil(duration * 100))
    centres = (np.arange(n) + 0.5) / 100.0
    starts = np.array([p.start for p in phones])
    idx = np.clip(np.searchsorted(starts, centres, side="right") - 1, 0, len(phones) - 1)
    energy = np.convolve(np.array(levels)[idx], np.ones(3) / 3.0, mode="same") + rng.normal(0, 0.5, n)
    voiced = np.array([p.label in VOWELS or p.label in _VOICED_CONSONANTS for p in phones])[idx]
    f0 = np.where(voiced, 150.0 * 2.0 ** (-0.25 * centres / max(duration, 1e-3) + 0.1 * np.sin(centres * 2.1)), 0.0)
    return Analysis(tuple(phones), energy.astype(np.float32), f0.astype(np.float32), duration, 100.0, "synthetic")
