"""Speech encoders: 16 kHz mono samples in, a (T, dim) feature sequence at ``rate`` frames per second out.

Two kinds behind one interface so that models, trainers and the feature cache do not care which:

- :class:`LogMelEncoder` (the default): the audio layer's 80-band log-mel at 100 Hz. Always
  available, costs tens of milliseconds per minute of speech, and is what the shipped default
  checkpoints are trained on (no pretrained speech model can be downloaded here).
- :class:`TransformersSpeechEncoder`: wav2vec2 or HuBERT through ``transformers`` (seeds 002/003
  use wav2vec2 content features), from a local folder or a hub name already in the local cache.
  torch and transformers are imported only when one is built, so the log-mel path stays light.

``cache_key`` names everything that changes the output (encoder kind, layer, a fingerprint of the
weights), so the feature cache never serves features of a replaced model.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from mmface_studio.engine.encoders.pretrained import (
    EncoderError,
    fingerprint,
    looks_like_path,
    quiet_transformers,
    resolve_source,
    unavailable,
)

SAMPLE_RATE = 16_000


def as_samples(samples: Any) -> np.ndarray:
    """Samples of an ``AudioClip`` (its 16 kHz analysis copy) or a 1-D float array, as float32."""
    analysis = getattr(samples, "analysis", None)
    x = np.asarray(analysis if analysis is not None else samples)
    if x.ndim != 1 or x.dtype.kind != "f":
        raise EncoderError(f"Speech encoders take 16 kHz mono float samples of shape (n,), got {x.dtype} {x.shape}; "
                           "load files with mmface_studio.audio.load_audio and pass the clip.")
    if not np.isfinite(x).all():
        raise EncoderError("Speech encoders got NaN or infinite samples.")
    return np.ascontiguousarray(x, dtype=np.float32)


class AudioEncoder(ABC):
    """Common interface: ``encode(samples_16k) -> (T, dim) float32`` with T about ``duration * rate``."""

    #: Short name shown to users and stored in checkpoints' ``feature_type``.
    name: str
    #: Feature size per frame.
    dim: int
    #: Frames per second of the output.
    rate: float

    @abstractmethod
    def encode(self, samples_16k: np.ndarray) -> np.ndarray:
        """(T, dim) float32 features of 16 kHz mono samples (or of an ``AudioClip``)."""

    @property
    def cache_key(self) -> str:
        """Everything that changes the output; the feature cache keys entries on it."""
        return self.name

    def frames_for(self, seconds: float) -> int:
        """Approximate frame count for ``seconds`` of audio (for allocating and aligning)."""
        return max(1, int(math.ceil(seconds * self.rate - 1e-9)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, rate={self.rate:g})"


class LogMelEncoder(AudioEncoder):
    """80-band log-mel at 100 Hz from :func:`mmface_studio.audio.features.compute_features`.

    Frame i describes the 10 ms hop [i * 10 ms, (i + 1) * 10 ms), so T = ceil(seconds * 100).
    """

    def __init__(self) -> None:
        from mmface_studio.audio import features

        self._features = features
        self.name = f"logmel{features.N_MELS}"
        self.dim = int(features.N_MELS)
        self.rate = float(features.FPS)

    @property
    def cache_key(self) -> str:
        f = self._features
        return f"{self.name}/fps{f.FPS}/win{f.WIN}/nfft{f.N_FFT}/fmax{f.F_MAX:g}/slaney/v1"

    def encode(self, samples_16k: np.ndarray) -> np.ndarray:
        x = as_samples(samples_16k)
        return np.ascontiguousarray(self._features.compute_features(x).mel, dtype=np.float32)


#: transformers model types this encoder runs, and the base-model class that loads each (also from
#: a fine-tuned ``...ForCTC`` checkpoint: the head is dropped).
SPEECH_MODEL_TYPES = ("wav2vec2", "hubert")
#: wav2vec2's convolutional front end needs at least one 25 ms receptive field.
_MIN_SAMPLES = 400


class TransformersSpeechEncoder(AudioEncoder):
    """wav2vec2 / HuBERT hidden states via ``transformers``, loaded from a folder or a cached hub name.

    ``layer``: which hidden state to return (0 = the projected CNN features, ``num_hidden_layers``
    = the last); None returns the last hidden state. Middle layers carry more phonetic content
    than the last one of a CTC-fine-tuned model, which is why it is a choice. The whole clip goes
    through the model at once (wav2vec2 was trained on utterances, and attention over a minute is
    3000 frames: fine on a CPU); the output has ``floor((n - 400) / 320) + 1`` frames at 50 Hz for
    the usual strides.
    """

    def __init__(self, source: str | os.PathLike[str], *, layer: int | None = None, device: Any = None) -> None:
        import torch
        from transformers import AutoConfig, HubertModel, Wav2Vec2FeatureExtractor, Wav2Vec2Model

        what = "speech encoder"
        folder = resolve_source(source, what)
        with quiet_transformers():
            try:
                config = AutoConfig.from_pretrained(folder, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise unavailable(os.fspath(source), what, exc) from None
            model_type = getattr(config, "model_type", "")
            if model_type not in SPEECH_MODEL_TYPES:
                raise EncoderError(f"{what}: {source} is a '{model_type}' model; this encoder runs "
                                   f"{' or '.join(SPEECH_MODEL_TYPES)}.")
            cls = Wav2Vec2Model if model_type == "wav2vec2" else HubertModel
            try:
                model = cls.from_pretrained(folder, local_files_only=True)
            except (OSError, ValueError, RuntimeError) as exc:
                raise unavailable(os.fspath(source), what, exc) from None
            try:
                extractor = Wav2Vec2FeatureExtractor.from_pretrained(folder, local_files_only=True)
                self.normalise_note = ""
            except (OSError, ValueError):
                # Without a preprocessor_config.json, zero-mean unit-variance input is what both
                # families' published checkpoints expect (their preprocessors say do_normalize).
                extractor = Wav2Vec2FeatureExtractor(do_normalize=True)
                self.normalise_note = "no preprocessor_config.json: input normalised to zero mean, unit variance"
        layers = int(config.num_hidden_layers)
        if layer is not None and not 0 <= int(layer) <= layers:
            raise EncoderError(f"{what}: layer {layer} does not exist; {source} has hidden states 0..{layers}.")
        self._torch = torch
        self.model = model.eval().to(torch.device(device) if device is not None else torch.device("cpu"))
        self.extractor = extractor
        self.layer = None if layer is None else int(layer)
        self.source = os.fspath(source)
        self.folder = folder
        self.model_type = model_type
        label = folder.resolve().name if looks_like_path(source) else self.source  # hub names as given
        self.name = f"{model_type}:{label}" + (f"@{self.layer}" if self.layer is not None else "")
        self.dim = int(config.hidden_size)
        self.rate = float(SAMPLE_RATE) / float(np.prod(config.conv_stride))
        self._key = f"{self.name}/{fingerprint(folder, (self.layer, self.normalise_note))}"

    @property
    def cache_key(self) -> str:
        return self._key

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def encode(self, samples_16k: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = as_samples(samples_16k)
        if x.size < _MIN_SAMPLES:
            x = np.concatenate([x, np.zeros(_MIN_SAMPLES - x.size, np.float32)])
        inputs = self.extractor(x, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        values = inputs["input_values"].to(self.device)
        with torch.inference_mode():
            out = self.model(values, output_hidden_states=self.layer is not None)
        hidden = out.hidden_states[self.layer] if self.layer is not None else out.last_hidden_state
        return np.ascontiguousarray(hidden[0].float().cpu().numpy(), dtype=np.float32)


def load_audio_encoder(spec: str | os.PathLike[str] | None = None, *, layer: int | None = None,
                       device: Any = None) -> AudioEncoder:
    """The encoder a checkpoint's ``feature_type`` or a user's choice names.

    None, ``"logmel"`` or ``"logmel80"``: the log-mel encoder; anything else is a folder or hub name
    for :class:`TransformersSpeechEncoder` (``"wav2vec2:NAME"`` / ``"hubert:NAME"`` and an
    ``@layer`` suffix, as in an encoder's ``name``, are understood too).
    """
    if spec is None or os.fspath(spec) in ("logmel", "logmel80"):
        return LogMelEncoder()
    text = os.fspath(spec)
    for prefix in SPEECH_MODEL_TYPES:
        if text.startswith(prefix + ":"):
            text = text[len(prefix) + 1:]
    if layer is None and "@" in text and text.rsplit("@", 1)[1].isdigit():
        text, index = text.rsplit("@", 1)
        layer = int(index)
    return TransformersSpeechEncoder(text, layer=layer, device=device)
