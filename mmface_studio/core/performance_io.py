"""Performance files written by ``mmface-studio generate``: ``.npz`` and ``.json``.

Both hold the channel names, fps, space, the channels x frames values and the
provenance. ``.npz`` is read with ``allow_pickle=False``: a file from outside
can never run code when opened.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mmface_studio.core.atomic import atomic_write
from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import SpaceError, space_by_name

FORMAT = "mmface-performance"
VERSION = 1


class PerformanceFileError(Exception):
    """A performance file cannot be read or written; the message names the file and the problem."""


def _header(perf: Performance) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "fps": perf.fps, "space": perf.space.name,
            "channels": list(perf.space.names), "frames": perf.frame_count, "provenance": perf.provenance}


def save_performance(perf: Performance, path: str | Path) -> Path:
    """Write ``.npz`` or ``.json`` (by suffix), atomically."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix == ".npz":
        header = json.dumps(_header(perf), default=str)
        atomic_write(out, lambda fh: np.savez_compressed(fh, values=perf.values, header=np.array(header)))
    elif suffix == ".json":
        doc = _header(perf) | {"values": np.round(perf.values, 6).tolist()}
        atomic_write(out, lambda fh: fh.write(json.dumps(doc, default=str).encode()))
    else:
        raise PerformanceFileError(f"{out.name}: performance files end in .npz or .json, not '{suffix}'.")
    return out


def _from_header(header: dict[str, Any], values: np.ndarray, name: str) -> Performance:
    if header.get("format") != FORMAT:
        raise PerformanceFileError(f"{name} is not an MMFace Studio performance file.")
    if int(header.get("version", 0)) > VERSION:
        raise PerformanceFileError(f"{name} was written by a newer MMFace Studio (format version "
                                   f"{header['version']}); this one reads up to {VERSION}.")
    try:
        space = space_by_name(header["space"])
        channels = list(header["channels"])
        if channels != list(space.names):
            # Reorder by name so files from other channel orders still load; unknown names are an error.
            full = np.repeat(space.defaults[:, None], values.shape[1], axis=1)
            for row, channel in enumerate(channels):
                full[space.index[channel]] = values[row]
            values = full
        return Performance(float(header["fps"]), space, values, dict(header.get("provenance") or {}))
    except (KeyError, TypeError, ValueError, SpaceError) as exc:
        raise PerformanceFileError(f"{name} is damaged: {exc}") from None


def load_performance(path: str | Path) -> Performance:
    src = Path(path)
    if not src.is_file():
        raise PerformanceFileError(f"{src}: no such file.")
    suffix = src.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(src, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                values = np.asarray(data["values"], dtype=np.float32)
        elif suffix == ".json":
            doc = json.loads(src.read_text())
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise PerformanceFileError(f"{src.name} is not an MMFace Studio performance file.")
            header, values = doc, np.asarray(doc["values"], dtype=np.float32)
        else:
            raise PerformanceFileError(f"{src.name}: expected a .npz or .json performance file.")
    except PerformanceFileError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise PerformanceFileError(f"{src.name} could not be read as a performance file ({exc}).") from None
    if values.ndim != 2:
        raise PerformanceFileError(f"{src.name} is damaged: values must be channels x frames.")
    return _from_header(header, values, src.name)
