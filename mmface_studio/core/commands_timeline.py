"""Commands on the generated base, head-pose locks, markers and settings (see ``commands``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mmface_studio.core.command_base import TOLERANCE, SnapshotCommand, close_enough
from mmface_studio.core.performance import Performance
from mmface_studio.core.project import META_FIELDS, POSE_CHANNELS, Project, normalise
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.core.timeline_items import LockRange, Marker
from mmface_studio.core.undo import EditError

_MERGEABLE_FIELDS = frozenset({"prompt", "transcript", "identity", "emotion_prior_weight"})
_LABELS = {"emotion_prior_weight": "follow-voice weight"}  # the undo text says what the control says


class SetBasePerformance(SnapshotCommand):
    """Install a generation result as the base (its fps becomes the project's)."""

    def __init__(self, project: Project, performance: Performance, text: str = "Generate") -> None:
        super().__init__(project, text, ("base", "fps"))
        self.performance = performance

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        return {"base": normalise("base", self.performance), "fps": self.performance.fps}


class SetPoseTake(SnapshotCommand):
    """Replace the head-pose rows of the base by a re-sampled take (a Performance or a 3 x T array).

    ``pose_seed``/``pose_style``: the settings that produced the take, recorded with it.
    """

    def __init__(self, project: Project, take: Performance | np.ndarray, pose_seed: int | None = None,
                 pose_style: str | None = None) -> None:
        super().__init__(project, "Re-sample head pose", ("base", "pose_seed", "pose_style"))
        self.take, self.pose_seed, self.pose_style = take, pose_seed, pose_style

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        base: Performance | None = current["base"]
        if base is None:
            raise EditError("Generate a performance before re-sampling its head pose.")
        rows = [ARKIT52.index[c] for c in POSE_CHANNELS]
        if isinstance(self.take, Performance):
            if self.take.space.name != ARKIT52.name:
                raise EditError(f"A pose take must be in {ARKIT52.name}, got {self.take.space.name}.")
            pose = self.take.values[rows]
        else:
            pose = np.asarray(self.take, dtype=np.float32)
        if pose.shape != (len(rows), base.frame_count):
            raise EditError(f"The pose take has shape {pose.shape}; the base needs {len(rows)} x {base.frame_count}.")
        values = base.values.copy()
        values[rows] = pose
        seed = current["pose_seed"] if self.pose_seed is None else self.pose_seed
        style = current["pose_style"] if self.pose_style is None else self.pose_style
        provenance = {**base.provenance, "seed": seed, "pose_style": style}
        return {"base": normalise("base", Performance(base.fps, ARKIT52, values, provenance)),
                "pose_seed": seed, "pose_style": style}


def resample_performance(perf: Performance, fps: float) -> Performance:
    """``perf`` linearly resampled to ``fps`` over the same duration (used when the project fps changes)."""
    count = max(1, int(math.ceil(perf.frame_count / perf.fps * fps - 1e-6)))
    position = np.arange(count) * (perf.fps / fps)
    i0 = np.clip(np.floor(position).astype(int), 0, perf.frame_count - 1)
    i1 = np.minimum(i0 + 1, perf.frame_count - 1)
    frac = np.clip(position - i0, 0.0, 1.0).astype(np.float32)
    values = perf.values[:, i0] * (1 - frac) + perf.values[:, i1] * frac
    return Performance(fps, perf.space, values, {**perf.provenance, "resampled_from_fps": perf.fps})


class AddPoseLock(SnapshotCommand):
    """Lock the head pose between ``start`` and ``end`` seconds (kept when the pose is re-sampled)."""

    def __init__(self, project: Project, start: float, end: float) -> None:
        super().__init__(project, "Lock head pose", ("locks",))
        self.start, self.end = start, end

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        lock = LockRange(self.start, self.end)
        if lock in current["locks"]:
            raise EditError(f"{lock.start:g}..{lock.end:g} s is already locked.")
        return {"locks": (*current["locks"], lock)}


class RemovePoseLock(SnapshotCommand):
    """Remove a lock (a ``LockRange`` from ``project.locks`` or a ``(start, end)`` pair)."""

    def __init__(self, project: Project, lock: LockRange | tuple[float, float]) -> None:
        super().__init__(project, "Unlock head pose", ("locks",))
        self.lock = lock

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        start, end = (float(x) for x in self.lock)
        kept = tuple(lk for lk in current["locks"] if not close_enough((lk.start, lk.end), (start, end)))
        if len(kept) == len(current["locks"]):
            raise EditError(f"There is no head-pose lock at {start:g}..{end:g} s.")
        return {"locks": kept}


# --- markers -------------------------------------------------------------------------------------------


def _without_marker(markers: tuple[Marker, ...], marker: Marker) -> tuple[Marker, ...]:
    for i, m in enumerate(markers):
        if m.label == marker.label and abs(m.time - marker.time) < TOLERANCE:
            return markers[:i] + markers[i + 1:]
    raise EditError(f"There is no marker {marker.label!r} at {marker.time:g} s.")


class AddMarker(SnapshotCommand):
    def __init__(self, project: Project, time: float, label: str = "") -> None:
        super().__init__(project, "Add marker", ("markers",))
        self.time, self.label = time, label

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        marker = Marker(self.time, self.label)
        if any(m.label == marker.label and abs(m.time - marker.time) < TOLERANCE for m in current["markers"]):
            raise EditError(f"There is already a marker {marker.label!r} at {marker.time:g} s.")
        return {"markers": (*current["markers"], marker)}


class MoveMarker(SnapshotCommand):
    """Move ``marker`` (from ``project.markers``) to ``time`` seconds. Drags merge."""

    mergeable = True

    def __init__(self, project: Project, marker: Marker, time: float) -> None:
        super().__init__(project, "Move marker", ("markers",))
        self.marker, self.time = marker, time
        self._grab = ("marker", marker.label, marker.time)

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        new = Marker(self.time, self.marker.label)
        self._release = ("marker", new.label, new.time)
        return {"markers": (*_without_marker(current["markers"], self.marker), new)}


class RenameMarker(SnapshotCommand):
    def __init__(self, project: Project, marker: Marker, label: str) -> None:
        super().__init__(project, "Rename marker", ("markers",))
        self.marker, self.label = marker, label

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        new = Marker(self.marker.time, self.label)
        return {"markers": (*_without_marker(current["markers"], self.marker), new)}


class RemoveMarker(SnapshotCommand):
    def __init__(self, project: Project, marker: Marker) -> None:
        super().__init__(project, "Remove marker", ("markers",))
        self.marker = marker

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        return {"markers": _without_marker(current["markers"], self.marker)}


# --- settings ------------------------------------------------------------------------------------------


class SetProperty(SnapshotCommand):
    """Set one setting: "prompt", "transcript", "rig", "identity", "fps", "pose_seed", "pose_style", "engine",
    "emotion_prior_weight".

    Changing fps resamples the base to the new rate in the same step. Consecutive edits of the
    prompt, transcript, identity or follow-voice weight (typing, slider drags) merge.
    """

    def __init__(self, project: Project, field: str, value: Any) -> None:
        if field not in META_FIELDS:
            raise EditError(f"Unknown setting {field!r}; settings: {', '.join(META_FIELDS)}.")
        label = _LABELS.get(field, field.replace("_", " "))
        super().__init__(project, f"Set {label}", ("fps", "base") if field == "fps" else (field,))
        self.field, self.value = field, value
        self.mergeable = field in _MERGEABLE_FIELDS
        self._grab = self._release = ("setting", field)

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        value = normalise(self.field, self.value)
        if self.field != "fps":
            return {self.field: value}
        base = current["base"]
        if base is not None and abs(base.fps - value) > 1e-9:
            base = normalise("base", resample_performance(base, value))
        return {"fps": value, "base": base}


class SetAudio(SnapshotCommand):
    """Replace the audio (an ``AudioClip``; None removes it). The base is regenerated separately."""

    def __init__(self, project: Project, clip: Any) -> None:
        super().__init__(project, "Set audio", ("audio",))
        self.clip = clip

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        return {"audio": self.clip}


#: Every command class by name (for a GUI's action table and the tests).
