"""The phonetic track: which phone is spoken when, from speech audio and (optionally) its transcript.

The classic lip-sync engine turns phones into visemes, so what matters most here is *timing* and
the mouth-relevant identity of phones (lip closures, rounding, open vowels), not word accuracy.

Two ways to get it, both with pocketsphinx's packaged US-English model:

- **alignment** (a transcript is given): the transcript's words are force-aligned to the audio,
  then a second pass aligns their phones. Best timing and the right phones.
- **recognition** (no transcript): large-vocabulary word recognition, then the same phone-level
  alignment of the recognised words. Chosen over pocketsphinx's phone loop ("allphone" mode,
  still available as ``method="allphone"``: about 4x faster, for uses where speed beats accuracy)
  by measurement (bench/phonetic.py): against espeak-ng's own phoneme timing it labels 60% of
  speech frames with the right phone (allphone 46%) and 71% with the right mouth class (58%);
  on the real dev recordings it agrees with the forced alignment on 91% of frames (allphone 59%).
  Word errors mostly swap similar-sounding words, whose phones still move the mouth plausibly.

Both modes check pocketsphinx's pause boundaries against the signal's energy (`phonetic_refine`):
a pause it glued onto a neighbouring vowel becomes silence again, and a nasal murmur it labelled
silence goes back to the nasal.

`analyse_speech` is the entry point for the product: it aligns when it can, and when the
transcript does not fit the audio (see `phonetic_check`) it falls back to recognition and says
why in ``fallback_reason``.

Input is always 16 kHz mono float32 (``mmface_studio.audio.clip`` produces it). Output times are
seconds; phones are contiguous from 0 to the clip's duration, sorted, each longer than zero, in
ARPAbet without stress digits, with silence and noise as ``"SIL"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from mmface_studio.audio.errors import AudioDataError, AudioError, NonFiniteSamplesError
from mmface_studio.audio.phonetic_check import (
    AlignmentVerdict,
    is_filler,
    judge_alignment,
    needs_recognition_baseline,
)
from mmface_studio.audio.phonetic_decoder import (
    FRAME_RATE,
    SAMPLE_RATE,
    DecoderUnavailable,
    RawAlignment,
    align_words,
    lookup,
    recognise_allphone,
    recognise_words,
    shared_decoder,
    to_pcm16,
)
from mmface_studio.audio.phonetic_refine import refine_phones
from mmface_studio.audio.phonetic_text import normalise_transcript, pronounce
from mmface_studio.audio.phonetic_track import (
    MODES,
    PHONE_SET,
    SCHEMA,
    SILENCE,
    Phone,
    PhoneticTrack,
    Word,
    normalise_phone_label,
    tidy_phones,
)

__all__ = [
    "MODES",
    "PHONE_SET",
    "RECOGNITION_METHODS",
    "SCHEMA",
    "SILENCE",
    "AlignmentError",
    "AlignmentVerdict",
    "Phone",
    "PhoneticError",
    "PhoneticTrack",
    "Word",
    "align_transcript",
    "analyse_speech",
    "check_alignment",
    "normalise_phone_label",
    "recognize_phones",
    "tidy_phones",
    "warm_up",
]

RECOGNITION_METHODS = ("words", "allphone")


class PhoneticError(AudioError):
    """The phonetic track could not be made (pocketsphinx missing, transcript impossible to align)."""


class AlignmentError(PhoneticError):
    """The transcript cannot be aligned to the audio; the message says why, for the user."""


# --------------------------------------------------------------------------------------------
# public entry points


def recognize_phones(audio16k: np.ndarray, *, method: str = "words") -> PhoneticTrack:
    """Phones of speech without a transcript (mode "recognition").

    ``method="words"`` (default): word recognition plus phone alignment of the recognised words,
    which also fills ``words``. ``method="allphone"``: pocketsphinx's phone loop, faster, rougher,
    no words.
    """
    if method not in RECOGNITION_METHODS:
        raise ValueError(f"method must be one of {RECOGNITION_METHODS}, not {method!r}")
    audio = _checked_audio(audio16k)
    duration = len(audio) / SAMPLE_RATE
    if len(audio) == 0:
        return PhoneticTrack((), (), "recognition", 0.0)
    pcm = to_pcm16(audio)
    with _decoder_errors():
        if method == "allphone":
            segments = recognise_allphone(pcm)
            phones = [Phone(normalise_phone_label(lab), s / FRAME_RATE, (s + n) / FRAME_RATE) for lab, s, n in segments]
            return PhoneticTrack(_checked_phones(phones, audio), (), "recognition", duration)
        raw = recognise_words(pcm)
    return _recognition_track(raw, audio)


def align_transcript(audio16k: np.ndarray, transcript: str) -> PhoneticTrack:
    """Force-align ``transcript`` to the audio (mode "alignment").

    Raises `AlignmentError` when the transcript has no speakable words or pocketsphinx finds no
    alignment at all. It does not judge whether an alignment it found is believable; that is
    `analyse_speech`'s job.
    """
    return _align(_checked_audio(audio16k), transcript)[0]


def analyse_speech(audio16k: np.ndarray, transcript: str | None = None) -> PhoneticTrack:
    """The phonetic track the product uses: alignment when a fitting transcript is given, else
    recognition, with ``fallback_reason`` saying why a given transcript was not used."""
    audio = _checked_audio(audio16k)
    if transcript is None or not transcript.strip():
        return recognize_phones(audio)
    try:
        track, raw = _align(audio, transcript)
    except AlignmentError as exc:
        return _fallback(audio, str(exc))
    verdict = judge_alignment(audio, raw)
    recognition: RawAlignment | None = None
    if verdict.ok and needs_recognition_baseline(raw):
        with _decoder_errors():
            recognition = recognise_words(to_pcm16(audio))
        if recognition is not None:
            verdict = judge_alignment(audio, raw, recognition)
    if verdict.ok:
        return track
    return _fallback(audio, verdict.reason or "The transcript does not fit the audio.", recognition)


def warm_up(*, recognition: bool = True) -> None:
    """Build the pocketsphinx decoders now (about 0.1 s, plus 0.3-0.5 s for recognition's language
    model), e.g. from a worker thread at start-up, so that the first analysis is not slower."""
    kinds = ("align", "words") if recognition else ("align",)
    with _decoder_errors():
        for kind in kinds:
            with shared_decoder(kind):
                pass


def check_alignment(audio16k: np.ndarray, transcript: str) -> AlignmentVerdict | None:
    """The plausibility verdict `analyse_speech` would reach (None when alignment fails outright).

    Always compares with recognition, for diagnostics and benchmarks.
    """
    audio = _checked_audio(audio16k)
    try:
        _, raw = _align(audio, transcript)
    except AlignmentError:
        return None
    with _decoder_errors():
        recognition = recognise_words(to_pcm16(audio))
    return judge_alignment(audio, raw, recognition)


# --------------------------------------------------------------------------------------------
# internals


def _checked_audio(audio16k: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio16k)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise AudioDataError(f"The phonetic track needs mono audio (one dimension), not shape {audio.shape}.")
    if not np.issubdtype(audio.dtype, np.floating):
        raise AudioDataError(f"The phonetic track needs float audio in -1..1, not {audio.dtype}.")
    audio = audio.astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        raise NonFiniteSamplesError("The audio holds NaN or infinite samples; the phonetic track cannot use it.")
    return audio


@contextmanager
def _decoder_errors() -> Iterator[None]:
    """Turn a missing/broken pocketsphinx into the audio layer's user-facing error type."""
    try:
        yield
    except DecoderUnavailable as exc:
        raise PhoneticError(f"Speech analysis is unavailable: {exc}") from exc


@dataclass(frozen=True)
class _Prepared:
    words: list[str]
    extra_pronunciations: dict[str, str]
    notes: list[str]


def _prepare(transcript: str) -> _Prepared:
    """Normalise the transcript and find pronunciations for words the dictionary lacks."""
    with _decoder_errors():
        words = normalise_transcript(transcript, lookup)
        extra: dict[str, str] = {}
        notes: list[str] = []
        for word in dict.fromkeys(words):
            if lookup(word) is not None:
                continue
            pron = pronounce(word, lookup)
            extra[word] = pron.phones
            how = {
                "possessive": "from the dictionary form without its ending",
                "compound": "by joining two dictionary words",
                "letter-to-sound": "by letter-to-sound rules, so check its mouth shapes",
            }[pron.source]
            notes.append(f'"{word}" is not in the pronunciation dictionary; pronounced {pron.phones} {how}.')
    return _Prepared(words, extra, notes)


def _align(audio: np.ndarray, transcript: str) -> tuple[PhoneticTrack, RawAlignment]:
    prepared = _prepare(transcript)
    if not prepared.words:
        raise AlignmentError("The transcript has no words that can be spoken, so there is nothing to align.")
    duration = len(audio) / SAMPLE_RATE
    if len(audio) < SAMPLE_RATE // 10:
        raise AlignmentError(f"The audio is too short ({duration:.2f} s) to align a transcript to.")
    with _decoder_errors():
        raw = align_words(prepared.words, to_pcm16(audio), prepared.extra_pronunciations)
    aligned = [w for w in raw.words if not is_filler(w.name)] if raw is not None else []
    if raw is None or len(aligned) != len(prepared.words):
        raise AlignmentError(
            f"The transcript ({len(prepared.words)} words) could not be aligned to the audio: no way of "
            "saying it fits the recording, so it is probably longer than what is said or for another clip."
        )
    words = [
        Word(text, w.start / FRAME_RATE, (w.start + w.frames) / FRAME_RATE)
        for text, w in zip(prepared.words, aligned, strict=True)
    ]
    phones = _checked_phones(_raw_phones(raw), audio)
    track = PhoneticTrack(
        phones,
        _clip_words(_words_over_phones(words, phones), duration),
        "alignment",
        duration,
        notes=tuple(prepared.notes),
    )
    return track, raw


def _fallback(audio: np.ndarray, reason: str, recognition: RawAlignment | None = None) -> PhoneticTrack:
    """Recognition track carrying ``reason`` (reuses a recognition already run for the check)."""
    duration = len(audio) / SAMPLE_RATE
    if recognition is None and len(audio):
        with _decoder_errors():
            recognition = recognise_words(to_pcm16(audio))
    track = _recognition_track(recognition, audio)
    return PhoneticTrack(
        track.phones, track.words, "recognition", duration, fallback_reason=f"{reason} Used speech recognition instead."
    )


def _recognition_track(raw: RawAlignment | None, audio: np.ndarray) -> PhoneticTrack:
    duration = len(audio) / SAMPLE_RATE
    if raw is None:  # nothing recognised: silence or noise only
        return PhoneticTrack(tidy_phones([], duration), (), "recognition", duration)
    words = [
        Word(_word_text(w.name), w.start / FRAME_RATE, (w.start + w.frames) / FRAME_RATE)
        for w in raw.words
        if not is_filler(w.name)
    ]
    phones = _checked_phones(_raw_phones(raw), audio)
    return PhoneticTrack(phones, _clip_words(_words_over_phones(words, phones), duration), "recognition", duration)


def _checked_phones(phones: list[Phone], audio: np.ndarray) -> tuple[Phone, ...]:
    """Tidy phones, with pause boundaries checked against the signal's energy (`phonetic_refine`)."""
    duration = len(audio) / SAMPLE_RATE
    return tidy_phones(refine_phones(tidy_phones(phones, duration), audio), duration)


def _words_over_phones(words: list[Word], phones: tuple[Phone, ...]) -> list[Word]:
    """Word spans from their phones (which the energy check may have moved)."""
    spans: dict[int, tuple[float, float]] = {}
    for p in phones:
        if p.word is not None:
            a, b = spans.get(p.word, (p.start, p.end))
            spans[p.word] = (min(a, p.start), max(b, p.end))
    return [Word(w.text, *spans.get(i, (w.start, w.end))) for i, w in enumerate(words)]


def _word_text(name: str) -> str:
    """Dictionary word without pocketsphinx's variant mark: "began(2)" -> "began"."""
    return re.sub(r"\(\d+\)$", "", name)


def _raw_phones(raw: RawAlignment) -> list[Phone]:
    phones: list[Phone] = []
    word_index = 0
    for word in raw.words:
        filler = is_filler(word.name)
        for p in word.phones:
            phones.append(
                Phone(
                    SILENCE if filler else normalise_phone_label(p.label),
                    p.start / FRAME_RATE,
                    (p.start + p.frames) / FRAME_RATE,
                    None if filler else word_index,
                )
            )
        if not filler:
            word_index += 1
    return phones


def _clip_words(words: list[Word], duration: float) -> tuple[Word, ...]:
    return tuple(Word(w.text, min(w.start, duration), min(w.end, duration)) for w in words)
