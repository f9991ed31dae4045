"""Loading and validation against a corpus of broken and unusual files made in tmp_path.

Every case must end in one of two ways: an ``AudioClip`` whose contents are right, or the
specific ``AudioError`` subclass with a message that names the file. Anything else (a
``soundfile`` exception, a numpy error, a crash) fails the corpus test.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mmface_studio.audio import (
    ANALYSIS_RATE,
    AudioClip,
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
    clip_from_array,
    load_audio,
    probe,
)
from mmface_studio.audio import clip as clip_module

F0 = 150.0
SPEECH_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "speech" / "dev"


# ---------------------------------------------------------------------------------------------
# signal and file helpers


def voice(rate: int, seconds: float = 1.0, *, f0: float = F0, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    """A harmonic complex (1/k amplitudes, so the strongest partial is f0) in frames x channels."""
    t = np.arange(int(round(rate * seconds))) / rate
    x = sum(np.sin(2 * np.pi * f0 * k * t + 0.3 * k) / k for k in range(1, 16) if f0 * k < 0.45 * rate)
    x = (amp * x / np.max(np.abs(x))).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def write(path: Path, data: np.ndarray, rate: int, **kwargs: object) -> Path:
    sf.write(str(path), data, rate, **kwargs)
    return path


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def chunk_offset(blob: bytes, chunk: bytes) -> int:
    """Offset of a RIFF chunk header (its id) found by walking the chunks."""
    pos = 12
    while pos + 8 <= len(blob):
        if blob[pos : pos + 4] == chunk:
            return pos
        pos += 8 + struct.unpack("<I", blob[pos + 4 : pos + 8])[0]
    raise AssertionError(f"no {chunk!r} chunk")


def patch_wav(
    src: Path, dst: Path, *, data_size: int | None = None, fmt_tag: int | None = None, keep_bytes: int | None = None
) -> Path:
    blob = bytearray(src.read_bytes())
    if data_size is not None:
        off = chunk_offset(blob, b"data")
        blob[off + 4 : off + 8] = struct.pack("<I", data_size)
    if fmt_tag is not None:
        off = chunk_offset(blob, b"fmt ")
        blob[off + 8 : off + 10] = struct.pack("<H", fmt_tag)
    if keep_bytes is not None:
        del blob[keep_bytes:]
    dst.write_bytes(bytes(blob))
    return dst


def mp3_writable() -> bool:
    return "MP3" in sf.available_formats() and "MPEG_LAYER_III" in sf.available_subtypes("MP3")


# ---------------------------------------------------------------------------------------------
# the corpus


@dataclass
class Case:
    build: Callable[[Path], Path]
    error: type[AudioError] | None = None  # expected error class, or None when it must load
    words: tuple[str, ...] = ()  # expected in the error message (besides the file name)
    warns: tuple[WarningCode, ...] = ()  # expected warning codes on success
    check: Callable[[AudioClip], None] | None = None
    load_kwargs: dict[str, object] = field(default_factory=dict)
    needs_mp3: bool = False


def _good(rate: int, channels: int = 1, seconds: float = 1.0) -> Callable[[AudioClip], None]:
    def check(c: AudioClip) -> None:
        assert c.original.dtype == np.float32 and c.original.shape == (round(rate * seconds), channels)
        assert c.original_rate == rate
        assert c.analysis.dtype == np.float32 and c.analysis.ndim == 1
        assert abs(c.analysis.shape[0] - seconds * ANALYSIS_RATE) <= 1
        assert c.duration == pytest.approx(seconds, abs=1.0 / rate)
        assert peak_hz(c.analysis, ANALYSIS_RATE) == pytest.approx(F0, abs=2.0)

    return check


def _wav(name: str, rate: int = 16000, channels: int = 1, **kw: object) -> Callable[[Path], Path]:
    return lambda d: write(d / name, voice(rate, channels=channels), rate, **kw)


def _bytes(name: str, blob: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / name).write_bytes(blob)
        return d / name

    return build


def _derived(name: str, **patch: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        src = write(d / f"src_{name}", voice(16000, 2.0), 16000, subtype="PCM_16", format="WAV")
        return patch_wav(src, d / name, **patch)

    return build


def _truncated_compressed(name: str, fmt: str, fraction: float, seconds: float = 4.0) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        full = write(d / f"full_{name}", voice(16000, seconds), 16000, format=fmt)
        blob = full.read_bytes()
        (d / name).write_bytes(blob[: int(len(blob) * fraction)])
        return d / name

    return build


def _six_channel(d: Path) -> Path:
    data = np.zeros((16000, 6), np.float32)
    data[:, 2] = voice(16000)[:, 0]  # dialogue in the centre channel only, as in a 5.1 mix
    data[:, 3] = 0.05 * voice(16000, f0=60.0)[:, 0]  # LFE rumble
    return write(d / "surround.wav", data, 16000)


def _phase_inverted(d: Path) -> Path:
    x = voice(16000)[:, 0]
    return write(d / "inverted.wav", np.stack([x, -x], axis=1), 16000)


def _clipped(d: Path) -> Path:
    return write(d / "clipped.wav", np.clip(voice(16000, amp=4.0), -1.0, 1.0), 16000, subtype="PCM_16")


def _nan(value: float) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        x = voice(16000)
        x[8000] = value
        return write(d / f"bad_{value}.wav", x, 16000, subtype="FLOAT")

    return build


def _raw(name: str, data: np.ndarray, extra: bytes = b"") -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / name).write_bytes(data.tobytes() + extra)
        return d / name

    return build


def _check_truncated(expected_max_s: float) -> Callable[[AudioClip], None]:
    def check(c: AudioClip) -> None:
        assert 0.1 < c.duration < expected_max_s
        assert c.analysis.shape[0] == pytest.approx(c.duration * ANALYSIS_RATE, abs=2)

    return check


def _check_quiet(c: AudioClip) -> None:
    assert peak_hz(c.analysis, ANALYSIS_RATE) == pytest.approx(F0, abs=2.0)
    assert np.max(np.abs(c.analysis)) < 0.01


def _check_dc(c: AudioClip) -> None:
    assert abs(float(np.mean(c.analysis))) < 1e-3  # removed for analysis
    assert float(np.mean(c.original)) == pytest.approx(0.3, abs=0.01)  # kept for playback


def _check_inverted(c: AudioClip) -> None:
    assert peak_hz(c.analysis, ANALYSIS_RATE) == pytest.approx(F0, abs=2.0)
    assert np.std(c.analysis) > 0.1


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(2000)
RANDOM = np.random.default_rng(7).bytes(20000)

CORPUS: dict[str, Case] = {
    # --- files that must be refused, each with its own error -------------------------------
    "empty_file": Case(_bytes("empty.wav", b""), EmptyAudioError, ("empty file",)),
    "zero_length_data_chunk": Case(
        _derived("zero_data.wav", data_size=0, keep_bytes=44), EmptyAudioError, ("no audio samples",)
    ),
    "unfinalised_zero_length_header": Case(
        _derived("unfinalised.wav", data_size=0), EmptyAudioError, ("never finalised",)
    ),
    "random_bytes_named_wav": Case(_bytes("noise.wav", RANDOM), NotAudioError, ("not a recognised audio file",)),
    "random_bytes_named_mp3": Case(_bytes("noise.mp3", RANDOM), NotAudioError, ("not a recognised audio file",)),
    "text_named_mp3": Case(
        _bytes("notes.mp3", b"Scene 4, take 2: say the line slower.\n" * 40), NotAudioError, ("text file",)
    ),
    "html_named_wav": Case(
        _bytes("download.wav", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"),
        NotAudioError,
        ("web page",),
    ),
    "png_named_wav": Case(_bytes("picture.wav", PNG), NotAudioError, ("PNG image",)),
    "m4a_container": Case(_bytes("voice_memo.m4a", M4A), UnsupportedCodecError, ("MPEG-4", "Convert")),
    "wav_with_wma_codec": Case(
        _derived("wma_inside.wav", fmt_tag=0x0161), UnsupportedCodecError, ("Windows Media Audio",)
    ),
    "ogg_cut_in_its_headers": Case(
        _truncated_compressed("cut_early.ogg", "OGG", 0.1), CorruptAudioError, ("an OGG file", "damaged or incomplete")
    ),
    "ogg_cut_before_a_full_page": Case(
        _truncated_compressed("cut_mid.ogg", "OGG", 0.45), CorruptAudioError, ("an OGG file", "cut short")
    ),
    "flac_cut_in_its_header": Case(
        _truncated_compressed("cut_early.flac", "FLAC", 0.002), CorruptAudioError, ("a FLAC file",)
    ),
    "rate_1000_hz": Case(lambda d: write(d / "r1000.wav", voice(1000), 1000), SampleRateError, ("1000 Hz",)),
    "rate_768000_hz": Case(lambda d: write(d / "r768k.wav", voice(16000), 768000), SampleRateError, ("768000 Hz",)),
    "nan_in_float_wav": Case(_nan(float("nan")), NonFiniteSamplesError, ("NaN", "0.500 s")),
    "inf_in_float_wav": Case(_nan(float("inf")), NonFiniteSamplesError, ("infinity",)),
    "all_silent": Case(
        lambda d: write(d / "silent.wav", np.zeros(16000, np.float32), 16000), SilentAudioError, ("silence",)
    ),
    "dc_offset_only": Case(
        lambda d: write(d / "dc.wav", np.full(16000, 0.25, np.float32), 16000), SilentAudioError, ("constant offset",)
    ),
    "too_short_50ms": Case(lambda d: write(d / "blip.wav", voice(16000, 0.05), 16000), AudioTooShortError, ("50 ms",)),
    "raw_without_rate": Case(
        _raw("take.raw", (voice(16000) * 32767).astype("<i2")), RawFormatError, ("headerless", "sample rate")
    ),
    "raw_bad_subtype": Case(
        _raw("take2.pcm", (voice(16000) * 32767).astype("<i2")),
        RawFormatError,
        ("PCM_12",),
        load_kwargs={"raw_rate": 16000, "raw_subtype": "PCM_12"},
    ),
    "raw_rate_out_of_range": Case(
        _raw("take3.raw", (voice(16000) * 32767).astype("<i2")),
        SampleRateError,
        ("500000 Hz",),
        load_kwargs={"raw_rate": 500000},
    ),
    # --- odd but valid files: must load, with the right warnings ----------------------------
    "pcm_u8": Case(_wav("u8.wav", subtype="PCM_U8"), check=_good(16000)),
    "pcm_24": Case(_wav("s24.wav", 48000, subtype="PCM_24"), check=_good(48000)),
    "float32": Case(_wav("f32.wav", 44100, subtype="FLOAT"), check=_good(44100)),
    "float_over_full_scale": Case(
        lambda d: write(d / "hot.wav", voice(16000, amp=3.0), 16000, subtype="FLOAT"),
        warns=(WarningCode.CLIPPED,),
        check=_good(16000),
    ),
    "ulaw": Case(_wav("ulaw.wav", 8000, subtype="ULAW"), warns=(WarningCode.LOW_RATE,), check=_good(8000)),
    "six_channels": Case(_six_channel, check=_good(16000, 6)),
    "mono_8k": Case(_wav("mono8k.wav", 8000), warns=(WarningCode.LOW_RATE,), check=_good(8000)),
    "rate_11025": Case(_wav("r11025.wav", 11025), warns=(WarningCode.LOW_RATE,), check=_good(11025)),
    "rate_22050_stereo": Case(_wav("r22050.wav", 22050, channels=2), check=_good(22050, 2)),
    "rate_96000": Case(_wav("r96k.wav", 96000, subtype="PCM_24"), check=_good(96000)),
    "rate_192000": Case(_wav("r192k.wav", 192000), check=_good(192000)),
    "flac": Case(_wav("take.flac", 44100, format="FLAC"), check=_good(44100)),
    "ogg_vorbis": Case(_wav("take.ogg", 48000, format="OGG", subtype="VORBIS"), check=_good(48000)),
    "aiff": Case(_wav("take.aiff", 44100, format="AIFF"), check=_good(44100)),
    "mp3": Case(_wav("take.mp3", 44100, format="MP3"), check=_good(44100), needs_mp3=True),
    "wav_named_mp3": Case(_wav("actually_wav.mp3", 16000, format="WAV"), check=_good(16000)),
    "truncated_wav": Case(
        _derived("cut.wav", keep_bytes=44 + 16000), warns=(WarningCode.TRUNCATED,), check=_check_truncated(1.0)
    ),
    "huge_bogus_header_length": Case(
        _derived("bogus.wav", data_size=0x7FFFFFF0), warns=(WarningCode.TRUNCATED,), check=_check_truncated(2.01)
    ),
    "streamed_header_ffffffff": Case(
        _derived("streamed.wav", data_size=0xFFFFFFFF), warns=(WarningCode.TRUNCATED,), check=_check_truncated(2.01)
    ),
    "truncated_ogg": Case(
        _truncated_compressed("cut_late.ogg", "OGG", 0.7), warns=(WarningCode.TRUNCATED,), check=_check_truncated(4.0)
    ),
    "truncated_flac": Case(
        _truncated_compressed("cut.flac", "FLAC", 0.5), warns=(WarningCode.TRUNCATED,), check=_check_truncated(4.0)
    ),
    "truncated_mp3": Case(
        _truncated_compressed("cut.mp3", "MP3", 0.5),
        warns=(WarningCode.TRUNCATED,),
        check=_check_truncated(4.0),
        needs_mp3=True,
    ),
    "very_quiet": Case(
        lambda d: write(d / "quiet.wav", voice(16000, amp=0.003), 16000, subtype="PCM_24"),
        warns=(WarningCode.QUIET,),
        check=_check_quiet,
    ),
    "heavily_clipped": Case(_clipped, warns=(WarningCode.CLIPPED,)),
    "dc_offset_with_speech": Case(
        lambda d: write(d / "offset.wav", voice(16000, amp=0.3) + 0.3, 16000),
        warns=(WarningCode.DC_OFFSET,),
        check=_check_dc,
    ),
    "phase_inverted_stereo": Case(_phase_inverted, warns=(WarningCode.CHANNELS_CANCEL,), check=_check_inverted),
    "raw_pcm16": Case(
        _raw("take4.raw", (voice(16000) * 32767).astype("<i2")), check=_good(16000), load_kwargs={"raw_rate": 16000}
    ),
    "raw_float_stereo_48k": Case(
        _raw("take5.pcm", voice(48000, channels=2).astype("<f4")),
        check=_good(48000, 2),
        load_kwargs={"raw_rate": 48000, "raw_channels": 2, "raw_subtype": "FLOAT"},
    ),
    "raw_odd_size": Case(
        _raw("take6.raw", (voice(16000) * 32767).astype("<i2"), extra=b"\x01"),
        warns=(WarningCode.RAW_SIZE_MISMATCH,),
        check=_good(16000),
        load_kwargs={"raw_rate": 16000},
    ),
    "raw_starting_with_an_mp3_like_sync": Case(
        _raw("hiss.raw", np.concatenate([[-1, -16], (voice(16000)[2:, 0] * 32767)]).astype("<i2")),
        check=_good(16000),
        load_kwargs={"raw_rate": 16000},
    ),
    "png_named_raw": Case(_bytes("image.raw", PNG), NotAudioError, ("PNG image",), load_kwargs={"raw_rate": 16000}),
    "text_named_pcm": Case(
        _bytes("readme.pcm", b"Recorded at 48 kHz, 2 channels.\n" * 30),
        NotAudioError,
        ("text file",),
        load_kwargs={"raw_rate": 48000},
    ),
    "raw_that_is_really_wav": Case(_wav("has_header.raw", 22050, format="WAV"), check=_good(22050)),
}


@pytest.mark.parametrize("case_id", sorted(CORPUS))
def test_corpus(case_id: str, tmp_path: Path) -> None:
    case = CORPUS[case_id]
    if case.needs_mp3 and not mp3_writable():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write MP3")
    path = case.build(tmp_path)
    if case.error is not None:
        with pytest.raises(AudioError) as info:
            load_audio(path, **case.load_kwargs)
        err = info.value
        assert type(err) is case.error, f"{type(err).__name__}: {err}"
        assert path.name in str(err)
        assert err.path == path
        for word in case.words:
            assert word in str(err)
        return
    clip = load_audio(path, **case.load_kwargs)
    codes = {w.code for w in clip.warnings}
    assert codes == set(case.warns), [w.message for w in clip.warnings]
    for w in clip.warnings:
        assert isinstance(w, AudioWarning) and path.name in w.message
    assert not clip.original.flags.writeable and not clip.analysis.flags.writeable
    assert np.isfinite(clip.analysis).all()
    if case.check is not None:
        case.check(clip)


def test_corpus_is_large_enough() -> None:
    assert sum(c.error is not None for c in CORPUS.values()) >= 20
    assert len(CORPUS) >= 40


def test_mp3_round_trip(tmp_path: Path) -> None:
    if not mp3_writable():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write MP3")
    clip = load_audio(write(tmp_path / "take.mp3", voice(44100, 2.0), 44100, format="MP3"))
    assert clip.format == "MP3" and clip.original_rate == 44100
    assert clip.duration == pytest.approx(2.0, abs=0.06)  # encoder padding
    assert peak_hz(clip.analysis, ANALYSIS_RATE) == pytest.approx(F0, abs=2.0)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileNotFoundError, match="nowhere.wav.*does not exist"):
        load_audio(tmp_path / "nowhere.wav")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "takes.wav").mkdir()
    with pytest.raises(AudioIsADirectoryError, match='"takes.wav" is a folder'):
        load_audio(tmp_path / "takes.wav")


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "locked.wav", voice(16000), 16000)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root reads any file, so a chmod cannot produce the error: simulate the OS refusal.
        def refuse(p: Path) -> bytes:
            raise PermissionError(13, "Permission denied", str(p))

        monkeypatch.setattr(probe, "read_head", refuse)
    else:
        path.chmod(0)
    try:
        with pytest.raises(AudioPermissionError, match='permission to read "locked.wav"'):
            load_audio(path)
    finally:
        path.chmod(0o644)


def test_long_file_warns_but_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clip_module, "LONG_DURATION_S", 1.5)  # a real 30-minute file would slow the suite
    clip = load_audio(write(tmp_path / "audiobook.wav", voice(16000, 2.0), 16000))
    assert [w.code for w in clip.warnings] == [WarningCode.LONG]
    assert "audiobook.wav" in clip.warnings[0].message


def test_long_duration_message_reads_well() -> None:
    assert probe.fmt_duration(31 * 60 + 5) == "31 min 05 s"
    assert probe.fmt_duration(2 * 3600 + 60) == "2 h 01 min"


def test_too_large_for_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clip_module, "MAX_SAMPLES", 8000)
    with pytest.raises(AudioTooLongError, match="Split it"):
        load_audio(write(tmp_path / "epic.wav", voice(16000), 16000))


def test_error_family_is_one_tree() -> None:
    for cls in (NotAudioError, CorruptAudioError, UnsupportedCodecError):
        assert issubclass(cls, UnreadableAudioError)
    for cls in (
        AudioFileNotFoundError,
        AudioIsADirectoryError,
        AudioPermissionError,
        RawFormatError,
        SampleRateError,
        EmptyAudioError,
        AudioTooShortError,
        AudioTooLongError,
        SilentAudioError,
        NonFiniteSamplesError,
        AudioDataError,
        UnreadableAudioError,
    ):
        assert issubclass(cls, AudioError) and issubclass(AudioError, Exception)


# ---------------------------------------------------------------------------------------------
# in-memory arrays go through the same validation


def test_array_float_mono() -> None:
    clip = clip_from_array(voice(48000)[:, 0], 48000, name="mic")
    assert clip.source is None and clip.name == "mic" and clip.channels == 1
    assert clip.analysis.shape == (16000,)
    assert peak_hz(clip.analysis, ANALYSIS_RATE) == pytest.approx(F0, abs=2.0)


@pytest.mark.parametrize("dtype, scale, offset", [("int16", 32767, 0), ("int32", 2**31 - 1, 0), ("uint8", 127, 128)])
def test_array_integer_formats(dtype: str, scale: int, offset: int) -> None:
    ints = (voice(16000, channels=2) * scale + offset).astype(dtype)
    clip = clip_from_array(ints, 16000)
    assert clip.channels == 2
    np.testing.assert_allclose(clip.original, voice(16000, channels=2), atol=2.0 / 128)


def test_array_copies_input() -> None:
    x = voice(16000)[:, 0].copy()
    clip = clip_from_array(x, 16000)
    x[:] = 0
    assert np.abs(clip.original).max() > 0.1


@pytest.mark.parametrize(
    "samples, rate, error, words",
    [
        (np.zeros((2, 16000), np.float32), 16000, AudioDataError, "transpose"),
        (np.arange(16000), 16000, AudioDataError, "int64"),
        (np.zeros((10, 10, 10), np.float32), 16000, AudioDataError, "shape"),
        (np.array([], np.float32), 16000, EmptyAudioError, "no audio"),
        (np.full(16000, np.nan, np.float32), 16000, NonFiniteSamplesError, "NaN"),
        (np.zeros(16000, np.float32), 16000, SilentAudioError, "silence"),
        (voice(16000, 0.02)[:, 0], 16000, AudioTooShortError, "20 ms"),
        (voice(16000)[:, 0], 2000, SampleRateError, "2000 Hz"),
        (voice(16000)[:, 0], "fast", SampleRateError, "not a whole number"),
        (voice(16000)[:, 0], 44100.5, SampleRateError, "not a whole number"),
    ],
)
def test_array_errors(samples: np.ndarray, rate: object, error: type[AudioError], words: str) -> None:
    with pytest.raises(error, match=words) as info:
        clip_from_array(samples, rate, name="mic take")  # type: ignore[arg-type]
    assert "mic take" in str(info.value)


# ---------------------------------------------------------------------------------------------
# real recordings (../shared/speech), when present


def _speech_or_skip() -> Path:
    if not (SPEECH_DIR / "wav16k").is_dir():
        pytest.skip(f"shared speech recordings not found at {SPEECH_DIR}")
    return SPEECH_DIR


@pytest.mark.parametrize(
    "clip_id, original, kwargs",
    [
        ("mfa_common_voice_en_22058264", "mfa_common_voice_en_22058264.mp3", {}),
        ("mfa_61_70968_0000", "mfa_61_70968_0000.flac", {}),
        ("ps_goforward", "ps_goforward.raw", {"raw_rate": 16000}),
    ],
)
def test_real_originals_match_their_16k_copies(clip_id: str, original: str, kwargs: dict[str, int]) -> None:
    """The 48 kHz MP3, the FLAC and the headerless PCM give the same analysis signal as the
    independently made 16 kHz WAV copies: decoding and resampling are right."""
    root = _speech_or_skip()
    reference = load_audio(root / "wav16k" / f"{clip_id}.wav")
    clip = load_audio(root / "original" / original, **kwargs)
    assert clip.warnings == [] and reference.warnings == []
    assert clip.analysis.shape == reference.analysis.shape
    assert np.corrcoef(clip.analysis, reference.analysis)[0, 1] > 0.999


def test_real_clips_all_load_cleanly() -> None:
    root = _speech_or_skip()
    for path in sorted((root / "wav16k").glob("*.wav")):
        clip = load_audio(path)
        info = sf.info(str(path))
        assert clip.duration == pytest.approx(info.frames / info.samplerate)
        assert clip.warnings == [], (path.name, [w.message for w in clip.warnings])
