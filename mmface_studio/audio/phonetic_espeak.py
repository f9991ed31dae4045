"""espeak-ng speech together with espeak-ng's own word and phoneme timing.

Why: checking a phonetic track needs speech whose timing is known independently of pocketsphinx.
The espeak-ng command line writes audio but no timing (``--pho`` needs an MBROLA voice), while
its library reports an event for every word and phoneme it synthesises, with the position in the
output audio. This module calls the library through ctypes (no Python binding needed; the library
ships with the ``espeak-ng`` package that the setup script installs) and returns 16 kHz audio
with those events. Each synthesis runs in a fresh process (``phonetic_espeak_worker``), because
the library's output for the same text otherwise depends on what it synthesised before. Tests,
benchmarks, synthetic-corpus generation and the demo clip use it; analysis of user audio does not.

Accuracy of the reference: word events mark where espeak-ng starts the word's first phoneme
(closures of initial stops included), to the millisecond. espeak-ng emits no word event for some
unstressed function words; those words get ``start=None``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from mmface_studio.audio import phonetic_espeak_worker as worker

_WORKER = Path(worker.__file__)
#: A synthesis that takes longer than this (s) is stuck, not slow: espeak-ng speaks ~500x real time.
_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SynthWord:
    """A word of the input text and when espeak-ng starts saying it (None: no event for it)."""

    text: str
    char_index: int
    start: float | None


@dataclass(frozen=True)
class SynthPhone:
    """An espeak-ng phoneme mnemonic (e.g. "p", "i:", "aI", "_:" for a pause) and its start time."""

    symbol: str
    start: float


@dataclass(frozen=True)
class SynthSpeech:
    text: str
    audio16k: np.ndarray
    words: tuple[SynthWord, ...]
    phones: tuple[SynthPhone, ...]

    @property
    def duration(self) -> float:
        return len(self.audio16k) / 16000


_LOCAL: worker.Synthesizer | None = None
_LOCAL_LOCK = threading.Lock()
_SYNTH_LOCK = threading.Lock()
_AVAILABLE: bool | None = None


def _local() -> worker.Synthesizer:
    """The in-process library (availability check; synthesis only where no subprocess can run)."""
    global _LOCAL
    with _LOCAL_LOCK:
        if _LOCAL is None:
            _LOCAL = worker.Synthesizer()
        return _LOCAL


def espeak_available() -> bool:
    """Whether the espeak-ng library can be loaded and initialised."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            _local()
            _AVAILABLE = True
        except OSError:
            _AVAILABLE = False
    return _AVAILABLE


def _synthesize_raw(text: str, voice: str, rate: int) -> tuple[np.ndarray, int, list]:
    """(int16 samples, sample rate, events) from a fresh process, so that history cannot change them.

    A frozen application has no interpreter to start; there the library runs in-process, and
    results may then depend on earlier syntheses (see ``phonetic_espeak_worker``).
    """
    if getattr(sys, "frozen", False):
        local = _local()
        with _SYNTH_LOCK:
            try:
                samples, events = local.synthesize(text, voice, rate)
            except worker.UnknownVoice as exc:
                raise ValueError(str(exc)) from None
        return np.frombuffer(samples, np.int16).copy(), local.sample_rate, list(events)
    request = json.dumps({"text": text, "voice": voice, "rate": int(rate)}).encode()
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(_WORKER)], input=request, capture_output=True, timeout=_TIMEOUT_S, check=False
    )
    message = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode == 2:
        raise ValueError(message)
    if done.returncode != 0:
        raise OSError(f"espeak-ng synthesis failed ({done.returncode}): {message}")
    header, _, body = done.stdout.partition(b"\n")
    meta = json.loads(header)
    samples = np.frombuffer(body, np.int16, count=int(meta["n_samples"])).copy()
    return samples, int(meta["sample_rate"]), [tuple(e) for e in meta["events"]]


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 175) -> SynthSpeech:
    """Speak ``text`` with espeak-ng; returns 16 kHz float32 audio and word/phoneme timing.

    Deterministic: the same arguments give the same audio and events, whatever ran before.
    """
    samples, rate, events = _synthesize_raw(text, voice, words_per_minute)
    raw = samples.astype(np.float32) / 32768.0
    audio = resample_poly(raw, 16000, rate).astype(np.float32) if len(raw) else raw
    starts = {pos: ms / 1000.0 for kind, pos, ms, _ in events if kind == worker.EVENT_WORD and pos > 0}
    words = []
    for index, word in _text_words(text):
        words.append(SynthWord(word, index, starts.get(index + 1)))  # espeak counts from 1
    phones = tuple(SynthPhone(sym, ms / 1000.0) for kind, _, ms, sym in events if kind == worker.EVENT_PHONEME)
    return SynthSpeech(text, audio, tuple(words), phones)


def _text_words(text: str) -> list[tuple[int, str]]:
    """(character index, word) for each run of letters/apostrophes, as espeak-ng counts words."""
    out: list[tuple[int, str]] = []
    start = None
    for i, ch in enumerate(text + " "):
        if ch.isalpha() or (ch == "'" and start is not None):
            if start is None:
                start = i
        elif start is not None:
            out.append((start, text[start:i]))
            start = None
    return out
