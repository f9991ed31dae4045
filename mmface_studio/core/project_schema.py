"""The project manifest: a versioned, labelled JSON form of a ``Project``, with upgrade functions.

Like OpenTimelineIO's schema labels, a manifest says what it is (``"schema": "mmface.project"``)
and which layout version it follows (``"schema_version"``). Reading an older manifest runs the
upgrade functions in ``UPGRADES`` one version at a time (v0 -> v1 -> ...), so a new layout only
needs one new function and the reader only ever understands the current layout. A newer version
is refused with a message that says so rather than guessed at.

Arrays (the base performance) and the audio are not in the manifest: it names the zip entries
that hold them and the reader passes loaders in, so this module stays free of zip handling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mmface_studio.core.curves import Curve
from mmface_studio.core.emotion_track import EmotionKey, EmotionTrack
from mmface_studio.core.performance import Performance
from mmface_studio.core.project import DEFAULT_PRIOR_WEIGHT, Project
from mmface_studio.core.spaces import ARKIT52, SpaceError
from mmface_studio.core.timeline_items import LockRange, Marker

SCHEMA = "mmface.project"
SCHEMA_VERSION = 1
BASE_ENTRY = "arrays/base.npy"

ArrayLoader = Callable[[str, tuple[int, int]], np.ndarray]
AudioLoader = Callable[[dict[str, Any]], Any]


class ProjectFileError(Exception):
    """A project file cannot be opened or saved; the message names the file and the problem."""


# --- writing -------------------------------------------------------------------------------------------


def to_manifest(project: Project) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest of ``project`` and the arrays it refers to (entry name -> array).

    Deterministic (sorted keys, no timestamps), so equal projects give equal manifests: the
    undo property test compares projects through it. The audio entry is described here and
    written by the file layer.
    """
    arrays: dict[str, np.ndarray] = {}
    base = project.base
    base_info = None
    if base is not None:
        arrays[BASE_ENTRY] = base.values
        base_info = {"entry": BASE_ENTRY, "fps": base.fps, "space": base.space.name, "channels": list(base.space.names),
                     "frames": base.frame_count, "provenance": _jsonable(base.provenance)}
    audio = project.audio
    audio_info = None
    if audio is not None:
        audio_info = {"rate": int(audio.original_rate), "channels": int(audio.channels),
                      "frames": int(audio.original.shape[0]), "name": audio.name,
                      "source": str(audio.source) if audio.source else None,
                      "original_format": audio.format, "original_subtype": audio.subtype}
    manifest = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "settings": {"fps": project.fps, "engine": project.engine, "rig": project.rig,
                     "identity": dict(project.identity), "prompt": project.prompt,
                     "transcript": project.transcript, "pose_seed": project.pose_seed,
                     "pose_style": project.pose_style, "emotion_prior_weight": project.emotion_prior_weight},
        "emotion": [{"time": k.time, "gammas": list(k.gammas), "interpolation": k.interpolation}
                    for k in project.emotion.keys],
        "layers": {ch: curve.to_json() for ch, curve in sorted(project.layers.items())},
        "locks": [[lk.start, lk.end] for lk in project.locks],
        "markers": [{"time": m.time, "label": m.label} for m in project.markers],
        "base": base_info,
        "audio": audio_info,
    }
    return manifest, arrays


def _jsonable(value: Any) -> Any:
    """Provenance as plain JSON types (paths and numpy scalars become strings/numbers)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    return str(value)


# --- upgrades ------------------------------------------------------------------------------------------


def _upgrade_v0(old: dict[str, Any]) -> dict[str, Any]:
    """v0 (the first prototype's layout) -> v1.

    v0 kept every setting at the top level, the emotion track as its text form
    (``"happiness:0.8@0,sadness:0.6@3.5"``), locks as ``{"start", "end"}`` objects, layers as
    ``"curves": {channel: [[time, value], ...]}`` with linear keys only, the base as an entry name
    plus ``base_fps`` and the audio as an entry name; it had no markers and no identity values.
    """
    emotion = EmotionTrack.parse(str(old.get("emotion") or ""))
    base_entry = old.get("base")
    audio_entry = old.get("audio")
    fps = old["fps"]
    return {
        "schema": SCHEMA, "schema_version": 1,
        "settings": {"fps": fps, "engine": old.get("engine", "classic"), "rig": old.get("rig", "default"),
                     "identity": {}, "prompt": old.get("prompt", ""), "transcript": old.get("transcript") or "",
                     "pose_seed": old.get("pose_seed", 0), "pose_style": old.get("pose_style", "calm")},
        "emotion": [{"time": k.time, "gammas": list(k.gammas), "interpolation": k.interpolation}
                    for k in emotion.keys],
        "layers": {ch: [{"time": t, "value": v, "interpolation": "linear"} for t, v in keys]
                   for ch, keys in dict(old.get("curves") or {}).items()},
        "locks": [[lk["start"], lk["end"]] for lk in old.get("locks") or []],
        "markers": [],
        "base": None if base_entry is None else {"entry": base_entry, "fps": old.get("base_fps", fps),
                                                 "space": "arkit52", "channels": list(ARKIT52.names),
                                                 "provenance": {}},
        "audio": None if audio_entry is None else {"entry": audio_entry},
    }


#: version n -> the function that turns a version-n manifest into version n + 1.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _upgrade_v0}


def upgrade(manifest: Any, name: str) -> dict[str, Any]:
    """Check the schema label and bring ``manifest`` to ``SCHEMA_VERSION`` (or refuse clearly)."""
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        label = manifest.get("schema") if isinstance(manifest, dict) else None
        raise ProjectFileError(f"{name} is not an MMFace Studio project (its manifest is labelled {label!r}, "
                               f"expected {SCHEMA!r}).")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ProjectFileError(f"{name} is damaged: its schema version {version!r} is not a whole number.")
    if version > SCHEMA_VERSION:
        raise ProjectFileError(f"{name} was saved by a newer MMFace Studio (project schema version {version}); "
                               f"this version reads up to {SCHEMA_VERSION}. Update MMFace Studio to open it.")
    while version < SCHEMA_VERSION:
        try:
            manifest = UPGRADES[version](manifest)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProjectFileError(f"{name} is damaged: its version-{version} manifest cannot be upgraded: "
                                   f"{_reason(exc)}") from None
        version = manifest["schema_version"]
    return manifest


# --- reading -------------------------------------------------------------------------------------------


def from_manifest(manifest: dict[str, Any], name: str, read_array: ArrayLoader,
                  read_audio: AudioLoader) -> Project:
    """Build a project from a current-version manifest; any wrong type or value -> ``ProjectFileError``."""
    try:
        return _build(manifest, read_array, read_audio)
    except ProjectFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, SpaceError) as exc:
        raise ProjectFileError(f"{name} is damaged: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The exception as the end of a sentence (with its full stop)."""
    text = f"the field {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
    return text if text.endswith((".", "?", "!")) else text + "."


def _typed(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise TypeError(f"{what} has the wrong type ({type(value).__name__})")
    return value


def _build(manifest: dict[str, Any], read_array: ArrayLoader, read_audio: AudioLoader) -> Project:
    settings = _typed(manifest["settings"], dict, "settings")
    emotion = EmotionTrack(tuple(
        EmotionKey(_typed(k["time"], (int, float), "an emotion key's time"),
                   tuple(_typed(g, (int, float), "an emotion intensity")
                         for g in _typed(k["gammas"], list, "an emotion key's intensities")),
                   _typed(k.get("interpolation", "smooth"), str, "an emotion key's interpolation"))
        for k in _typed(manifest["emotion"], list, "emotion")))
    layers = {_typed(ch, str, "a layer's channel"): Curve.from_json(_typed(keys, list, f"layer {ch}"))
              for ch, keys in _typed(manifest["layers"], dict, "layers").items()}
    locks = [LockRange(*_typed(lk, list, "a pose lock")) for lk in _typed(manifest["locks"], list, "locks")]
    markers = [Marker(_typed(m["time"], (int, float), "a marker's time"), _typed(m["label"], str, "a marker's label"))
               for m in _typed(manifest["markers"], list, "markers")]
    fps = _typed(settings["fps"], (int, float), "fps")
    base = None
    info = manifest.get("base")
    if info is not None:
        _typed(info, dict, "base")
        channels = _typed(info["channels"], list, "the base's channels")
        if info.get("space") != ARKIT52.name or channels != list(ARKIT52.names):
            raise ValueError(f"the base performance is not in the {ARKIT52.name} channel layout")
        frames = info.get("frames")
        values = read_array(_typed(info["entry"], str, "the base entry"),
                            (len(channels), -1 if frames is None else _typed(frames, int, "frames")))
        provenance = _typed(info.get("provenance") or {}, dict, "provenance")
        base = Performance(_typed(info["fps"], (int, float), "the base's fps"), ARKIT52, values, provenance)
    audio_info = manifest.get("audio")
    audio = None if audio_info is None else read_audio(_typed(audio_info, dict, "audio"))
    return Project(audio=audio, transcript=settings.get("transcript", ""), prompt=settings.get("prompt", ""),
                   emotion=emotion, base=base, layers=layers, locks=locks, markers=markers,
                   rig=settings.get("rig", "default"), identity=settings.get("identity") or {}, fps=fps,
                   pose_seed=settings.get("pose_seed", 0), pose_style=settings.get("pose_style", "calm"),
                   engine=settings.get("engine", "classic"),
                   # added within version 1: files written before it follow the voice by the default
                   emotion_prior_weight=_typed(settings.get("emotion_prior_weight", DEFAULT_PRIOR_WEIGHT),
                                               (int, float), "the follow-voice weight"))
