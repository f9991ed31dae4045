"""The user-visible edits of a project, as undoable commands for the ``UndoStack``.

Usage from the GUI::

    stack.push(MoveEmotionKeys(project, [1.0, 2.5], delta=0.2))   # executes and records it
    stack.undo()

Every command snapshots the *slots* it touches (a project field such as "emotion", or
"layer:<channel>" for one channel's curve): on its first ``do`` it reads the current values,
computes the new ones (raising ``EditError`` before changing anything when the edit is
impossible), and from then on ``do``/``undo`` just put the new/old immutable values back. That
makes undo exact by construction, which the property test in ``tests/core`` checks.

Keys are addressed by time (within 1e-6 s), as the timeline shows them. Drag-like commands
(``MoveEmotionKeys``, ``DragEmotionKeys``, ``SetEmotionKey``, ``MoveChannelKeys``, ``SetChannelKey``,
``SetKeyTangents``, ``MoveMarker``, ``SetProperty`` for text, identity and the follow-voice weight)
merge when a push continues the previous
one: it grabs what the previous one left (the moved keys at their new times, the same key, the
same field). Call ``stack.seal()`` on mouse release to end a gesture.

Emotion and channel-layer commands are defined here; those on the base, pose locks, markers and
settings in ``commands_timeline``; all are importable from this module (and ``core.document``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from mmface_studio.core.command_base import TOLERANCE, SnapshotCommand
from mmface_studio.core.commands_timeline import (
    AddMarker,
    AddPoseLock,
    MoveMarker,
    RemoveMarker,
    RemovePoseLock,
    RenameMarker,
    SetAudio,
    SetBasePerformance,
    SetPoseTake,
    SetProperty,
    resample_performance,
)
from mmface_studio.core.curves import Curve, CurveKey
from mmface_studio.core.emotion_track import EmotionKey, EmotionTrack, RequestError, emotion_index
from mmface_studio.core.project import DocumentError, Project, check_channel
from mmface_studio.core.undo import Command, EditError

# --- emotion track -------------------------------------------------------------------------------------


def _emotion_find(track: EmotionTrack, time: float) -> int:
    for i, key in enumerate(track.keys):
        if abs(key.time - float(time)) < TOLERANCE:
            return i
    raise EditError(f"There is no emotion key at {float(time):g} s.")


def _emotion_has(track: EmotionTrack, time: float) -> bool:
    return any(abs(k.time - time) < TOLERANCE for k in track.keys)


class AddEmotionKey(SnapshotCommand):
    """Add an emotion key (``EmotionKey(t, project.emotion_at(t))`` starts from the current blend)."""

    def __init__(self, project: Project, key: EmotionKey) -> None:
        super().__init__(project, "Add emotion key", ("emotion",))
        self.key = key

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        track = current["emotion"]
        if _emotion_has(track, self.key.time):
            raise EditError(f"There is already an emotion key at {self.key.time:g} s.")
        return {"emotion": EmotionTrack((*track.keys, self.key))}


class SetEmotionKey(SnapshotCommand):
    """Change a key's intensities and/or interpolation.

    ``values``: all 7 intensities (a sequence in ``EMOTIONS`` order) or some by name
    (``{"happiness": 0.8}``; others keep their value). Slider drags on one key merge.
    """

    mergeable = True

    def __init__(self, project: Project, time: float, values: Sequence[float] | Mapping[str, float] | None = None,
                 interpolation: str | None = None) -> None:
        super().__init__(project, "Change emotion key", ("emotion",))
        self.time, self.values, self.interpolation = float(time), values, interpolation
        self._grab = self._release = ("emotion-key", self.time)

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        track = current["emotion"]
        i = _emotion_find(track, self.time)
        key = track.keys[i]
        gammas = list(key.gammas)
        if isinstance(self.values, Mapping):
            for name, value in self.values.items():
                gammas[emotion_index(name)] = value
        elif self.values is not None:
            gammas = list(self.values)
        new = EmotionKey(key.time, tuple(gammas), self.interpolation or key.interpolation)
        return {"emotion": EmotionTrack((*track.keys[:i], new, *track.keys[i + 1:]))}


class MoveEmotionKeys(SnapshotCommand):
    """Move the keys at ``times`` by ``delta`` seconds (box selection; never before 0 s). Drags merge."""

    mergeable = True

    def __init__(self, project: Project, times: Sequence[float], delta: float) -> None:
        super().__init__(project, "Move emotion keys", ("emotion",))
        self.times = tuple(sorted(float(t) for t in times))
        self.delta = float(delta)
        self._grab = ("emotion-move", self.times)

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        track = current["emotion"]
        picked = {_emotion_find(track, t) for t in self.times}
        if not picked or not math.isfinite(self.delta):
            raise EditError("Select the emotion keys to move.")
        delta = max(self.delta, -min(track.keys[i].time for i in picked))
        keys = [replace(k, time=k.time + delta) if i in picked else k for i, k in enumerate(track.keys)]
        try:
            new = EmotionTrack(tuple(keys))
        except RequestError:
            raise EditError("The moved emotion keys would land on another key.") from None
        self._release = ("emotion-move", tuple(sorted(t + delta for t in self.times)))
        return {"emotion": new}


class DragEmotionKeys(SnapshotCommand):
    """Move emotion keys by ``dt`` seconds and add ``dv`` to some of their intensities, in one step.

    Why it exists: a curve-editor drag changes a key's time and an intensity at once, and
    ``MoveEmotionKeys`` (time) and ``SetEmotionKey`` (one key's values) alternating on the stack
    cannot merge, so a drag would leave dozens of undo steps. This one merges like the other drag
    commands: each push grabs the keys where the previous one left them. ``edits`` maps a key time
    to the indices (``EMOTIONS`` order) of the intensities that move; intensities stay in 0..1 and
    keys never go before 0 s.
    """

    mergeable = True

    def __init__(self, project: Project, edits: Mapping[float, Sequence[int]], dt: float, dv: float) -> None:
        super().__init__(project, "Drag emotion keys", ("emotion",))
        self.edits = {float(t): tuple(sorted({int(e) for e in ix})) for t, ix in edits.items()}
        self.dt, self.dv = float(dt), float(dv)
        self._grab = ("emotion-drag", tuple(sorted(self.edits)))

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        track: EmotionTrack = current["emotion"]
        if not self.edits or not (math.isfinite(self.dt) and math.isfinite(self.dv)):
            raise EditError("Select the emotion keys to drag.")
        picked = {_emotion_find(track, t): indices for t, indices in self.edits.items()}
        dt = max(self.dt, -min(track.keys[i].time for i in picked))
        keys = list(track.keys)
        for i, indices in picked.items():
            gammas = list(keys[i].gammas)
            for e in indices:
                if not 0 <= e < len(gammas):
                    raise EditError(f"There is no emotion number {e}.")
                gammas[e] = min(max(gammas[e] + self.dv, 0.0), 1.0)
            keys[i] = replace(keys[i], time=keys[i].time + dt, gammas=tuple(gammas))
        try:
            new = EmotionTrack(tuple(keys))
        except RequestError:
            raise EditError("The dragged emotion keys would land on another key.") from None
        self._release = ("emotion-drag", tuple(sorted(track.keys[i].time + dt for i in picked)))
        return {"emotion": new}


class DeleteEmotionKeys(SnapshotCommand):
    """Delete the emotion keys at ``times`` (an empty track evaluates as neutral)."""

    def __init__(self, project: Project, times: Sequence[float]) -> None:
        super().__init__(project, "Delete emotion keys", ("emotion",))
        self.times = tuple(float(t) for t in times)

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        track = current["emotion"]
        drop = {_emotion_find(track, t) for t in self.times}
        return {"emotion": EmotionTrack(tuple(k for i, k in enumerate(track.keys) if i not in drop))}


class PasteEmotionKeys(SnapshotCommand):
    """Paste copied keys, the earliest at ``at`` seconds (or at their own times); they replace keys there."""

    def __init__(self, project: Project, keys: Sequence[EmotionKey], at: float | None = None) -> None:
        super().__init__(project, "Paste emotion keys", ("emotion",))
        self.keys, self.at = tuple(keys), at

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        if not self.keys:
            raise EditError("There are no emotion keys to paste.")
        shift = 0.0 if self.at is None else float(self.at) - min(k.time for k in self.keys)
        pasted = [replace(k, time=k.time + shift) for k in self.keys]
        kept = [k for k in current["emotion"].keys if not any(abs(k.time - p.time) < TOLERANCE for p in pasted)]
        return {"emotion": EmotionTrack((*kept, *pasted))}


class SetEmotionTrack(SnapshotCommand):
    """Replace the whole emotion track (e.g. typed as text: ``EmotionTrack.parse("happy:0.8@2")``)."""

    def __init__(self, project: Project, track: EmotionTrack) -> None:
        super().__init__(project, "Set emotion track", ("emotion",))
        self.track = track

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        return {"emotion": self.track}


# --- channel layers ------------------------------------------------------------------------------------


def _slot(channel: str) -> str:
    try:
        return f"layer:{check_channel(channel)}"
    except DocumentError as exc:
        raise EditError(str(exc)) from None


class AddChannelKey(SnapshotCommand):
    """Add a key to the offset curve of ``channel`` (values are added to the generated base)."""

    def __init__(self, project: Project, channel: str, key: CurveKey) -> None:
        super().__init__(project, f"Add key on {channel}", (_slot(channel),))
        self.channel, self.key = channel, key

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        slot = self._slots[0]
        return {slot: current[slot].with_key(self.key)}


class SetChannelKey(SnapshotCommand):
    """Change the value and/or interpolation of the key at ``time`` on ``channel``. Drags merge."""

    mergeable = True

    def __init__(self, project: Project, channel: str, time: float, value: float | None = None,
                 interpolation: str | None = None) -> None:
        super().__init__(project, f"Change key on {channel}", (_slot(channel),))
        self.channel, self.time, self.value, self.interpolation = channel, float(time), value, interpolation
        self._grab = self._release = ("channel-key", channel, self.time)

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        slot = self._slots[0]
        curve: Curve = current[slot]
        key = curve.key_at(self.time)
        new = replace(key, value=key.value if self.value is None else self.value,
                      interpolation=self.interpolation or key.interpolation)
        return {slot: curve.replaced(self.time, new)}


class SetKeyTangents(SnapshotCommand):
    """Set the in/out slopes (value per second) of the key at ``time``; ``None`` = auto. Drags merge."""

    mergeable = True

    def __init__(self, project: Project, channel: str, time: float, in_tangent: float | None,
                 out_tangent: float | None) -> None:
        super().__init__(project, f"Change tangents on {channel}", (_slot(channel),))
        self.channel, self.time = channel, float(time)
        self.in_tangent, self.out_tangent = in_tangent, out_tangent
        self._grab = self._release = ("tangents", channel, self.time)

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        slot = self._slots[0]
        curve: Curve = current[slot]
        key = replace(curve.key_at(self.time), in_tangent=self.in_tangent, out_tangent=self.out_tangent)
        return {slot: curve.replaced(self.time, key)}


def _selection(selection: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, ...]]:
    picked = {ch: tuple(sorted(float(t) for t in times)) for ch, times in sorted(selection.items()) if len(times)}
    if not picked:
        raise EditError("Select the keys first.")
    for channel in picked:
        _slot(channel)
    return picked


class MoveChannelKeys(SnapshotCommand):
    """Move keys of one or more channels (``{"jawOpen": [1.0, 1.5]}``) by ``dt`` seconds and ``dv``.

    A box selection in the curve editor; never moves a key before 0 s. Drags merge.
    """

    mergeable = True

    def __init__(self, project: Project, selection: Mapping[str, Sequence[float]], dt: float = 0.0,
                 dv: float = 0.0) -> None:
        self.selection = _selection(selection)
        super().__init__(project, "Move keys", tuple(_slot(ch) for ch in self.selection))
        self.dt, self.dv = float(dt), float(dv)
        self._grab = ("channel-move", tuple(self.selection.items()))

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        if not (math.isfinite(self.dt) and math.isfinite(self.dv)):
            raise EditError("A move must be by a finite amount.")
        earliest = min(t for times in self.selection.values() for t in times)
        dt = max(self.dt, -earliest)
        new = {_slot(ch): current[_slot(ch)].moved(times, dt, self.dv) for ch, times in self.selection.items()}
        self._release = ("channel-move", tuple((ch, tuple(t + dt for t in times))
                                              for ch, times in self.selection.items()))
        return new


class DeleteChannelKeys(SnapshotCommand):
    """Delete keys of one or more channels (``{"jawOpen": [1.0]}``)."""

    def __init__(self, project: Project, selection: Mapping[str, Sequence[float]]) -> None:
        self.selection = _selection(selection)
        super().__init__(project, "Delete keys", tuple(_slot(ch) for ch in self.selection))

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        return {_slot(ch): current[_slot(ch)].without(times) for ch, times in self.selection.items()}


class SetLayerCurve(SnapshotCommand):
    """Replace the whole offset curve of ``channel`` (``Curve()`` clears it)."""

    def __init__(self, project: Project, channel: str, curve: Curve) -> None:
        super().__init__(project, f"Set curve of {channel}", (_slot(channel),))
        self.curve = curve

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        return {self._slots[0]: self.curve}


class ClearLayers(SnapshotCommand):
    """Remove the edit layers of ``channels`` (default: every layer), back to the generated base."""

    def __init__(self, project: Project, channels: Sequence[str] | None = None) -> None:
        chosen = sorted(project.layers) if channels is None else sorted(set(channels))
        super().__init__(project, "Clear edits", tuple(_slot(ch) for ch in chosen))

    def _compute(self, current: dict[str, Any]) -> dict[str, Any]:
        return {slot: Curve() for slot in self._slots}


COMMANDS: dict[str, type[Command]] = {cls.__name__: cls for cls in (
    AddEmotionKey, SetEmotionKey, MoveEmotionKeys, DragEmotionKeys, DeleteEmotionKeys, PasteEmotionKeys,
    SetEmotionTrack,
    AddChannelKey, SetChannelKey, SetKeyTangents, MoveChannelKeys, DeleteChannelKeys, SetLayerCurve, ClearLayers,
    SetBasePerformance, SetPoseTake, AddPoseLock, RemovePoseLock,
    AddMarker, MoveMarker, RenameMarker, RemoveMarker, SetProperty, SetAudio,
)}

__all__ = [
    "COMMANDS", "AddChannelKey", "AddEmotionKey", "AddMarker", "AddPoseLock", "ClearLayers", "DeleteChannelKeys",
    "DeleteEmotionKeys", "DragEmotionKeys", "MoveChannelKeys", "MoveEmotionKeys", "MoveMarker", "PasteEmotionKeys",
    "RemoveMarker", "RemovePoseLock", "RenameMarker", "SetAudio", "SetBasePerformance", "SetChannelKey",
    "SetEmotionKey", "SetEmotionTrack", "SetKeyTangents", "SetLayerCurve", "SetPoseTake", "SetProperty",
    "SnapshotCommand", "resample_performance",
]
