"""The phonetic track's data model: phones and words with times, and how they were obtained.

Kept apart from the decoding (``phonetic.py``) so that project files, caches, the TextGrid
reader/writer and the lip-sync engine can use tracks without loading pocketsphinx.

Invariants (`PhoneticTrack.validate`): phones are contiguous from 0 to the clip's duration,
sorted, each longer than zero, labelled in ARPAbet without stress digits or "SIL" for silence
and noise; `tidy_phones` is the one place that establishes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_FRAME_S = 0.01  # pocketsphinx's frame step, for tidy_phones' end snapping
SCHEMA = "mmface.phonetic_track/1"
MODES = ("alignment", "recognition")
SILENCE = "SIL"
#: The 39 ARPAbet phones of the CMU dictionary, plus silence.
PHONE_SET = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH SIL".split()
)
_EPS = 1e-9
#: Names pocketsphinx gives silence and noise units/words: <s>, <sil>, [NOISE], +NSN+, +SPN+ ...
_NON_SPEECH_PREFIXES = ("<", "[", "+")


@dataclass(frozen=True)
class Phone:
    """One phone: ARPAbet label without stress digits, or "SIL"; ``word`` indexes the track's words."""

    label: str
    start: float
    end: float
    word: int | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Word:
    """One word as the dictionary spells it (lower case), with its time span."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class PhoneticTrack:
    """Phones and words of one clip, how they were obtained, and anything the user should know.

    ``mode`` is "alignment" or "recognition"; ``fallback_reason`` is a user-facing sentence when
    a transcript was given but could not be used. ``notes`` report guesses, e.g. pronunciations
    of words the dictionary lacks. ``duration`` is the source audio's length in seconds.
    """

    phones: tuple[Phone, ...]
    words: tuple[Word, ...]
    mode: str
    duration: float
    fallback_reason: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "phones", tuple(self.phones))
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")

    def validate(self) -> None:
        """Raise ValueError unless phones are contiguous from 0 to ``duration``, sorted, non-empty."""
        if self.duration < 0:
            raise ValueError("negative duration")
        if not self.phones:
            if self.duration > _EPS:
                raise ValueError("a track with a duration needs phones covering it")
            return
        if abs(self.phones[0].start) > _EPS or abs(self.phones[-1].end - self.duration) > _EPS:
            raise ValueError("phones must cover the whole clip")
        for i, p in enumerate(self.phones):
            if p.end - p.start <= 0:
                raise ValueError(f"phone {i} ({p.label}) has no duration")
            if i and abs(p.start - self.phones[i - 1].end) > _EPS:
                raise ValueError(f"phone {i} ({p.label}) does not start where the previous one ends")
            if p.label not in PHONE_SET:
                raise ValueError(f"phone {i} has unknown label {p.label!r}")
            if p.word is not None and not 0 <= p.word < len(self.words):
                raise ValueError(f"phone {i} points to word {p.word}, which does not exist")

    def labels_at(self, times: Sequence[float] | np.ndarray) -> list[str]:
        """The phone label at each time (seconds); times outside the clip read as silence."""
        t = np.asarray(times, dtype=np.float64)
        if not self.phones:
            return [SILENCE] * t.size
        starts = np.array([p.start for p in self.phones])
        index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(self.phones) - 1)
        inside = (t >= 0) & (t < self.duration)
        return [self.phones[i].label if ok else SILENCE for i, ok in zip(index.ravel(), inside.ravel(), strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see `from_dict`), used by project files and caches."""
        return {
            "schema": SCHEMA,
            "mode": self.mode,
            "duration": self.duration,
            "fallback_reason": self.fallback_reason,
            "notes": list(self.notes),
            "words": [{"text": w.text, "start": w.start, "end": w.end} for w in self.words],
            "phones": [{"label": p.label, "start": p.start, "end": p.end, "word": p.word} for p in self.phones],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhoneticTrack:
        """Inverse of `to_dict`; raises ValueError for another schema or an inconsistent track."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a phonetic track ({SCHEMA}): schema is {data.get('schema')!r}")
        try:
            track = cls(
                phones=tuple(
                    Phone(
                        str(p["label"]),
                        float(p["start"]),
                        float(p["end"]),
                        None if p.get("word") is None else int(p["word"]),
                    )
                    for p in data["phones"]
                ),
                words=tuple(Word(str(w["text"]), float(w["start"]), float(w["end"])) for w in data["words"]),
                mode=str(data["mode"]),
                duration=float(data["duration"]),
                fallback_reason=data.get("fallback_reason"),
                notes=tuple(str(n) for n in data.get("notes", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed phonetic track: {exc!r}") from exc
        track.validate()
        return track


def normalise_phone_label(raw_label: str) -> str:
    """ARPAbet label without stress digits; silence and every noise unit become "SIL"."""
    if raw_label.startswith(_NON_SPEECH_PREFIXES) or raw_label.upper() == SILENCE:
        return SILENCE
    label = re.sub(r"\d", "", raw_label.upper())
    return label if label in PHONE_SET else SILENCE


def tidy_phones(phones: list[Phone], duration: float) -> tuple[Phone, ...]:
    """Make phones sorted, contiguous from 0 to ``duration`` and positive, merging silences.

    pocketsphinx frames are 10 ms, so the last frame rarely ends exactly at the clip's end, and
    some segmentations leave gaps or one-frame overlaps; this is the single place that fixes all
    of that, so every producer of phones yields the same invariants.
    """
    if duration <= _EPS:
        return ()
    out: list[Phone] = []

    def push(p: Phone) -> None:
        if out and out[-1].label == SILENCE and p.label == SILENCE:
            out[-1] = Phone(SILENCE, out[-1].start, p.end)
        else:
            out.append(p)

    cursor = 0.0
    for p in sorted(phones, key=lambda q: (q.start, q.end)):
        start, end = max(p.start, cursor), min(p.end, duration)
        if end - start <= _EPS:
            continue
        if start - cursor > _EPS:
            push(Phone(SILENCE, cursor, start))
        push(Phone(p.label, start, end, p.word))
        cursor = end
    if duration - cursor > _EPS:
        if out and duration - cursor < 1.5 * _FRAME_S:
            last = out[-1]
            out[-1] = Phone(last.label, last.start, duration, last.word)
        else:
            push(Phone(SILENCE, cursor, duration))
    last = out[-1]
    out[-1] = Phone(last.label, last.start, duration, last.word)  # exact end, no float drift
    return tuple(out)
