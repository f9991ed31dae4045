"""ARKit CSV in the Live Link Face layout, which Unreal's Live Link Face importer reads.

Columns: ``Timecode, BlendShapeCount``, the 52 blendshapes with a capital first
letter (``EyeBlinkLeft``...), then ``HeadYaw, HeadPitch, HeadRoll`` and the eye
yaw/pitch/roll angles. Timecode is ``HH:MM:SS:FF.mmm`` counted from zero.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from mmface_studio.core.atomic import atomic_write
from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES, ARKIT_POSE_CHANNELS

SUFFIXES = (".csv",)


class ArkitCsvError(Exception):
    """The CSV cannot be written from this performance, or read back."""


def column_names() -> list[str]:
    return ["Timecode", "BlendShapeCount"] + [n[0].upper() + n[1:] for n in ARKIT_BLENDSHAPES] + list(
        ARKIT_POSE_CHANNELS)


def timecode(frame: int, fps: float) -> str:
    whole_fps = max(1, int(round(fps)))
    seconds_total, ff = divmod(frame, whole_fps)
    hours, rest = divmod(seconds_total, 3600)
    minutes, seconds = divmod(rest, 60)
    millis = int(round((frame / fps) % 1.0 * 1000)) % 1000
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{ff:02d}.{millis:03d}"


def to_csv_text(perf: Performance) -> str:
    if perf.space.name != ARKIT52.name:
        raise ArkitCsvError(f"ARKit CSV needs an arkit52 performance, not {perf.space.name}; convert it first.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(column_names())
    count = len(ARKIT_BLENDSHAPES) + len(ARKIT_POSE_CHANNELS)
    for frame in range(perf.frame_count):
        column = perf.values[:, frame]
        writer.writerow([timecode(frame, perf.fps), count, *(f"{v:.6f}" for v in column)])
    return buffer.getvalue()


def write_to_file(perf: Performance, path: str | Path) -> Path:
    out = Path(path)
    text = to_csv_text(perf)
    atomic_write(out, lambda fh: fh.write(text.encode()))
    return out


def read_from_file(path: str | Path, fps: float = 30.0) -> Performance:
    """Read a Live Link Face CSV (ours or the app's) into an arkit52 performance, matching columns by name."""
    src = Path(path)
    try:
        rows = list(csv.reader(src.read_text().splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise ArkitCsvError(f"{src.name} could not be read: {exc}") from None
    if not rows or rows[0][:2] != ["Timecode", "BlendShapeCount"]:
        raise ArkitCsvError(f"{src.name} does not start with the Live Link Face header (Timecode,BlendShapeCount,…).")
    header = rows[0]
    lookup = {name.lower(): i for i, name in enumerate(ARKIT52.names)}
    values = np.repeat(ARKIT52.defaults[:, None], len(rows) - 1, axis=1)
    for col, name in enumerate(header[2:], start=2):
        row_index = lookup.get(name.lower())
        if row_index is None:
            continue
        try:
            values[row_index] = [float(r[col]) for r in rows[1:]]
        except (ValueError, IndexError):
            raise ArkitCsvError(f"{src.name}: column {name} has a missing or non-numeric value.") from None
    return Performance(fps, ARKIT52, values, {"source": str(src)})
