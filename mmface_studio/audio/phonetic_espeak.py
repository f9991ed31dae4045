"""espeak-ng speech together with espeak-ng's own word and phoneme timing.

Why: checking a phonetic track needs speech whose timing is known independently of pocketsphinx.
The espeak-ng command line writes audio but no timing (``--pho`` needs an MBROLA voice), while
its library reports an event for every word and phoneme it synthesises, with the position in the
output audio. This module calls the library through ctypes (no Python binding needed; the library
ships with the ``espeak-ng`` package that the setup script installs) and returns 16 kHz audio
with those events. Tests, benchmarks and synthetic-corpus generation use it; the product does not.

Accuracy of the reference: word events mark where espeak-ng starts the word's first phoneme
(closures of initial stops included), to the millisecond. espeak-ng emits no word event for some
unstressed function words; those words get ``start=None``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_CHARS_UTF8 = 1
_PARAM_RATE = 1


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


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


class _Engine:
    """The espeak-ng library, initialised once; synthesis is serialised (the library is global)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        self.lib = ctypes.CDLL(name)
        self.rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        )
        if self.rate <= 0:
            raise OSError("espeak-ng failed to initialise")
        self.lock = threading.Lock()
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, str]] = []
        self.callback = _CALLBACK(self._on_synth)  # keep a reference: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self.callback)

    def _on_synth(self, wav, n_samples, events) -> int:
        if n_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            symbol = bytes(e.id).split(b"\0")[0].decode("utf-8", "replace") if e.type == _EVENT_PHONEME else ""
            self.events.append((e.type, e.text_position, e.audio_position, symbol))
            i += 1
        return 0


_ENGINE: _Engine | None = None
_ENGINE_LOCK = threading.Lock()


def _engine() -> _Engine:
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _Engine()
        return _ENGINE


def espeak_available() -> bool:
    """Whether the espeak-ng library can be loaded and initialised."""
    try:
        _engine()
    except OSError:
        return False
    return True


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 175) -> SynthSpeech:
    """Speak ``text`` with espeak-ng; returns 16 kHz float32 audio and word/phoneme timing."""
    engine = _engine()
    with engine.lock:
        engine.chunks, engine.events = [], []
        if engine.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        engine.lib.espeak_SetParameter(_PARAM_RATE, int(words_per_minute), 0)
        data = text.encode("utf-8")
        engine.lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, _CHARS_UTF8, None, None)
        engine.lib.espeak_Synchronize()
        chunks, events, rate = engine.chunks, engine.events, engine.rate
    raw = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
    audio = resample_poly(raw, 16000, rate).astype(np.float32) if len(raw) else raw
    starts = {pos: ms / 1000.0 for kind, pos, ms, _ in events if kind == _EVENT_WORD and pos > 0}
    words = []
    for index, word in _text_words(text):
        words.append(SynthWord(word, index, starts.get(index + 1)))  # espeak counts from 1
    phones = tuple(SynthPhone(sym, ms / 1000.0) for kind, _, ms, sym in events if kind == _EVENT_PHONEME)
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
