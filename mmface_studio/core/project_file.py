"""``.mmfs`` project files: one self-contained zip (DESIGN 4).

Layout::

    manifest.json         schema label + version and every document field (project_schema.py)
    arrays/base.npy       the generated base performance, channels x frames float32
    audio/original.flac   the audio at its original rate and channel count, 24-bit FLAC
                          (audio/original.wav, 32-bit float, when FLAC cannot hold it losslessly
                          enough: more than 8 channels, or peaks beyond full scale)

Saving is atomic (temp file in the same folder, fsync, rename): a full disk or a crash leaves
the previous file as it was. A save killed outright leaves its hidden temp file behind; saving or
opening a project in that folder sweeps the stale ones (``core.atomic.sweep_stale_parts``).
Opening treats the file as untrusted input: nothing is ever unpickled (``.npy`` headers are
parsed and the data read with ``np.frombuffer``), entry names with ``..``, absolute paths or
drive letters are refused (nothing is extracted to disk anyway), and the sizes the zip declares
are checked against limits and against the shapes the manifest promises before anything is
decompressed. Every failure is a ``ProjectFileError`` whose message names the file and the
problem.

The OpenTimelineIO-style adapter names ``read_from_file``/``write_to_file`` are aliases.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import re
import weakref
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from mmface_studio.core.atomic import atomic_write, sweep_stale_parts
from mmface_studio.core.project import Project
from mmface_studio.core.project_schema import ProjectFileError, from_manifest, to_manifest, upgrade

SUFFIX = ".mmfs"
MANIFEST = "manifest.json"
FLAC_ENTRY = "audio/original.flac"
WAV_ENTRY = "audio/original.wav"

# Limits on what an opened file may declare (zip bombs, absurd headers). Module constants so a
# caller with unusual needs (or a test) can change them.
MAX_ENTRIES = 256
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_ARRAY_BYTES = 1 * 2**30
MAX_AUDIO_BYTES = 2 * 2**30
MAX_AUDIO_SAMPLES = 512 * 2**20
MAX_TOTAL_BYTES = 4 * 2**30
_ENCODED: weakref.WeakKeyDictionary[Any, tuple[str, bytes]] = weakref.WeakKeyDictionary()
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # deterministic entries: equal projects give equal files
_CHUNK = 1 << 20


# --- saving --------------------------------------------------------------------------------------------


def save_project(project: Project, path: str | Path) -> Path:
    """Write ``project`` to ``path`` atomically; ``ProjectFileError`` (previous file intact) on failure."""
    out = Path(path)
    manifest, arrays = to_manifest(project)
    entries: list[tuple[str, bytes, int]] = []
    for name, values in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(values, dtype=np.float32), allow_pickle=False)
        entries.append((name, buffer.getvalue(), zipfile.ZIP_DEFLATED))
    if project.audio is not None:
        entry, data = _encode_audio(project.audio, out.name)
        manifest["audio"]["entry"] = entry
        entries.append((entry, data, zipfile.ZIP_STORED))
    text = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False)
    entries.insert(0, (MANIFEST, text.encode("utf-8"), zipfile.ZIP_DEFLATED))

    def write(handle: Any) -> None:
        with zipfile.ZipFile(handle, "w") as archive:
            for name, data, method in entries:
                info = zipfile.ZipInfo(name, _FIXED_TIME)
                info.compress_type = method
                archive.writestr(info, data)

    try:
        atomic_write(out, write)
    except OSError as exc:
        raise ProjectFileError(f"Could not save {out.name}: {_os_reason(exc)}. "
                               "The previous version of the file, if any, is unchanged.") from exc
    sweep_stale_parts(out.parent, (SUFFIX,))  # what earlier saves killed mid-write left beside it
    return out


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write in {Path(exc.filename).parent if exc.filename else 'that folder'}"
    return exc.strerror or str(exc)


def _encode_audio(clip: Any, name: str) -> tuple[str, bytes]:
    """The original samples as 24-bit FLAC, quantised explicitly (exact for <= 24-bit sources).

    Clips are immutable, so the encoding is remembered per clip: autosaving every minute then
    costs a file write, not another FLAC encode of the whole recording.
    """
    try:
        return _ENCODED[clip]
    except (KeyError, TypeError):
        pass
    encoded = _encode_audio_now(clip, name)
    try:
        _ENCODED[clip] = encoded
    except TypeError:  # not weak-referenceable: just do not remember it
        pass
    return encoded


def _encode_audio_now(clip: Any, name: str) -> tuple[str, bytes]:
    import soundfile as sf

    samples = np.asarray(clip.original, dtype=np.float32)
    buffer = io.BytesIO()
    try:
        if samples.shape[1] <= 8 and float(np.max(np.abs(samples), initial=0.0)) <= 1.0:
            scaled = np.round(samples.astype(np.float64) * 2.0**23)
            ints = np.clip(scaled, -(2**23), 2**23 - 1).astype(np.int32) << 8
            sf.write(buffer, ints, int(clip.original_rate), format="FLAC", subtype="PCM_24")
            return FLAC_ENTRY, buffer.getvalue()
        sf.write(buffer, samples, int(clip.original_rate), format="WAV", subtype="FLOAT")
        return WAV_ENTRY, buffer.getvalue()
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        raise ProjectFileError(f"Could not save {name}: the audio cannot be encoded ({exc}).") from exc


# --- opening -------------------------------------------------------------------------------------------


def load_project(path: str | Path) -> Project:
    """Open a project file (migrating older schema versions); ``ProjectFileError`` for anything wrong."""
    src = Path(path)
    name = src.name or str(src)
    if not src.exists():
        raise ProjectFileError(f"{src}: no such file.")
    if not src.is_file():
        raise ProjectFileError(f"{src} is not a file.")
    sweep_stale_parts(src.parent, (SUFFIX,))  # temp files of saves that were killed in this folder
    try:
        with zipfile.ZipFile(src) as archive:
            reader = _Reader(archive, name)
            manifest = upgrade(reader.manifest(), name)
            return from_manifest(manifest, name, reader.array, reader.audio)
    except ProjectFileError:
        raise
    except PermissionError:
        raise ProjectFileError(f"{name} cannot be opened: no permission to read it.") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, OSError,
            ValueError) as exc:
        raise ProjectFileError(f"{name} is damaged or is not an MMFace Studio project ({exc}).") from None


read_from_file = load_project
write_to_file = save_project


def _unsafe(entry: str) -> bool:
    parts = PurePosixPath(entry).parts
    return (not entry or entry.startswith(("/", "\\")) or "\\" in entry or "\x00" in entry
            or ":" in entry or ".." in parts)


class _Reader:
    """Bounded reads of the entries of one open archive."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.archive, self.name = archive, name
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ProjectFileError(f"{name} has {len(infos)} entries; a project has a handful. Refusing to open it.")
        self.entries: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if _unsafe(info.filename):
                raise ProjectFileError(f"{name} contains an unsafe entry name {info.filename!r}; refusing to open it.")
            if info.filename in self.entries:
                raise ProjectFileError(f"{name} contains the entry {info.filename!r} twice; refusing to open it.")
            if info.flag_bits & 0x1:
                raise ProjectFileError(f"{name} contains an encrypted entry; project files are never encrypted.")
            self.entries[info.filename] = info
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES:
            raise ProjectFileError(f"{name} declares {total / 2**30:.1f} GiB of content, more than a project can "
                                   f"hold ({MAX_TOTAL_BYTES / 2**30:.0f} GiB); refusing to unpack it.")

    def read(self, entry: str, limit: int, what: str) -> bytes:
        if _unsafe(entry):
            raise ProjectFileError(f"{self.name} names an unsafe {what} entry {entry!r}; refusing to open it.")
        info = self.entries.get(entry)
        if info is None:
            raise ProjectFileError(f"{self.name} is damaged: the {what} entry {entry!r} is missing.")
        if info.file_size > limit:
            raise ProjectFileError(f"{self.name} is damaged or malicious: its {what} entry declares "
                                   f"{info.file_size} bytes, more than the {limit} allowed.")
        chunks = []
        with self.archive.open(info) as fh:  # bounded by the declared size; CRC checked at the end
            while chunk := fh.read(_CHUNK):
                chunks.append(chunk)
        return b"".join(chunks)

    def manifest(self) -> Any:
        data = self.read(MANIFEST, MAX_MANIFEST_BYTES, "manifest")

        def refuse(constant: str) -> None:
            raise ValueError(f"the manifest contains {constant}")

        try:
            return json.loads(data.decode("utf-8"), parse_constant=refuse)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProjectFileError(f"{self.name} is damaged: its manifest is not valid JSON ({exc}).") from None

    def array(self, entry: str, shape: tuple[int, int]) -> np.ndarray:
        """A float array from an ``.npy`` entry without ever unpickling; ``shape`` -1 = any frames."""
        rows, frames = shape
        limit = MAX_ARRAY_BYTES if frames < 0 else min(MAX_ARRAY_BYTES, rows * frames * 8 + 4096)
        data = self.read(entry, limit, "array")
        return _parse_npy(data, f"{self.name}: entry {entry!r}", shape)

    def audio(self, info: dict[str, Any]) -> Any:
        import soundfile as sf

        from mmface_studio.audio import AudioError, clip_from_array

        entry = info.get("entry")
        if not isinstance(entry, str):
            raise ProjectFileError(f"{self.name} is damaged: the audio entry is not named.")
        data = self.read(entry, MAX_AUDIO_BYTES, "audio")
        where = f"{self.name}: the audio ({entry})"
        try:
            with sf.SoundFile(io.BytesIO(data)) as f:
                rate, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
                if frames * channels > MAX_AUDIO_SAMPLES:
                    raise ProjectFileError(f"{where} declares {frames} frames, more than can be held.")
                for key, have in (("rate", rate), ("channels", channels), ("frames", frames)):
                    if key in info and info[key] != have:
                        raise ProjectFileError(f"{where} does not match the manifest ({key} {have} vs {info[key]}).")
                samples = f.read(dtype="float32", always_2d=True)
        except ProjectFileError:
            raise
        except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
            reason = re.sub(r"^Error opening .*?: ", "", str(exc)).rstrip(".")
            raise ProjectFileError(f"{where} cannot be decoded ({reason}).") from None
        label = info.get("name")
        try:
            clip = clip_from_array(samples, rate, name=label if isinstance(label, str) and label else "audio")
        except AudioError as exc:
            raise ProjectFileError(f"{where} is unusable: {exc}") from None
        source = info.get("source")
        fmt, subtype = info.get("original_format"), info.get("original_subtype")
        return dataclasses.replace(clip, source=Path(source) if isinstance(source, str) and source else None,
                                   format=fmt if isinstance(fmt, str) else clip.format,
                                   subtype=subtype if isinstance(subtype, str) else clip.subtype)


def _parse_npy(data: bytes, where: str, shape: tuple[int, int]) -> np.ndarray:
    """Parse an ``.npy`` header and view its data; refuses object dtypes and any size mismatch."""
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            got, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            got, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, SyntaxError, TypeError) as exc:
        raise ProjectFileError(f"{where} is not a valid .npy array ({exc}).") from None
    if dtype.hasobject or dtype.kind != "f":
        raise ProjectFileError(f"{where} holds {dtype} data; only plain float arrays are accepted "
                               "(object or pickled arrays are never loaded).")
    rows, frames = shape
    if len(got) != 2 or got[0] != rows or (frames >= 0 and got[1] != frames):
        want = f"{rows} x {'frames' if frames < 0 else frames}"
        raise ProjectFileError(f"{where} has shape {got}, expected {want}.")
    count = int(got[0]) * int(got[1])
    if len(data) - fp.tell() != count * dtype.itemsize:
        raise ProjectFileError(f"{where} is truncated or padded ({len(data) - fp.tell()} bytes of data "
                               f"for a {got} {dtype} array).")
    values = np.frombuffer(data, dtype=dtype, count=count, offset=fp.tell())
    values = values.reshape(got, order="F" if fortran else "C").astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ProjectFileError(f"{where} contains NaN or infinite values.")
    return values
