"""One espeak-ng synthesis in a process of its own: the library through ctypes, stdlib only.

Why a separate process per synthesis: the espeak-ng library keeps state between syntheses (phoneme
lengths before a pause, pitch and filter state), so within one process the same text, voice and
rate gave audio that differed by up to 40 ms (670 samples) depending on what had been synthesised
before. Tests and benchmarks compare against that audio, so it must not depend on history. A
fresh process always synthesises from the library's initial state; it costs ~30 ms per call.

Run as a script (``python phonetic_espeak_worker.py``, no package import so that start-up stays
cheap): reads ``{"text", "voice", "rate"}`` as JSON on stdin and writes one JSON header line
(``sample_rate``, ``events``: [type, text position, audio ms, phoneme], ``n_samples``) followed by
the raw native-endian int16 samples. Exit status 2 with a message on stderr: unknown voice;
3: the library failed to load or initialise.

`Synthesizer` is also used in-process by `phonetic_espeak` where no fresh interpreter can be
started (a frozen application), and to tell whether espeak-ng is available at all.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import json
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_DONT_EXIT = 0x8000
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7
CHARS_UTF8 = 1
PARAM_RATE = 1


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


class UnknownVoice(ValueError):
    """espeak-ng has no voice of that name."""


class Synthesizer:
    """The espeak-ng library, initialised once per process (the library is process-global)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        self.lib = ctypes.CDLL(name)
        self.sample_rate = int(
            self.lib.espeak_Initialize(
                AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS | INITIALIZE_DONT_EXIT
            )
        )
        if self.sample_rate <= 0:
            raise OSError("espeak-ng failed to initialise")
        self.samples = array.array("h")
        self.events: list[tuple[int, int, int, str]] = []
        self.callback = _CALLBACK(self._on_synth)  # keep a reference: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self.callback)

    def _on_synth(self, wav, n_samples, events) -> int:
        if n_samples > 0:
            self.samples.frombytes(ctypes.string_at(wav, 2 * n_samples))
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            symbol = bytes(e.id).split(b"\0")[0].decode("utf-8", "replace") if e.type == EVENT_PHONEME else ""
            self.events.append((int(e.type), int(e.text_position), int(e.audio_position), symbol))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, rate: int) -> tuple[array.array, list[tuple[int, int, int, str]]]:
        """(int16 samples at ``sample_rate``, events) for ``text``."""
        self.samples, self.events = array.array("h"), []
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise UnknownVoice(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(PARAM_RATE, int(rate), 0)
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        return self.samples, self.events


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        synth = Synthesizer()
    except OSError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    try:
        samples, events = synth.synthesize(request["text"], request["voice"], request["rate"])
    except UnknownVoice as exc:
        print(str(exc), file=sys.stderr)
        return 2
    header = {"sample_rate": synth.sample_rate, "events": events, "n_samples": len(samples)}
    out = sys.stdout.buffer
    out.write(json.dumps(header).encode() + b"\n")
    out.write(samples.tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
