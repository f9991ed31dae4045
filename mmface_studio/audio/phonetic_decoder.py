"""pocketsphinx passes behind the phonetic track: forced alignment, word recognition, phone loop.

Why a module of its own: pocketsphinx decoders are slow to build (the 27 MB language model takes
about 0.3 s to load) and are not thread-safe, so they are built once per configuration, kept in a
module-level cache and used under a per-decoder lock. Everything here speaks in 10 ms frames and
raw pocketsphinx labels; `phonetic.py` turns that into the product's `PhoneticTrack`.

Decoding is deterministic for a given input: no pocketsphinx dither, our own noise floor drawn
from a fixed seed (`to_pcm16`), and the feature front end re-initialised at the start of every
call (`_reset_features`). The last matters: even with ``cmn=batch`` and ``full_utt=True``,
pocketsphinx 5 starts each utterance's cepstral mean from where the previous one left it, so a
shared decoder gave different alignments of the same audio depending on what it had decoded
before (word ends moved by 10-20 ms; the test suite failed or passed depending on test order).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16000
FRAME_RATE = 100  # pocketsphinx's default: 10 ms frames

#: Decoder settings per pass, chosen on the dev recordings (see ``bench/phonetic.py``):
#: - "align": bestpath off, because the lattice best-path pass drops the optional silences that
#:   the alignment grammar inserts between words, and a pause then gets glued onto the previous
#:   word (its last phone held for hundreds of ms); wide beams, because alignment is cheap and a
#:   pruned-away path makes a nearly-right transcript fail outright.
#: - "words": no flat-lexicon second pass and at most 3000 active HMMs: about half the time of
#:   the defaults for 98% of their phone accuracy.
#: - "allphone": CMU's recommended phone-decoding settings (language weight 2, narrow beams).
#: "compallsen" makes every frame score every acoustic unit, so that per-frame scores are distances
#: to the best unit and comparable between an alignment and a recognition (phonetic_check).
_PASS_OPTIONS: dict[str, dict[str, object]] = {
    "align": {
        "lm": None,
        "bestpath": False,
        "silprob": 0.05,
        "compallsen": True,
        "beam": 1e-80,
        "pbeam": 1e-80,
        "wbeam": 1e-60,
    },
    "words": {"maxhmmpf": 3000, "fwdflat": False, "compallsen": True},
    "allphone": {"lm": None, "lw": 2.0, "beam": 1e-20, "pbeam": 1e-20},
}


class DecoderUnavailable(RuntimeError):
    """pocketsphinx is missing or its packaged model cannot be loaded."""


@dataclass
class _Slot:
    decoder: object
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: dict[str, _Slot] = {}
_CACHE_LOCK = threading.Lock()


def _build(kind: str) -> object:
    """A new decoder for ``kind``, with the packaged US-English model and quiet logging."""
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise DecoderUnavailable("pocketsphinx is not installed (pip install pocketsphinx)") from exc
    pocketsphinx.set_loglevel("FATAL")
    options = dict(_PASS_OPTIONS[kind], loglevel="FATAL")  # failures are reported through return values
    if kind == "allphone":
        options["allphone"] = pocketsphinx.get_model_path("en-us/en-us-phone.lm.bin")
    try:
        return pocketsphinx.Decoder(**options)
    except (RuntimeError, ValueError) as exc:  # pragma: no cover - broken installation
        raise DecoderUnavailable(f"pocketsphinx could not load its model: {exc}") from exc


@contextmanager
def shared_decoder(kind: str) -> Iterator:
    """The cached decoder for ``kind`` ("align", "words", "allphone"), held exclusively."""
    with _CACHE_LOCK:
        slot = _CACHE.get(kind)
        if slot is None:
            slot = _CACHE[kind] = _Slot(_build(kind))
    with slot.lock:
        yield slot.decoder


#: Level of the noise floor added before decoding, in dB below the clip's loud frames.
NOISE_FLOOR_DB = 50.0


def to_pcm16(audio16k: np.ndarray) -> bytes:
    """16 kHz float audio (-1..1) as the little-endian int16 bytes pocketsphinx reads.

    Adds a faint noise floor, 50 dB below the clip's loud frames (at least one LSB), from a fixed
    seed so that results stay reproducible. Digital silence (TTS output, padded or gated
    recordings) otherwise hurts twice: exact zeros make forced alignment fail to reach the end
    of the utterance, and near-zero frames skew the utterance-level normalisation. On espeak-ng
    sentences padded with zeros this floor raised recognition's phone agreement with espeak's
    own phonemes from 38% to 60% (bench/phonetic.py); on the real dev recordings alignments moved
    by 5 ms on average.
    """
    samples = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    hop = SAMPLE_RATE // FRAME_RATE
    n = len(samples) // hop
    if n:
        rms = np.sqrt(np.mean(np.square(samples[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))
        level = float(np.percentile(rms, 95))
    else:
        level = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    sigma = max(level * 10.0 ** (-NOISE_FLOOR_DB / 20.0), 1.0 / 32768.0)
    noisy = samples.astype(np.float64) + np.random.default_rng(0x5EED).normal(0.0, sigma, samples.shape)
    return np.clip(np.round(noisy * 32767.0), -32768, 32767).astype("<i2").tobytes()


def _reset_features(decoder) -> None:
    """Back to the configured initial feature state (cepstral mean, noise estimate): ~0.1 ms.

    Called once per call, before its first pass; the second (phone) pass then starts from the
    state the first pass reached on the same audio, so it depends on this audio only.
    """
    decoder.reinit_feat()


def _decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


@dataclass(frozen=True)
class RawPhone:
    """One phone of a pocketsphinx alignment, in frames; ``score`` is the acoustic log-likelihood."""

    label: str
    start: int
    frames: int
    score: int


@dataclass(frozen=True)
class RawWord:
    """One word (or filler such as ``<sil>``) with its phones; ``name`` keeps "(2)" variant marks."""

    name: str
    start: int
    frames: int
    score: int
    phones: tuple[RawPhone, ...]


@dataclass(frozen=True)
class RawAlignment:
    words: tuple[RawWord, ...]
    n_frames: int

    @property
    def score_per_frame(self) -> float:
        """Mean acoustic log-likelihood per frame (pocketsphinx's scaled log units)."""
        return sum(w.score for w in self.words) / max(1, self.n_frames)


def _phone_pass(decoder, pcm: bytes) -> RawAlignment | None:
    """Second pass: phone-level Viterbi alignment of the decoder's current hypothesis."""
    try:
        decoder.set_alignment()
    except RuntimeError:
        return None
    _decode(decoder, pcm)
    alignment = decoder.get_alignment()
    if alignment is None:
        return None
    words = tuple(
        RawWord(
            w.name,
            w.start,
            w.duration,
            w.score,
            tuple(RawPhone(p.name, p.start, p.duration, p.score) for p in w),
        )
        for w in alignment
    )
    return RawAlignment(words, decoder.n_frames())


#: Words this process added to the alignment dictionary. `lookup` hides them, so that every call
#: reports the same words as missing from the dictionary (and the same guesses), whatever ran before.
_ADDED_WORDS: dict[str, str] = {}


def ensure_words(decoder, pronunciations: dict[str, str]) -> None:
    """Add words the dictionary lacks; they stay for later calls (same spelling, same guess)."""
    for word, phones in pronunciations.items():
        if _ADDED_WORDS.get(word) == phones:
            continue
        if word not in _ADDED_WORDS and decoder.lookup_word(word) is not None:
            continue
        decoder.add_word(word, phones, True)
        _ADDED_WORDS[word] = phones


def align_words(words: list[str], pcm: bytes, pronunciations: dict[str, str]) -> RawAlignment | None:
    """Force-align ``words`` (all known to the dictionary or given in ``pronunciations``).

    Returns None when no path through the word sequence reaches the end of the audio, which is
    what pocketsphinx does for a transcript much longer than the speech.
    """
    with shared_decoder("align") as decoder:
        ensure_words(decoder, pronunciations)
        decoder.set_align_text(" ".join(words))
        _reset_features(decoder)
        _decode(decoder, pcm)
        if decoder.hyp() is None:
            return None
        return _phone_pass(decoder, pcm)


def lookup(word: str) -> str | None:
    """Pronunciation of ``word`` (first variant) in the packaged dictionary, or None."""
    with shared_decoder("align") as decoder:
        if word in _ADDED_WORDS:
            return None
        return decoder.lookup_word(word)


def recognise_words(pcm: bytes) -> RawAlignment | None:
    """Large-vocabulary word recognition, then a phone-level alignment of the recognised words."""
    with shared_decoder("words") as decoder:
        decoder.activate_search()  # back to the n-gram search after the last phone pass
        _reset_features(decoder)
        _decode(decoder, pcm)
        if decoder.hyp() is None or not decoder.hyp().hypstr.strip():
            return None
        return _phone_pass(decoder, pcm)


def recognise_allphone(pcm: bytes) -> list[tuple[str, int, int]]:
    """Phone-loop recognition with the packaged phonetic language model: (label, start, frames)."""
    with shared_decoder("allphone") as decoder:
        _reset_features(decoder)
        _decode(decoder, pcm)
        return [(s.word, s.start_frame, s.end_frame - s.start_frame + 1) for s in decoder.seg()]
