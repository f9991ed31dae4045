"""What is at this path? Identification of a file's content and structure, for clear messages.

libsndfile decodes audio but says little about files it cannot decode ("Format not recognised")
and nothing about files it decodes only in part. This module looks at the bytes itself: access
problems, the content's real kind whatever its name (a PNG named .wav, an M4A, a text file),
the WAV chunk layout (codec tag, declared versus present data: truncation, unfinished headers),
OGG end-of-stream, and turns each finding into a message that names the file. It is an internal
helper of ``clip``; callers use ``load_audio``.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from mmface_studio.audio.errors import (
    AudioAccessError,
    AudioFileNotFoundError,
    AudioIsADirectoryError,
    AudioPermissionError,
    AudioWarning,
    CorruptAudioError,
    NotAudioError,
    UnsupportedCodecError,
    WarningCode,
)

_HEAD_BYTES = 512

# ---------------------------------------------------------------------------------------------
# access and identification


def read_head(path: Path) -> bytes:
    """First bytes of the file: the first time it is opened, so permission problems surface here."""
    with open(path, "rb") as fh:
        return fh.read(_HEAD_BYTES)


def check_access(path: Path, name: str) -> tuple[int, bytes]:
    """Turn every way a path can fail to be a readable file into a specific, worded error."""
    try:
        st = path.stat()
    except FileNotFoundError:
        where = path.parent if str(path.parent) not in ("", ".") else Path.cwd()
        raise AudioFileNotFoundError(f'"{name}" does not exist (looked in {where}).', path=path) from None
    except PermissionError:
        raise AudioPermissionError(
            f'"{name}" cannot be reached: permission to open its folder was denied.', path=path
        ) from None
    except OSError as exc:
        raise AudioAccessError(f'"{name}" cannot be opened: {exc.strerror or exc}.', path=path) from exc
    if stat.S_ISDIR(st.st_mode):
        raise AudioIsADirectoryError(
            f'"{name}" is a folder, not an audio file. Choose a recording inside it.', path=path
        )
    if not stat.S_ISREG(st.st_mode):
        raise AudioAccessError(f'"{name}" is not a regular file (it is a device, pipe or socket).', path=path)
    try:
        head = read_head(path)
    except PermissionError:
        raise AudioPermissionError(
            f'You do not have permission to read "{name}". Check its file permissions or copy it somewhere you own.',
            path=path,
        ) from None
    except OSError as exc:
        raise AudioAccessError(f'"{name}" cannot be read: {exc.strerror or exc}.', path=path) from exc
    return int(st.st_size), head


@dataclass(frozen=True)
class Sniff:
    kind: str  # "audio", "unsupported", "other" (definitely not audio), "text", "unknown"
    label: str  # what the content is, for messages ("a PNG image")
    container: str = ""
    strong: bool = True  # False for 2-3 byte signatures that headerless PCM can start with by chance


_MAGIC: tuple[tuple[int, bytes, str, str, str], ...] = (
    (0, b"fLaC", "audio", "FLAC", "FLAC"),
    (0, b"OggS", "audio", "OGG", "OGG"),
    (0, b"ID3", "audio", "MP3", "MP3"),
    (0, b"FORM", "audio", "AIFF", "AIFF"),
    (0, b".snd", "audio", "AU", "AU"),
    (0, b"caff", "audio", "CAF", "CAF"),
    (0, b"RF64", "audio", "RF64", "RF64"),
    (0, b"NIST_1A", "audio", "NIST", "NIST"),
    (4, b"ftyp", "unsupported", "an MPEG-4 file (M4A/AAC/ALAC audio or MP4 video)", ""),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "unsupported", "a Windows Media file (WMA/ASF)", ""),
    (0, b"\x1a\x45\xdf\xa3", "unsupported", "a Matroska/WebM file", ""),
    (0, b"#!AMR", "unsupported", "an AMR voice-memo file", ""),
    (0, b"wvpk", "unsupported", "a WavPack file", ""),
    (0, b"MAC ", "unsupported", "a Monkey's Audio (APE) file", ""),
    (0, b"\x89PNG\r\n\x1a\n", "other", "a PNG image", ""),
    (0, b"\xff\xd8\xff", "other", "a JPEG image", ""),
    (0, b"GIF8", "other", "a GIF image", ""),
    (0, b"%PDF", "other", "a PDF document", ""),
    (0, b"PK\x03\x04", "other", "a ZIP archive (or an Office document)", ""),
    (0, b"\x1f\x8b", "other", "a gzip archive", ""),
    (0, b"7z\xbc\xaf\x27\x1c", "other", "a 7-Zip archive", ""),
    (0, b"\x7fELF", "other", "a program (ELF executable)", ""),
)


def sniff(head: bytes) -> Sniff:
    """Identify the content from its first bytes, independently of the file name."""
    for offset, magic, kind, label, container in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if container == "OGG" and b"Speex" in head[:96]:
                return Sniff("unsupported", "an OGG Speex file")
            if container == "OGG" and b"OpusHead" in head[:96] and "OPUS" not in sf.available_subtypes("OGG"):
                return Sniff("unsupported", "an OGG Opus file (this libsndfile has no Opus decoder)")
            return Sniff(kind, label, container, strong=len(magic) >= 4)
    if head[:4] in (b"RIFF", b"RIFX"):
        sub = head[8:12]
        if sub == b"WAVE":
            return Sniff("audio", "WAV", "WAV")
        labels = {b"AVI ": "an AVI video", b"WEBP": "a WebP image", b"CDDA": "a CD track descriptor (.cda)"}
        return Sniff("other", labels.get(sub, f"a RIFF {sub.decode('latin-1').strip()!r} file, not WAVE audio"))
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        if (head[1] >> 1) & 3 == 0:
            return Sniff("unsupported", "raw AAC audio (ADTS)", strong=False)
        return Sniff("audio", "MP3", "MP3", strong=False)
    text = _text_kind(head)
    if text:
        return Sniff("text", text)
    return Sniff("unknown", "data of an unknown kind")


def _text_kind(head: bytes) -> str:
    """'a text file' / 'a web page (HTML)' when the bytes are readable text, else ''."""
    if not head or b"\x00" in head.lstrip(b"\xff\xfe"):
        return ""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
            return ""
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if printable < 0.95 * max(len(text), 1):
        return ""
    lowered = text.lstrip("\ufeff \r\n\t").lower()
    if lowered.startswith(("<!doctype html", "<html")):
        return "a web page (HTML; perhaps a failed download)"
    return "a text file"


def reject_known_non_audio(found: Sniff, path: Path, name: str, *, text_too: bool = False) -> None:
    """Fail before libsndfile for content we can name: its own errors would be vaguer.

    Text is normally left to libsndfile (a few audio formats have text headers) and named only
    when it fails; headerless PCM has no header, so there text is refused up front.
    """
    if found.kind == "other" or (text_too and found.kind == "text"):
        raise NotAudioError(f'"{name}" is {found.label}, not audio. {FORMATS_HINT}', path=path)
    if found.kind == "unsupported":
        raise UnsupportedCodecError(
            f'"{name}" is {found.label}, which this tool cannot decode. {CONVERT_HINT}', path=path
        )
    if found.container == "MP3" and "MP3" not in sf.available_formats():
        raise UnsupportedCodecError(
            f'"{name}" is an MP3 file, but the installed libsndfile ({sf.__libsndfile_version__}) cannot '
            f"decode MP3 (version 1.1 or newer is needed). {CONVERT_HINT}",
            path=path,
        )


FORMATS_HINT = "Audio files can be WAV, FLAC, OGG, MP3, AIFF, or headerless PCM named .raw/.pcm."
CONVERT_HINT = "Convert it to WAV or FLAC first (e.g. ffmpeg -i input output.wav)."


# ---------------------------------------------------------------------------------------------
# WAV layout (for messages libsndfile cannot give: truncation, unknown codec, unfinished header)


@dataclass(frozen=True)
class RiffInfo:
    format_tag: int | None
    data_offset: int | None
    data_size: int | None  # as declared by the header
    file_size: int
    block_align: int | None


_WAV_TAGS_DECODABLE = frozenset({0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031, 0x0040, 0x0055})
_WAV_CODEC_NAMES = {
    0x0050: "MPEG Layer 1/2",
    0x0055: "MP3",
    0x0092: "Dolby AC-3",
    0x00FF: "AAC",
    0x1610: "AAC",
    0xA106: "AAC",
    0x0160: "Windows Media Audio",
    0x0161: "Windows Media Audio",
    0x0162: "Windows Media Audio Pro",
    0x0163: "Windows Media Audio Lossless",
    0x2000: "Dolby AC-3",
    0x2001: "DTS",
    0x0022: "DSP Group TrueSpeech",
    0x6750: "Vorbis",
}


def riff_info(path: Path, file_size: int) -> RiffInfo | None:
    """Walk the RIFF chunks up to ``data``: the declared codec and data length, or None if unparsable."""
    tag = align = None
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            order = "big" if head[:4] == b"RIFX" else "little"
            pos = 12
            for _ in range(512):
                fh.seek(pos)
                hdr = fh.read(8)
                if len(hdr) < 8:
                    break
                cid, size = hdr[:4], int.from_bytes(hdr[4:], order)
                if cid == b"fmt ":
                    body = fh.read(min(size, 40))
                    if len(body) >= 16:
                        tag = int.from_bytes(body[:2], order)
                        align = int.from_bytes(body[12:14], order)
                    if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: real codec in the GUID
                        tag = int.from_bytes(body[24:26], order)
                elif cid == b"data":
                    return RiffInfo(tag, pos + 8, size, file_size, align)
                pos += 8 + size + (size & 1)
    except OSError:
        return None
    return RiffInfo(tag, None, None, file_size, align)


def explain_open_failure(
    path: Path, name: str, found: Sniff, riff: RiffInfo | None, exc: sf.LibsndfileError
) -> Exception:
    """The most specific error for a file libsndfile refused to open, from what the bytes say."""
    reason = decoder_reason(exc)
    if riff is not None and riff.format_tag is not None and riff.format_tag not in _WAV_TAGS_DECODABLE:
        codec = _WAV_CODEC_NAMES.get(riff.format_tag, f"codec 0x{riff.format_tag:04X}")
        return UnsupportedCodecError(
            f'"{name}" is a WAV file whose audio is encoded as {codec}, which this tool cannot decode. {CONVERT_HINT}',
            path=path,
        )
    if getattr(exc, "code", None) == 4:  # SF_ERR_UNSUPPORTED_ENCODING
        return UnsupportedCodecError(
            f'"{name}" uses an audio encoding this tool cannot decode ({reason}). {CONVERT_HINT}', path=path
        )
    if found.kind == "audio":
        return CorruptAudioError(
            f'"{name}" looks like {article(found.label)} file but is damaged or incomplete and cannot be decoded '
            f"({reason}). Try exporting or downloading it again.",
            path=path,
        )
    if found.kind == "text":
        return NotAudioError(f'"{name}" is {found.label}, not audio. {FORMATS_HINT}', path=path)
    return NotAudioError(
        f'"{name}" is not a recognised audio file: its content is not WAV, FLAC, OGG, MP3 or any other known '
        "audio format. If it is headerless PCM, name it .raw and give its sample rate and format.",
        path=path,
    )


def decoder_reason(exc: BaseException) -> str:
    """libsndfile's own words for a failure, without its "Error :" prefix or final period."""
    text = str(getattr(exc, "error_string", "") or exc).strip()
    if text.lower().startswith("error"):
        text = text[5:].lstrip(" :")
    return text.rstrip(".") or type(exc).__name__


def truncation_warning(
    name: str,
    rate: int,
    frames: int,
    expected: int,
    read_error: str | None,
    riff: RiffInfo | None,
    channels: int,
) -> AudioWarning | None:
    got = fmt_duration(frames / rate)
    if read_error is not None:
        total = f" of {fmt_duration(expected / rate)}" if expected > frames else ""
        return AudioWarning(
            WarningCode.TRUNCATED,
            f'"{name}" could only be decoded up to {got}{total}: the file is probably incomplete (an '
            f"interrupted copy, download or recording) or damaged there. The readable {got} are used.",
        )
    if riff is not None and riff.data_offset is not None and riff.data_size:
        present = riff.file_size - riff.data_offset
        if riff.data_size > present:
            if riff.data_size >= 0xFFFFFFF0:
                return AudioWarning(
                    WarningCode.TRUNCATED,
                    f'The header of "{name}" carries no valid length (typical of a streamed or unfinished '
                    f"recording); the {got} in the file are used, but the recording may be incomplete.",
                )
            if riff.block_align:
                said = f"promises {fmt_duration(riff.data_size / riff.block_align / rate)} of audio"
            else:
                said = f"promises {riff.data_size} bytes of audio"
            return AudioWarning(
                WarningCode.TRUNCATED,
                f'The header of "{name}" {said} but the file holds only {got}: it was probably cut short (an '
                f"interrupted copy, download or recording), or its header is wrong. The {got} present are used.",
            )
        return None
    if expected > 0 and expected - frames > max(0.01 * expected, 0.05 * rate):
        return AudioWarning(
            WarningCode.TRUNCATED,
            f'"{name}" should be {fmt_duration(expected / rate)} long but only {got} could be read; it is probably '
            "incomplete. The readable part is used.",
        )
    return None


def ogg_is_complete(path: Path, size: int) -> bool:
    """Whether the last OGG page is whole and flagged end-of-stream; libsndfile does not tell.

    An OGG stream only knows its length from its last page, so a cut file silently reads as a
    shorter recording; the missing end-of-stream flag (or a page cut in half) is the evidence.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
    except OSError:
        return True
    at = tail.rfind(b"OggS")
    if at < 0 or at + 27 > len(tail):
        return False
    n_segments = tail[at + 26]
    table = tail[at + 27 : at + 27 + n_segments]
    if len(table) < n_segments or at + 27 + n_segments + sum(table) > len(tail):
        return False
    return bool(tail[at + 5] & 0x04)


def empty_message(name: str, fmt: str, riff: RiffInfo | None) -> str:
    msg = f'"{name}" contains no audio samples: its {fmt} header is there but the audio data is empty.'
    if riff is not None and riff.data_offset is not None and riff.data_size == 0:
        trailing = riff.file_size - riff.data_offset
        if trailing > 0:
            msg += (
                f" Its header declares 0 bytes of audio although {trailing} bytes follow: the recording was "
                "probably never finalised (the recorder crashed or was stopped abruptly). Tools that ignore the "
                "header length (e.g. sox --ignore-length) can recover it."
            )
    return msg


def article(label: str) -> str:
    """The right article for a format name as it is spoken: "an MP3", "an OGG", "a WAV"."""
    return ("an " if label[:1] in "AEIOU" or label in ("MP3", "RF64", "NIST") else "a ") + label


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
