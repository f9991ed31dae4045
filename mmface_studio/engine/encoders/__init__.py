"""Audio and text encoders for the neural engine, and the on-disk feature cache.

Speech: :class:`LogMelEncoder` (default, offline) and :class:`TransformersSpeechEncoder`
(wav2vec2 / HuBERT from a local folder); both ``encode(samples_16k) -> (T, dim)`` at ``rate`` fps.
Text: :class:`MiniLMTextEncoder` (packaged all-MiniLM-L6-v2, offline) and
:class:`DistilBertTextEncoder`; token embeddings + mask + sentence vector, and the MMHead
hierarchical levels. Text encoders import torch, so they load on first access (``__getattr__``):
importing this package for the log-mel path stays cheap.
"""

from __future__ import annotations

from typing import Any

from mmface_studio.engine.encoders.audio import (
    SPEECH_MODEL_TYPES,
    AudioEncoder,
    LogMelEncoder,
    TransformersSpeechEncoder,
    load_audio_encoder,
)
from mmface_studio.engine.encoders.cache import FeatureCache, default_cache_root, file_digest, samples_digest
from mmface_studio.engine.encoders.pretrained import EncoderError, EncoderUnavailable

_TEXT_NAMES = ("TEXT_LEVELS", "DistilBertTextEncoder", "MiniLMTextEncoder", "TextEncoding",
               "TransformersTextEncoder", "load_text_encoder", "minilm_model_dir")


def __getattr__(name: str) -> Any:
    if name in _TEXT_NAMES:
        from mmface_studio.engine.encoders import text

        return getattr(text, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SPEECH_MODEL_TYPES", "AudioEncoder", "EncoderError", "EncoderUnavailable", "FeatureCache", "LogMelEncoder",
    "TransformersSpeechEncoder", "default_cache_root", "file_digest", "load_audio_encoder", "samples_digest",
    *_TEXT_NAMES,
]
