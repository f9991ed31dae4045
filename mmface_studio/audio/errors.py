"""One exception family for everything that can go wrong with a recording, plus structured warnings.

Animators drop arbitrary files onto the tool. The GUI and the CLI must be able to catch a single
type (``AudioError``) and show its message as is, so every message is written for a person: it
names the file, says what is wrong and, where there is one, what to do about it. Subclasses let
code react to a specific case (e.g. offer a raw-PCM dialog on ``RawFormatError``).

Problems that do not stop the analysis (clipping, a very long file, a truncated download) are not
exceptions: they travel with the loaded clip as ``AudioWarning`` objects so that a caller decides
how to show them; nothing in the audio layer prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class AudioError(Exception):
    """Base of every audio-layer failure; ``str(err)`` is a complete, user-facing message.

    ``path`` is the full path of the offending file (``None`` for in-memory arrays), kept apart
    from the message so that a UI can show the short name and still offer "reveal in folder".
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path: Path | None = None if path is None else Path(path)


class AudioAccessError(AudioError):
    """The file cannot be opened as a file at all (nothing about its content is known)."""


class AudioFileNotFoundError(AudioAccessError):
    """No file at that path (or a dangling link)."""


class AudioIsADirectoryError(AudioAccessError):
    """A folder was given where a recording was expected."""


class AudioPermissionError(AudioAccessError):
    """The operating system refused to let us read the file."""


class UnreadableAudioError(AudioError):
    """The file exists but its content cannot be decoded as audio."""


class NotAudioError(UnreadableAudioError):
    """The content is not audio at all: an image, a text file, random bytes, a renamed document."""


class CorruptAudioError(UnreadableAudioError):
    """An audio format we know, but damaged beyond what can be recovered."""


class UnsupportedCodecError(UnreadableAudioError):
    """Real audio in a container or codec this build cannot decode (AAC/M4A, WMA, ...)."""


class RawFormatError(AudioError):
    """Headerless PCM without (or with invalid) rate / channels / sample format."""


class SampleRateError(AudioError):
    """A sample rate outside the range the analysis can work with."""


class EmptyAudioError(AudioError):
    """The file (or array) holds zero samples."""


class AudioTooShortError(AudioError):
    """Too short to analyse (under ``MIN_DURATION_S``)."""


class AudioTooLongError(AudioError):
    """So large that holding it in memory would not be sane; the user should split it."""


class SilentAudioError(AudioError):
    """Digital silence (or a constant DC level): there is nothing to animate to."""


class NonFiniteSamplesError(AudioError):
    """NaN or infinite samples (only possible in float files or arrays)."""


class AudioDataError(AudioError):
    """An in-memory array that is not audio-shaped (wrong rank, dtype, or channel layout)."""


class WarningCode(str, Enum):
    """Stable identifiers for warnings, so a UI can pick an icon or a help link per kind."""

    CLIPPED = "clipped"
    QUIET = "quiet"
    DC_OFFSET = "dc_offset"
    LONG = "long"
    TRUNCATED = "truncated"
    LOW_RATE = "low_rate"
    CHANNELS_CANCEL = "channels_cancel"
    RAW_SIZE_MISMATCH = "raw_size_mismatch"


@dataclass(frozen=True)
class AudioWarning:
    """A non-fatal problem found while loading; ``message`` is user-facing and names the file."""

    code: WarningCode
    message: str

    def __str__(self) -> str:
        return self.message
