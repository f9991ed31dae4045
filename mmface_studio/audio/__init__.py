"""Audio layer: load and validate recordings, resample to 16 kHz mono, compute frame features.

No Qt here: the GUI, the CLI and the engine all go through these functions, off the GUI thread.
Every failure is an ``AudioError`` subclass with a user-facing message; non-fatal problems are
``AudioWarning`` objects on ``AudioClip.warnings``.
"""

from mmface_studio.audio.clip import (
    ANALYSIS_RATE,
    AUDIO_EXTENSIONS,
    LONG_DURATION_S,
    MAX_RATE,
    MIN_DURATION_S,
    MIN_RATE,
    AudioClip,
    clip_from_array,
    load_audio,
    resample,
)
from mmface_studio.audio.errors import (
    AudioAccessError,
    AudioDataError,
    AudioError,
    AudioFileNotFoundError,
    AudioIsADirectoryError,
    AudioPermissionError,
    AudioTooLongError,
    AudioTooShortError,
    AudioWarning,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteSamplesError,
    NotAudioError,
    RawFormatError,
    SampleRateError,
    SilentAudioError,
    UnreadableAudioError,
    UnsupportedCodecError,
    WarningCode,
)
from mmface_studio.audio.features import AudioFeatures, compute_features, mel_filterbank

__all__ = [
    "ANALYSIS_RATE",
    "AUDIO_EXTENSIONS",
    "LONG_DURATION_S",
    "MAX_RATE",
    "MIN_DURATION_S",
    "MIN_RATE",
    "AudioAccessError",
    "AudioClip",
    "AudioDataError",
    "AudioError",
    "AudioFeatures",
    "AudioFileNotFoundError",
    "AudioIsADirectoryError",
    "AudioPermissionError",
    "AudioTooLongError",
    "AudioTooShortError",
    "AudioWarning",
    "CorruptAudioError",
    "EmptyAudioError",
    "NonFiniteSamplesError",
    "NotAudioError",
    "RawFormatError",
    "SampleRateError",
    "SilentAudioError",
    "UnreadableAudioError",
    "UnsupportedCodecError",
    "WarningCode",
    "clip_from_array",
    "compute_features",
    "load_audio",
    "mel_filterbank",
    "resample",
]
