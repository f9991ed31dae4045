"""Load, validate and resample recordings into an ``AudioClip``.

Every input, whether a file on disk or an array from the microphone, goes through the same checks
so that the engine can trust what it receives: finite samples, a usable rate, enough sound to
analyse. Failures raise one ``AudioError`` subclass with a message a person understands; anything
that still allows the analysis (clipping, a truncated download, a long file) becomes an
``AudioWarning`` on the clip.

Two copies are kept: ``original`` at its own rate and channel count (what the animator hears on
playback and what exporters embed) and ``analysis``, 16 kHz mono float32 (what every feature and
model consumes). Files are decoded block by block straight into a preallocated buffer, with the
statistics gathered per block while the data is still in cache, so a long file costs one float32
copy plus its 16 kHz mono analysis copy, not several float64 temporaries.
"""

from __future__ import annotations

import math
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from mmface_studio.audio import probe
from mmface_studio.audio.errors import (
    AudioDataError,
    AudioTooLongError,
    AudioTooShortError,
    AudioWarning,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteSamplesError,
    RawFormatError,
    SampleRateError,
    SilentAudioError,
    WarningCode,
)

ANALYSIS_RATE = 16_000
MIN_RATE = 4_000
MAX_RATE = 384_000
MIN_DURATION_S = 0.1
LONG_DURATION_S = 30 * 60.0
# frames x channels of the float32 original: 2 GiB. Beyond that the user should split the file.
MAX_SAMPLES = 512 * 2**20
RAW_SUFFIXES = frozenset({".raw", ".pcm"})
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".raw", ".pcm")

SILENCE_PEAK = 1e-4  # -80 dBFS: below a 16-bit file's 3-LSB dither, nothing to animate to
QUIET_PEAK = 10 ** (-40 / 20)  # -40 dBFS peak: analysable, but the animator should know
DC_WARN = 0.05  # a 5 % full-scale offset means a faulty interface or an unprocessed capture
CLIP_FRACTION = 1e-3  # 1 sample in 1000 at full scale is audible distortion, not a stray peak
_BLOCK_FRAMES = 1 << 16
_SALVAGE_FRAMES = 1 << 10
_EIGHT_BIT = frozenset({"PCM_S8", "PCM_U8", "ULAW", "ALAW"})
_RAW_BYTES = {
    "PCM_S8": 1,
    "PCM_U8": 1,
    "ULAW": 1,
    "ALAW": 1,
    "PCM_16": 2,
    "PCM_24": 3,
    "PCM_32": 4,
    "FLOAT": 4,
    "DOUBLE": 8,
}


@dataclass(eq=False)
class AudioClip:
    """A validated recording: the original for playback, a 16 kHz mono copy for analysis.

    Both arrays are read-only so that caches keyed on a clip (features, lip-sync) stay valid.
    """

    original: np.ndarray  # frames x channels, float32, at original_rate
    original_rate: int
    analysis: np.ndarray  # mono float32 at ANALYSIS_RATE, DC removed
    source: Path | None = None
    warnings: list[AudioWarning] = field(default_factory=list)
    name: str = ""
    format: str = ""  # libsndfile container name, e.g. "WAV", "MP3"; "ARRAY" for in-memory input
    subtype: str = ""  # libsndfile sample format, e.g. "PCM_16", "FLOAT"

    analysis_rate: ClassVar[int] = ANALYSIS_RATE

    @property
    def duration(self) -> float:
        """Length in seconds of the original (the analysis copy matches to one 16 kHz sample)."""
        return self.original.shape[0] / self.original_rate

    @property
    def channels(self) -> int:
        return int(self.original.shape[1])

    def has_warning(self, code: WarningCode | str) -> bool:
        return any(w.code == code for w in self.warnings)


def resample(samples: np.ndarray, rate: int, target: int = ANALYSIS_RATE) -> np.ndarray:
    """Polyphase resampling of a mono signal to ``target`` Hz, returned as a new float32 array.

    ``resample_poly`` keeps float32 through the filter (scipy >= 1.11 matches the filter dtype to
    the input), applies a Kaiser-windowed anti-alias filter and is exact for rational ratios, which
    every real rate pair is (44100 -> 16000 is 160/441).
    """
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if int(rate) == int(target):
        return x.copy() if x is samples else x
    g = math.gcd(int(rate), int(target))
    y = resample_poly(x, int(target) // g, int(rate) // g)
    return np.ascontiguousarray(y, dtype=np.float32)


def load_audio(
    path: str | os.PathLike[str],
    *,
    raw_rate: int | None = None,
    raw_channels: int = 1,
    raw_subtype: str = "PCM_16",
    raw_endian: str = "LITTLE",
) -> AudioClip:
    """Load and validate a recording (WAV, FLAC, OGG, MP3, AIFF, ... or headerless PCM).

    Files ending in ``.raw`` / ``.pcm`` are headerless: their rate, channel count, sample format
    (a libsndfile subtype such as ``"PCM_16"``, ``"PCM_U8"``, ``"FLOAT"``) and byte order must be
    given. Every other file is identified by its content, not its name, so a WAV renamed ``.mp3``
    loads fine and a PNG renamed ``.wav`` is reported as a PNG.
    """
    p = Path(path).expanduser()
    name = p.name or str(p)
    size, head = probe.check_access(p, name)
    if size == 0:
        raise EmptyAudioError(f'"{name}" is an empty file (0 bytes): there is no audio in it.', path=p)
    sniff = probe.sniff(head)
    # A .raw/.pcm name means headerless PCM unless the content carries a real header; its first
    # samples may look like a short signature (0xFFF.. is also an MP3 frame sync), so only strong
    # signatures count, both for loading it as a container and for refusing it as non-audio.
    raw = p.suffix.lower() in RAW_SUFFIXES and not (sniff.kind == "audio" and sniff.strong)
    if not raw:
        probe.reject_known_non_audio(sniff, p, name)
    elif sniff.kind == "text" or (sniff.kind in ("other", "unsupported") and sniff.strong):
        probe.reject_known_non_audio(sniff, p, name, text_too=True)
    riff = probe.riff_info(p, size) if sniff.container == "WAV" else None
    warnings: list[AudioWarning] = []
    with ExitStack() as stack:
        if raw:
            f = _open_raw(p, name, size, raw_rate, raw_channels, raw_subtype, raw_endian, warnings)
        else:
            f = _open(p, name, sniff, riff, stack)
        stack.enter_context(f)
        rate, channels, expected = int(f.samplerate), int(f.channels), int(f.frames)
        fmt, subtype = str(f.format), str(f.subtype)
        _check_rate(rate, name, p)
        if expected > 0 and expected * channels > MAX_SAMPLES:
            raise _too_long(name, p, expected / rate, channels, rate)
        stats = _Stats(channels, 0.975 if subtype in _EIGHT_BIT else 0.999)
        original, read_error = _read_frames(f, name, p, stats, rate)
    frames = original.shape[0]
    if frames == 0:
        if read_error is not None:
            raise CorruptAudioError(
                f'"{name}" looks like {probe.article(fmt)} file but not a single sample could be decoded '
                f"({read_error}). It is damaged; try exporting or downloading it again.",
                path=p,
            )
        if fmt == "OGG":  # libsndfile finds an OGG's length from its last page: a cut file reads as empty
            raise CorruptAudioError(
                f'"{name}" is an OGG file but no audio could be decoded from it: it is empty or, more likely, '
                "cut short (an OGG stream whose end is missing cannot be read). Try exporting or downloading "
                "it again.",
                path=p,
            )
        raise EmptyAudioError(probe.empty_message(name, fmt, riff), path=p)
    truncated = probe.truncation_warning(name, rate, frames, expected, read_error, riff, channels)
    if truncated is None and fmt == "OGG" and not probe.ogg_is_complete(p, size):
        truncated = AudioWarning(
            WarningCode.TRUNCATED,
            f'"{name}" ends without an OGG end-of-stream marker: it was cut short (an interrupted copy, download '
            f"or recording). The {probe.fmt_duration(frames / rate)} that could be read are used.",
        )
    if truncated is not None:
        warnings.append(truncated)
    return _finish(original, rate, stats, warnings, name=name, source=p, fmt=fmt, subtype=subtype)


def clip_from_array(samples: np.ndarray, rate: int, *, name: str = "recording") -> AudioClip:
    """Validate an in-memory signal (microphone capture, synthetic test audio) like a file.

    ``samples`` is mono (frames,) or frames x channels; float arrays are taken as full scale +-1,
    integer ones (int8/uint8/int16/int32) are scaled from their sample format. The data is copied,
    so the caller may reuse its buffer.
    """
    original = _array_to_frames(samples, name)
    frames, channels = original.shape
    if frames == 0:
        raise EmptyAudioError(f'"{name}" contains no audio samples.')
    rate = _as_rate(rate, name)
    _check_rate(rate, name, None)
    if frames * channels > MAX_SAMPLES:
        raise _too_long(name, None, frames / rate, channels, rate)
    in_dtype = np.asarray(samples).dtype
    stats = _Stats(channels, 0.975 if in_dtype.kind in "iu" and in_dtype.itemsize == 1 else 0.999)
    for start in range(0, frames, _BLOCK_FRAMES):
        stats.update(original[start : start + _BLOCK_FRAMES], start, name, None, rate)
    return _finish(original, rate, stats, [], name=name, source=None, fmt="ARRAY", subtype=str(in_dtype))


# ---------------------------------------------------------------------------------------------
# opening


class _NamelessReader:
    """A binary file object without a ``name``, so soundfile identifies the content by its header.

    soundfile treats any path ending in .raw as a request for headerless PCM; a WAV that was
    merely named .raw must still load as the WAV it is.
    """

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")  # closed through the caller's ExitStack

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)

    def readinto(self, buffer: memoryview) -> int | None:
        return self._fh.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()


def _open(path: Path, name: str, sniff: probe.Sniff, riff: probe.RiffInfo | None, stack: ExitStack) -> sf.SoundFile:
    target: str | _NamelessReader = str(path)
    if path.suffix.lower() in RAW_SUFFIXES:
        target = _NamelessReader(path)
        stack.callback(target.close)
    try:
        return sf.SoundFile(target)
    except sf.LibsndfileError as exc:
        raise probe.explain_open_failure(path, name, sniff, riff, exc) from exc
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
        raise CorruptAudioError(f'"{name}" cannot be decoded: {exc}.', path=path) from exc


def _open_raw(
    path: Path,
    name: str,
    size: int,
    rate: int | None,
    channels: int,
    subtype: str,
    endian: str,
    warnings: list[AudioWarning],
) -> sf.SoundFile:
    """Open headerless PCM with explicit parameters, checking each one for a clear error."""
    if rate is None:
        raise RawFormatError(
            f'"{name}" is headerless PCM ({path.suffix}): the file does not record its sample rate, channel '
            "count or sample format, so they must be given (for example 16000 Hz, 1 channel, "
            "PCM_16 = 16-bit signed little-endian).",
            path=path,
        )
    rate = _as_rate(rate, name, path)
    _check_rate(rate, name, path)
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 64:
        raise RawFormatError(f'A channel count of {channels!r} for "{name}" is not possible (1 to 64).', path=path)
    subtype, endian = str(subtype).upper(), str(endian).upper()
    if subtype not in _RAW_BYTES or not sf.check_format("RAW", subtype, endian):
        raise RawFormatError(
            f'"{subtype}" (byte order {endian}) is not a headerless sample format this tool can read for "{name}"; '
            f"use one of {', '.join(sorted(_RAW_BYTES))} with LITTLE, BIG or FILE byte order.",
            path=path,
        )
    frame_bytes = _RAW_BYTES[subtype] * channels
    if size % frame_bytes:
        warnings.append(
            AudioWarning(
                WarningCode.RAW_SIZE_MISMATCH,
                f'The size of "{name}" ({size} bytes) is not a whole number of {channels}-channel {subtype} frames; '
                "the channel count or sample format given may be wrong. The last partial frame is ignored.",
            )
        )
    try:
        return sf.SoundFile(str(path), samplerate=rate, channels=channels, subtype=subtype, endian=endian, format="RAW")
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
        raise RawFormatError(f'"{name}" cannot be read as headerless {subtype} PCM: {exc}.', path=path) from exc


def _as_rate(rate: object, name: str, path: Path | None = None) -> int:
    """A sample rate given by a caller as a whole number of Hz (44100.0 is fine, 44100.5 is not)."""
    try:
        value = float(rate)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise SampleRateError(f'The sample rate given for "{name}" is not a whole number of Hz: {rate!r}.', path=path)
    return int(value)


def _check_rate(rate: int, name: str, path: Path | None) -> None:
    if MIN_RATE <= rate <= MAX_RATE:
        return
    side = "below the minimum" if rate < MIN_RATE else "above the maximum"
    limit = MIN_RATE if rate < MIN_RATE else MAX_RATE
    raise SampleRateError(
        f'"{name}" has a sample rate of {rate} Hz, {side} of {limit} Hz that speech analysis supports '
        f"({MIN_RATE}-{MAX_RATE} Hz). Its header may be wrong, or it is not a speech recording.",
        path=path,
    )


def _too_long(name: str, path: Path | None, seconds: float, channels: int, rate: int) -> AudioTooLongError:
    limit = MAX_SAMPLES / (channels * rate)
    return AudioTooLongError(
        f'"{name}" is {probe.fmt_duration(seconds)} long ({channels} channel(s) at {rate} Hz), more than can be '
        f"held in memory at once. Split it into parts shorter than {probe.fmt_duration(limit)}.",
        path=path,
    )


# ---------------------------------------------------------------------------------------------
# reading and statistics


class _Stats:
    """Per-channel running statistics gathered while each block is hot in cache."""

    def __init__(self, channels: int, clip_level: float) -> None:
        self.clip_level = np.float32(clip_level)
        self.sums = np.zeros(channels)
        self.sumsq = np.zeros(channels)
        self.maxs = np.full(channels, -np.inf)
        self.mins = np.full(channels, np.inf)
        self.clipped = 0

    def update(self, block: np.ndarray, offset: int, name: str, path: Path | None, rate: int) -> None:
        if block.shape[0] == 0:
            return
        if not np.isfinite(block).all():
            bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
            first = (offset + int(bad[0])) / rate
            raise NonFiniteSamplesError(
                f'"{name}" contains invalid sample values (NaN or infinity), the first at {first:.3f} s. '
                "The file was written by faulty software; re-export it from the original recording.",
                path=path,
            )
        # Column by column: numpy reduces a (frames, 2) block along axis 0 some 30x slower.
        for c in range(block.shape[1]):
            col = block[:, c]
            self.sums[c] += float(col.sum(dtype=np.float64))
            self.sumsq[c] += float(np.dot(col, col))
            self.maxs[c] = max(self.maxs[c], float(col.max()))
            self.mins[c] = min(self.mins[c], float(col.min()))
        self.clipped += int(np.count_nonzero(block >= self.clip_level)) + int(
            np.count_nonzero(block <= -self.clip_level)
        )


def _read_frames(f: sf.SoundFile, name: str, path: Path, stats: _Stats, rate: int) -> tuple[np.ndarray, str | None]:
    """Decode into one preallocated float32 buffer; a decoder error mid-way keeps what was read.

    libsndfile already clamps a WAV's frame count to the bytes present; compressed streams that
    fail part-way (a truncated FLAC "lost sync") raise, and the frames before the failure are
    still good, so they are returned with the error text for a warning.
    """
    channels = int(f.channels)
    max_frames = MAX_SAMPLES // channels
    expected = int(f.frames)
    buf = np.empty((expected if 0 < expected <= max_frames else _BLOCK_FRAMES, channels), dtype=np.float32)
    pos = 0
    block = _BLOCK_FRAMES
    error: str | None = None
    while True:
        if pos == buf.shape[0]:
            if pos >= max_frames:
                raise _too_long(name, path, pos / rate, channels, rate)
            grown = np.empty((min(max(2 * pos, _BLOCK_FRAMES), max_frames), channels), dtype=np.float32)
            grown[:pos] = buf[:pos]
            buf = grown
        want = min(block, buf.shape[0] - pos)
        try:
            got = f.read(out=buf[pos : pos + want]).shape[0]
        except (sf.SoundFileError, RuntimeError) as exc:
            # A failed read discards its whole block: go back and creep up to the damage in small
            # blocks, so that a truncated FLAC keeps all but the last ~1000 decodable frames.
            if block > _SALVAGE_FRAMES and _rewind(f, pos):
                block = _SALVAGE_FRAMES
                continue
            error = probe.decoder_reason(exc)
            break
        if got == 0:
            break
        stats.update(buf[pos : pos + got], pos, name, path, rate)
        pos += got
    if pos == buf.shape[0]:
        return buf, error
    # Shrink only when the slack is worth a copy; otherwise a view keeps the memory anyway.
    wasted = (buf.shape[0] - pos) * channels * 4
    return (buf[:pos].copy() if wasted > (1 << 20) else buf[:pos]), error


def _rewind(f: sf.SoundFile, pos: int) -> bool:
    try:
        return bool(f.seekable()) and f.seek(pos) == pos
    except (sf.SoundFileError, RuntimeError, ValueError):
        return False


def _array_to_frames(samples: np.ndarray, name: str) -> np.ndarray:
    """Any reasonable array -> C-contiguous float32 frames x channels copy, scaled to +-1."""
    arr = np.asarray(samples)
    kind = arr.dtype.kind
    if kind == "f":
        out = np.array(arr, dtype=np.float32, copy=True)
    elif kind in "iu" and arr.dtype.itemsize in (1, 2, 4):
        bits = 8 * arr.dtype.itemsize
        out = arr.astype(np.float32)
        if kind == "u":
            out -= np.float32(2 ** (bits - 1))
        out *= np.float32(1.0 / 2 ** (bits - 1))
    else:
        hint = " (a plain Python list of ints becomes int64; convert to float in -1..1)" if kind in "iu" else ""
        raise AudioDataError(
            f'"{name}": samples must be float or 8/16/32-bit integers, got an array of {arr.dtype}{hint}.'
        )
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise AudioDataError(f'"{name}": expected samples as (frames,) or (frames, channels), got shape {arr.shape}.')
    if out.shape[1] > 64:
        hint = " It looks like channels x frames: transpose it." if out.shape[0] <= 64 else ""
        raise AudioDataError(f'"{name}": {out.shape[1]} channels is not plausible (shape {arr.shape}).{hint}')
    if out.shape[1] == 0:
        raise EmptyAudioError(f'"{name}" has no channels (shape {arr.shape}).')
    return np.ascontiguousarray(out)


# ---------------------------------------------------------------------------------------------
# validation of the decoded signal and the analysis copy


def _finish(
    original: np.ndarray,
    rate: int,
    stats: _Stats,
    warnings: list[AudioWarning],
    *,
    name: str,
    source: Path | None,
    fmt: str,
    subtype: str,
) -> AudioClip:
    frames, channels = original.shape
    seconds = frames / rate
    if seconds < MIN_DURATION_S:
        raise AudioTooShortError(
            f'"{name}" is only {seconds * 1000:.0f} ms long; at least {MIN_DURATION_S * 1000:.0f} ms of audio '
            "is needed to analyse speech.",
            path=source,
        )
    means = stats.sums / frames
    ac_peak = float(np.max(np.maximum(stats.maxs - means, means - stats.mins)))
    dc = float(means[int(np.argmax(np.abs(means)))])  # the largest offset, with its sign
    if ac_peak < SILENCE_PEAK:
        what = (
            f"only a constant offset ({dc:+.3f} of full scale) and no sound" if abs(dc) >= SILENCE_PEAK else "silence"
        )
        raise SilentAudioError(
            f'"{name}" contains {what} over its whole {probe.fmt_duration(seconds)}: there is nothing to animate to. '
            "Check that the right input or track was recorded.",
            path=source,
        )
    warnings.extend(_signal_warnings(name, stats, frames, channels, rate, ac_peak, dc))
    mono, cancel = _downmix(original, stats, name)
    if cancel is not None:
        warnings.append(cancel)
    analysis = resample(mono, rate)
    analysis -= analysis.mean(dtype=np.float64).astype(np.float32)
    original.flags.writeable = False
    analysis.flags.writeable = False
    return AudioClip(
        original=original,
        original_rate=rate,
        analysis=analysis,
        source=source,
        warnings=warnings,
        name=name,
        format=fmt,
        subtype=subtype,
    )


def _signal_warnings(
    name: str, stats: _Stats, frames: int, channels: int, rate: int, ac_peak: float, dc: float
) -> list[AudioWarning]:
    out: list[AudioWarning] = []
    fraction = stats.clipped / (frames * channels)
    if fraction >= CLIP_FRACTION and stats.clipped >= 10:
        out.append(
            AudioWarning(
                WarningCode.CLIPPED,
                f'{fraction * 100:.1f} % of the samples of "{name}" sit at or beyond full scale: the recording is '
                "clipped (distorted). It will still be analysed, but lip-sync on the distorted parts may be less "
                "accurate; record with a lower input gain if you can.",
            )
        )
    if ac_peak < QUIET_PEAK:
        out.append(
            AudioWarning(
                WarningCode.QUIET,
                f'"{name}" is very quiet (loudest peak {20 * math.log10(ac_peak):.0f} dBFS). It will still be '
                "analysed, but background noise may be taken for speech; record closer to the microphone or "
                "normalise it.",
            )
        )
    if abs(dc) >= DC_WARN:
        out.append(
            AudioWarning(
                WarningCode.DC_OFFSET,
                f'"{name}" has a constant DC offset of {dc:+.2f} of full scale (a faulty audio interface or '
                "unprocessed capture). It is removed for analysis; the original is kept as is.",
            )
        )
    if frames / rate > LONG_DURATION_S:
        out.append(
            AudioWarning(
                WarningCode.LONG,
                f'"{name}" is {probe.fmt_duration(frames / rate)} long. It will work, but generating and editing will '
                "be slower; splitting dialogue into scenes keeps the tool responsive.",
            )
        )
    if rate < ANALYSIS_RATE:
        out.append(
            AudioWarning(
                WarningCode.LOW_RATE,
                f'"{name}" was recorded at {rate} Hz, so it holds no sound above {rate // 2} Hz; consonants such '
                f"as s, f and th are harder to detect and lip-sync may be less precise. Use {ANALYSIS_RATE} Hz or "
                "more when you can.",
            )
        )
    return out


def _downmix(original: np.ndarray, stats: _Stats, name: str) -> tuple[np.ndarray, AudioWarning | None]:
    """Average the channels; fall back to the loudest one when averaging cancels the sound.

    A stereo file with one channel phase-inverted (a miswired balanced cable) mixes to near
    silence; the test compares the mix against the level uncorrelated channels would give, so a
    5.1 mix with dialogue only in the centre channel is not mistaken for cancellation.
    """
    frames, channels = original.shape
    if channels == 1:
        return original[:, 0], None
    mono = original[:, 0].copy()
    for c in range(1, channels):
        mono += original[:, c]
    mono *= np.float32(1.0 / channels)
    means = stats.sums / frames
    ch_rms = np.sqrt(np.maximum(stats.sumsq / frames - means**2, 0.0))
    expected = math.sqrt(float(np.sum(ch_rms**2))) / channels
    mono_mean = float(np.mean(means))
    mono_rms = math.sqrt(max(float(np.dot(mono, mono)) / frames - mono_mean**2, 0.0))
    if mono_rms >= 0.3 * expected:
        return mono, None
    loudest = int(np.argmax(ch_rms))
    warning = AudioWarning(
        WarningCode.CHANNELS_CANCEL,
        f'The channels of "{name}" cancel each other out when mixed to mono (one is probably phase-inverted); '
        f"channel {loudest + 1} alone is used for analysis.",
    )
    return original[:, loudest], warning
