"""The project document's public API in one import (Qt-free; the GUI builds on exactly this).

::

    from mmface_studio.core.document import Project, UndoStack, commands, load_project, save_project

    project, stack = Project(), UndoStack()
    project.events.connect(view.on_change)          # Change("layer:jawOpen", channel="jawOpen"), ...
    stack.changed.connect(actions.on_stack)         # StackState(can_undo, undo_text, is_clean, ...)
    stack.push(commands.AddChannelKey(project, "jawOpen", CurveKey(1.0, 0.3)))
    perf = project.evaluate()                       # base + layers, clipped; cheap after one edit

The modules behind it: ``project`` (the document and its evaluation), ``events`` (observers),
``undo`` (stack, compound commands), ``commands`` (every user edit), ``curves`` (keyframe
curves), ``emotion_track`` (emotion keys), ``timeline_items`` (markers, pose locks),
``project_file``/``project_schema`` (``.mmfs`` files and their migrations), ``recovery``
(autosave and crash recovery).
"""

from __future__ import annotations

from mmface_studio.core import commands
from mmface_studio.core.commands import (
    COMMANDS,
    AddChannelKey,
    AddEmotionKey,
    AddMarker,
    AddPoseLock,
    ClearLayers,
    DeleteChannelKeys,
    DeleteEmotionKeys,
    DragEmotionKeys,
    MoveChannelKeys,
    MoveEmotionKeys,
    MoveMarker,
    PasteEmotionKeys,
    RemoveMarker,
    RemovePoseLock,
    RenameMarker,
    SetAudio,
    SetBasePerformance,
    SetChannelKey,
    SetEmotionKey,
    SetEmotionTrack,
    SetKeyTangents,
    SetLayerCurve,
    SetPoseTake,
    SetProperty,
    SnapshotCommand,
    resample_performance,
)
from mmface_studio.core.curves import KEY_INTERPOLATIONS, Curve, CurveError, CurveKey
from mmface_studio.core.emotion_track import EMOTIONS, INTERPOLATIONS, EmotionKey, EmotionTrack, RequestError
from mmface_studio.core.events import Change, Signal
from mmface_studio.core.project import DEFAULT_RIG, FIELDS, META_FIELDS, POSE_CHANNELS, DocumentError, Project
from mmface_studio.core.project_file import SUFFIX, load_project, read_from_file, save_project, write_to_file
from mmface_studio.core.project_schema import SCHEMA, SCHEMA_VERSION, ProjectFileError
from mmface_studio.core.recovery import RecoveryEntry, RecoveryError, RecoveryStore
from mmface_studio.core.timeline_items import ItemError, LockRange, Marker
from mmface_studio.core.undo import Command, CompoundCommand, EditError, StackState, UndoStack

__all__ = [
    "COMMANDS", "DEFAULT_RIG", "EMOTIONS", "FIELDS", "INTERPOLATIONS", "KEY_INTERPOLATIONS", "META_FIELDS",
    "POSE_CHANNELS", "SCHEMA", "SCHEMA_VERSION", "SUFFIX",
    "AddChannelKey", "AddEmotionKey", "AddMarker", "AddPoseLock", "Change", "ClearLayers", "Command",
    "CompoundCommand", "Curve", "CurveError", "CurveKey", "DeleteChannelKeys", "DeleteEmotionKeys", "DocumentError",
    "DragEmotionKeys", "EditError", "EmotionKey", "EmotionTrack", "ItemError", "LockRange", "Marker", "MoveChannelKeys",
    "MoveEmotionKeys", "MoveMarker", "PasteEmotionKeys", "Project", "ProjectFileError", "RecoveryEntry",
    "RecoveryError", "RecoveryStore", "RemoveMarker", "RemovePoseLock", "RenameMarker", "RequestError", "SetAudio",
    "SetBasePerformance", "SetChannelKey", "SetEmotionKey", "SetEmotionTrack", "SetKeyTangents", "SetLayerCurve",
    "SetPoseTake", "SetProperty", "Signal", "SnapshotCommand", "StackState", "UndoStack", "commands", "load_project",
    "read_from_file", "resample_performance", "save_project", "write_to_file",
]
