"""Exporters: one adapter module per file format, chosen by suffix (DESIGN 6).

Every adapter module has ``SUFFIXES`` and ``write_to_file(performance, rig, path, options=None,
progress=None, cancel=None)``, the OpenTimelineIO pattern: the registry below only maps a suffix
to a module name and imports it on first use, so ``--version`` never pays for usd-core or
pygltflib, and a format whose library is missing fails with a clear message only when chosen.

The pieces every adapter shares live here too: :class:`ExportOptions` (frame rate, frame range,
step, up axis, units), :func:`sample_frames` (which frames, at what times, with what channel
values), the axis/unit conversion, and the progress/cancel helpers.

Frame numbers are 0-based everywhere (frame ``f`` shows time ``f / fps``), as in ``Performance``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mmface_studio.core.atomic import atomic_write
from mmface_studio.core.performance import Performance
from mmface_studio.export.errors import ExportCancelled, ExportError

#: Suffix -> adapter module (imported lazily by name).
ADAPTERS: dict[str, str] = {
    ".fbx": "mmface_studio.export.fbx",
    ".obj": "mmface_studio.export.obj_sequence",
    ".glb": "mmface_studio.export.gltf",
    ".gltf": "mmface_studio.export.gltf",
    ".usda": "mmface_studio.export.usd",
    ".usdc": "mmface_studio.export.usd",
    ".usd": "mmface_studio.export.usd",
    ".csv": "mmface_studio.export.arkit_csv",
}

#: ``progress(fraction 0..1, message)``, the same shape as the engine's progress callback.
ProgressCallback = Callable[[float, str], None]

UP_AXES = ("Y", "Z")
UNITS = {"m": 1.0, "cm": 100.0}


def export_error(message: str) -> Exception:
    """An ``ExportError`` with a user-facing message."""
    return ExportError(message)


@dataclass(frozen=True)
class ExportOptions:
    """What the user chose in the export dialog or on the command line.

    ``fps``: output frame rate (None keeps the performance's; other rates resample the channels
    linearly). ``frame_range``: first and last output frame, inclusive (None: from the start / to
    the end). ``step``: write every n-th frame. ``up``/``units``: the target's up axis ("Y" or
    "Z") and length unit ("m" or "cm"); formats that fix these (glTF) refuse other values.
    """

    fps: float | None = None
    frame_range: tuple[int | None, int | None] = (None, None)
    step: int = 1
    up: str = "Y"
    units: str = "m"

    def __post_init__(self) -> None:
        if self.fps is not None and not (math.isfinite(self.fps) and 1.0 <= self.fps <= 1000.0):
            raise export_error(f"fps must be between 1 and 1000, got {self.fps:g}.")
        if int(self.step) != self.step or self.step < 1:
            raise export_error(f"step must be a whole number >= 1, got {self.step}.")
        up = str(self.up).upper()
        if up not in UP_AXES:
            raise export_error(f"up axis must be Y or Z, got {self.up!r}.")
        object.__setattr__(self, "up", up)
        if self.units not in UNITS:
            raise export_error(f"units must be m or cm, got {self.units!r}.")
        start, end = self.frame_range
        if (start is not None and start < 0) or (end is not None and end < 0):
            raise export_error(f"frame range needs frames >= 0, got {start}:{end}.")
        if start is not None and end is not None and end < start:
            raise export_error(f"frame range ends before it starts ({start}:{end}).")

    @classmethod
    def coerce(cls, options: ExportOptions | Mapping[str, Any] | None) -> ExportOptions:
        """Options from a mapping (``range`` may be "A:B" text); unknown keys are an error, not ignored."""
        if options is None:
            return cls()
        if isinstance(options, ExportOptions):
            return options
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in dict(options).items() if v is not None}
        if "range" in values:
            values["frame_range"] = values.pop("range")
        if isinstance(values.get("frame_range"), str):
            values["frame_range"] = parse_range(values["frame_range"])
        unknown = sorted(set(values) - known)
        if unknown:
            raise export_error(f"Unknown export option(s): {', '.join(unknown)}.")
        return cls(**values)

    @property
    def scale(self) -> float:
        """Metres -> output units."""
        return UNITS[self.units]

    @property
    def axes(self) -> np.ndarray:
        """(3, 3) rotation from the rigs' Y-up, +Z-forward space to the output's up axis.

        Z-up is the Blender/3ds Max/Unreal convention: +90 degrees about X, so Y becomes Z and the
        face (+Z) looks along -Y, the front view of those tools.
        """
        if self.up == "Y":
            return np.eye(3)
        return np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

    def points(self, xyz: np.ndarray) -> np.ndarray:
        """Rig-space points (..., 3) in metres -> output axes and units (float64)."""
        return (np.asarray(xyz, dtype=np.float64) @ self.axes.T) * self.scale

    def directions(self, xyz: np.ndarray) -> np.ndarray:
        """Rig-space directions (normals) -> output axes (no scaling)."""
        return np.asarray(xyz, dtype=np.float64) @ self.axes.T

    def rotations(self, matrices: np.ndarray) -> np.ndarray:
        """Rig-space rotation matrices (..., 3, 3) -> output axes (conjugated by the axis change)."""
        c = self.axes
        return c @ np.asarray(matrices, dtype=np.float64) @ c.T


def parse_range(text: str) -> tuple[int | None, int | None]:
    """``"A:B"``, ``"A:"`` or ``":B"`` (inclusive, 0-based frames) -> (start, end)."""
    head, sep, tail = str(text).partition(":")
    if not sep:
        raise export_error(f"frame range must look like A:B (e.g. 0:120), got {text!r}.")
    try:
        return (int(head) if head.strip() else None, int(tail) if tail.strip() else None)
    except ValueError:
        raise export_error(f"frame range must be whole frame numbers like 0:120, got {text!r}.") from None


@dataclass(frozen=True)
class FrameSampling:
    """The frames an export writes: numbers at ``fps``, their times, and channel values (channels x N)."""

    fps: float
    frames: np.ndarray
    values: np.ndarray

    @property
    def times(self) -> np.ndarray:
        return self.frames / self.fps

    def __len__(self) -> int:
        return int(self.frames.size)


def sample_frames(perf: Performance, options: ExportOptions) -> FrameSampling:
    """Resolve fps, range and step against a performance (the end of the range is clamped to the clip)."""
    fps = float(options.fps or perf.fps)
    last_time = (perf.frame_count - 1) / perf.fps
    last = int(math.floor(last_time * fps + 1e-6))
    start, end = options.frame_range
    start = 0 if start is None else int(start)
    end = last if end is None else min(int(end), last)
    if start > last:
        raise export_error(f"frame range starts at {start}, after the last frame ({last}) of this "
                           f"{perf.duration:.2f} s performance at {fps:g} fps.")
    frames = np.arange(start, end + 1, int(options.step), dtype=np.int64)
    source = frames * (perf.fps / fps)
    if fps == perf.fps:
        values = perf.values[:, frames]
    else:
        lo = np.clip(np.floor(source).astype(np.int64), 0, perf.frame_count - 1)
        hi = np.minimum(lo + 1, perf.frame_count - 1)
        u = (source - lo).astype(np.float32)
        values = perf.values[:, lo] * (1.0 - u) + perf.values[:, hi] * u
    return FrameSampling(fps, frames, np.ascontiguousarray(values, dtype=np.float32))


def check_space(perf: Performance, rig: Any) -> None:
    """Exporters evaluate the rig on the performance's channels: the spaces must agree."""
    if perf.space.name != rig.space.name:
        raise export_error(f"This is a {perf.space.name} performance but {rig.name} is driven by "
                           f"{rig.space.name}; convert the performance first or pick a {perf.space.name} rig.")


def part_face_indices(rig: Any) -> list[np.ndarray]:
    """Each part's triangles as row numbers of ``rig.faces`` (to find their per-corner UVs).

    Parts need not be contiguous runs of ``rig.faces`` (FLAME's eyes are scattered), so triangles
    are matched by their vertex triple.
    """
    n = np.int64(max(int(rig.faces.max()) + 1, 1))

    def keys(tris: np.ndarray) -> np.ndarray:
        t = tris.astype(np.int64)
        return (t[:, 0] * n + t[:, 1]) * n + t[:, 2]

    all_keys = keys(rig.faces)
    order = np.argsort(all_keys, kind="stable")
    ids = []
    for part in rig.parts:
        pos = np.searchsorted(all_keys[order], keys(part.faces))
        found = order[np.minimum(pos, len(order) - 1)]
        if part.faces.size and not np.array_equal(rig.faces[found], part.faces):
            raise export_error(f"Part '{part.name}' has triangles that are not in the rig's face list.")
        ids.append(found)
    return ids


def check_cancel(cancel: Any) -> None:
    """Raise ``ExportCancelled`` when ``cancel`` (a CancelToken-like ``.cancelled`` or a callable) says so."""
    if cancel is None:
        return
    flag = getattr(cancel, "cancelled", None)
    if flag is None and callable(cancel):
        flag = cancel()
    if flag:
        raise ExportCancelled("Export was cancelled.")


def report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def write_output(path: str | Path, write: Callable[[Any], object]) -> Path:
    """:func:`atomic_write` with OS failures (read-only folder, full disk) turned into an ``ExportError``."""
    out = Path(path)
    try:
        return atomic_write(out, write)
    except OSError as exc:
        raise export_error(f"Could not write {out}: {exc.strerror or exc}.") from None


def suffixes() -> tuple[str, ...]:
    return tuple(ADAPTERS)


def adapter_for(path: str | Path) -> ModuleType:
    """The adapter module for ``path``'s suffix (an ``ExportError`` names the supported ones)."""
    suffix = Path(path).suffix.lower()
    name = ADAPTERS.get(suffix)
    if name is None:
        raise export_error(f"Cannot export to '{suffix or Path(path).name}': use one of {', '.join(ADAPTERS)}.")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise export_error(f"The {suffix} exporter is not available here ({missing} is not installed).") from None


def export_performance(performance: Performance, rig: Any, path: str | Path, *,
                       progress: ProgressCallback | None = None, cancel: Any = None, **options: Any) -> Path:
    """Write ``performance`` on ``rig`` to ``path`` with the adapter its suffix selects.

    Options are :class:`ExportOptions` fields (``fps``, ``frame_range`` or ``range``, ``step``,
    ``up``, ``units``). Raises ``ExportError`` (message for the user) or ``ExportCancelled``; in
    both cases nothing is left under the final name.
    """
    out = Path(path)
    module = adapter_for(out)
    relay = None
    if progress is not None:
        def relay(fraction: float, message: str = "") -> None:  # adapters report (f) or (f, message)
            progress(fraction, message)
    if module.__name__.endswith(".arkit_csv"):
        return _write_arkit_csv(module, performance, out, options, relay, cancel)
    return Path(module.write_to_file(performance, rig, out, options=options, progress=relay, cancel=cancel))


def _write_arkit_csv(module: ModuleType, performance: Performance, out: Path, options: Mapping[str, Any],
                     progress: ProgressCallback | None, cancel: Any) -> Path:
    """ARKit CSV writes channels, not geometry: apply fps/range/step here, ignore up/units."""
    opts = ExportOptions.coerce(options)
    check_cancel(cancel)
    sampled = sample_frames(performance, opts)
    clip = Performance(sampled.fps, performance.space, sampled.values, dict(performance.provenance))
    try:
        written = module.write_to_file(clip, out)
    except module.ArkitCsvError as exc:
        raise export_error(str(exc)) from None
    except OSError as exc:
        raise export_error(f"Could not write {out}: {exc.strerror or exc}.") from None
    report(progress, 1.0, "done")
    return Path(written)
