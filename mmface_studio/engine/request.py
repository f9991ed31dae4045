"""What a caller asks the engine for: audio, text, an emotion track, head-pose settings and locks.

These are plain, immutable values so that the pipeline can key its caches on them (DESIGN 2:
an emotion edit re-runs only the emotion stage because only ``GenerationRequest.emotion``
changed). Edits make a new request with ``dataclasses.replace``.

The emotion vector follows seed 003's order (neutral, happiness, sadness, surprise, fear,
disgust, anger). Per keyframe the animator sets gamma_u (0..1 each); between keyframes it is
interpolated; the engine may add the mean-centred audio prior w * (gamma_a,t - mean(gamma_a)).
``EmotionKey``/``EmotionTrack`` are document data and live in ``core.emotion_track``.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The emotion types are document data: they live in core and are re-exported here unchanged.
from mmface_studio.core.emotion_track import (  # noqa: F401
    EMOTION_ALIASES,
    EMOTIONS,
    INTERPOLATIONS,
    EmotionKey,
    EmotionTrack,
    RequestError,
    emotion_index,
)
from mmface_studio.core.emotion_track import finite_number as _finite

POSE_STYLES: tuple[str, ...] = ("calm", "animated", "nodding", "shaking")
ANALYSIS_RATE = 16_000


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
    #: frames x 80 log-mel at ``feature_rate`` when the analysis came from audio: what neural engines read.
    mel: np.ndarray | None = field(default=None, repr=False)
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
        if self.mel is not None:
            mel = np.ascontiguousarray(self.mel, dtype=np.float32)
            if mel.ndim != 2:
                raise RequestError(f"An analysis's mel features must be frames x bands, got shape {mel.shape}.")
            mel.flags.writeable = False
            self.mel = mel
            digest.update(mel.tobytes())
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
                   getattr(track, "fallback_reason", None), getattr(features, "mel", None))

    @classmethod
    def from_features(cls, features: Any, duration: float | None = None, *, min_pause: float = 0.15) -> Analysis:
        """Features only, no phone recognition: speech/silence spans from the energy (mode ``"vad"``).

        Neural engines read the mel features and never the phones, so they skip pocketsphinx (by
        far the slowest stage); blinks and head motion still need to know when someone speaks,
        which the spans (labelled ``AH`` for speech, ``SIL`` for pauses) give them.
        """
        rate = float(getattr(features, "fps", 100.0))
        energy = np.asarray(features.energy_db, dtype=np.float64)
        loud = np.percentile(energy, 95) if energy.size else 0.0
        speech = energy > max(loud - 30.0, -60.0)
        hold = max(1, int(round(min_pause * rate)))
        if speech.any():  # close pauses shorter than min_pause: they are stops inside words
            pad = np.concatenate([[False], speech, [False]])
            edges = np.flatnonzero(np.diff(pad.astype(np.int8)))
            for gap_start, gap_end in zip(edges[1:-1:2], edges[2::2], strict=False):
                if gap_end - gap_start < hold:
                    speech[gap_start:gap_end] = True
        n = energy.size
        total = duration if duration is not None else n / rate
        spans: list[PhoneSpan] = []
        i = 0
        while i < n:
            j = i
            while j < n and speech[j] == speech[i]:
                j += 1
            spans.append(PhoneSpan("AH" if speech[i] else SILENCE, i / rate, min(j / rate, total)))
            i = j
        return cls(tuple(spans), features.energy_db, features.f0_hz, total, rate, "vad", (), None,
                   getattr(features, "mel", None))

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
