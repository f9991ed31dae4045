"""The project document: everything an animator saves, and its evaluation to a Performance.

One ``Project`` is the single source of truth for one open project (DESIGN 2): views read its
properties and subscribe to ``project.events``; edits are command objects pushed on the app's
``UndoStack`` (``core.commands``), which change the project through :meth:`Project.assign` and
:meth:`Project.assign_layer`. Those two are the only mutators; each validates, stores immutable
values, and emits one :class:`~mmface_studio.core.events.Change` per field that really changed.

Evaluation is base + layers, clipped to the channel ranges, cached row by row: a layer edit marks
one channel row stale, so ``evaluate()`` after a single keyframe edit recomputes one row
(microseconds for a minute of animation) instead of the whole channels x frames array.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mmface_studio.core.curves import Curve
from mmface_studio.core.emotion_track import EmotionTrack
from mmface_studio.core.events import Change, Signal
from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52, SpaceError
from mmface_studio.core.timeline_items import LockRange, Marker

#: The head-pose channels a pose re-sample replaces (what the engine's pose stage produces).
POSE_CHANNELS: tuple[str, ...] = ("HeadYaw", "HeadPitch", "HeadRoll")
DEFAULT_RIG = "default"
#: Settings reported as ``Change("meta", field=...)``.
META_FIELDS: tuple[str, ...] = ("transcript", "prompt", "rig", "identity", "fps", "pose_seed", "pose_style", "engine",
                                "emotion_prior_weight")
#: How much the voice-predicted emotion bends the keyed one unless the project says otherwise (the
#: engine's default, ``GenerationRequest.emotion_prior_weight``): small, so the animator's keys lead.
DEFAULT_PRIOR_WEIGHT = 0.1
FIELDS: tuple[str, ...] = ("audio", "emotion", "base", "locks", "markers", *META_FIELDS)


class DocumentError(ValueError):
    """A document value is invalid (wrong type, out of range); the message is user-facing."""


# --- validation: one normaliser per field, shared by the constructor, assign() and the file reader ----------


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DocumentError(f"The {what} must be text, got {type(value).__name__}.")
    return value


def _name(value: Any, what: str) -> str:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise DocumentError(f"The {what} must be a non-empty name, got {value!r}.")
    return value


def _fps(value: Any) -> float:
    try:
        fps = float(value)
    except (TypeError, ValueError):
        raise DocumentError(f"fps must be a number, got {value!r}.") from None
    if not (math.isfinite(fps) and 1.0 <= fps <= 240.0):
        raise DocumentError(f"fps must be between 1 and 240, got {value!r}.")
    return fps


def _weight(value: Any) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise DocumentError(f"The follow-voice weight must be a number, got {value!r}.") from None
    if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
        raise DocumentError(f"The follow-voice weight must be between 0 and 1, got {value!r}.")
    return weight


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DocumentError(f"The pose seed must be an integer, got {value!r}.")
    return int(value)


def _identity(value: Any) -> Mapping[str, float]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise DocumentError(f"Identity values must be a mapping of names to numbers, got {type(value).__name__}.")
    out: dict[str, float] = {}
    for key, number in sorted(value.items()):
        if not isinstance(key, str) or not key:
            raise DocumentError(f"Identity value names must be non-empty text, got {key!r}.")
        try:
            f = float(number)
        except (TypeError, ValueError):
            raise DocumentError(f"Identity value {key!r} must be a number, got {number!r}.") from None
        if not math.isfinite(f):
            raise DocumentError(f"Identity value {key!r} must be finite, got {number!r}.")
        out[key] = f
    return MappingProxyType(out)


def _base(value: Any) -> Performance | None:
    if value is None:
        return None
    if not isinstance(value, Performance):
        raise DocumentError(f"The base performance must be a Performance, got {type(value).__name__}.")
    if value.space.name != ARKIT52.name:
        raise DocumentError(f"The base performance must be in {ARKIT52.name} (convert it first), "
                            f"got {value.space.name}.")
    if value.values.flags.writeable:  # keep a private, frozen copy: undo must restore exactly this
        values = value.values.copy()
        values.flags.writeable = False
        value = Performance(value.fps, value.space, values, dict(value.provenance))
    return value


def _audio(value: Any) -> Any:
    if value is not None and not (hasattr(value, "original") and hasattr(value, "original_rate")
                                  and hasattr(value, "analysis")):
        raise DocumentError(f"Audio must be an AudioClip, got {type(value).__name__}.")
    return value


def _emotion(value: Any) -> EmotionTrack:
    if value is None:
        return EmotionTrack.neutral()
    if isinstance(value, str):
        return EmotionTrack.parse(value)
    if not isinstance(value, EmotionTrack):
        raise DocumentError(f"The emotion track must be an EmotionTrack, got {type(value).__name__}.")
    return value


def _locks(value: Iterable[Any]) -> tuple[LockRange, ...]:
    locks = {lk if isinstance(lk, LockRange) else LockRange(*lk) for lk in value}
    return tuple(sorted(locks))


def _markers(value: Iterable[Any]) -> tuple[Marker, ...]:
    markers = [m if isinstance(m, Marker) else Marker(*m) for m in value]
    return tuple(sorted(markers))


_NORMALISE: dict[str, Any] = {
    "audio": _audio, "emotion": _emotion, "base": _base, "locks": _locks, "markers": _markers,
    "transcript": lambda v: _text(v, "transcript"), "prompt": lambda v: _text(v, "prompt"),
    "rig": lambda v: _name(v, "rig"), "identity": _identity, "fps": _fps, "pose_seed": _seed,
    "pose_style": lambda v: _name(v, "pose style"), "engine": lambda v: _name(v, "engine name"),
    "emotion_prior_weight": _weight,
}


def normalise(field: str, value: Any) -> Any:
    """The stored form of ``value`` for ``field`` (validated; a base gets a frozen private copy)."""
    try:
        return _NORMALISE[field](value)
    except (SpaceError, ValueError) as exc:
        raise DocumentError(str(exc)) from None


def same_value(field: str, old: Any, new: Any) -> bool:
    """Whether setting ``field`` from ``old`` to ``new`` is no change (audio and base by identity)."""
    if field.startswith("layer:"):
        return bool(old == new)
    if field in ("audio", "base"):
        return old is new
    if field == "identity":
        return dict(old) == dict(new)
    return bool(old == new)


def check_channel(channel: str) -> str:
    """``channel`` if it is an arkit52 channel; otherwise a ``DocumentError`` with close-match hints."""
    try:
        ARKIT52.channel(channel)
    except SpaceError as exc:
        raise DocumentError(str(exc)) from None
    return channel


def _layer(channel: str, curve: Any) -> Curve:
    check_channel(channel)
    if not isinstance(curve, Curve):
        raise DocumentError(f"A layer must be a Curve, got {type(curve).__name__}.")
    return curve


def _field(name: str, doc: str) -> property:
    return property(lambda self: self._values[name], doc=doc)


class Project:
    """An animator's project; see the module docstring for how it is edited and observed.

    Read-only properties: ``audio`` (an ``AudioClip`` or None: ``.original`` for playback,
    ``.analysis`` for the engine), ``transcript``, ``prompt``, ``emotion`` (``EmotionTrack``),
    ``base`` (generated ``Performance`` in arkit52, or None), ``layers`` (channel -> ``Curve``
    offsets; channels without keys are absent), ``locks`` (``LockRange`` tuple), ``markers``
    (``Marker`` tuple), ``rig`` ("default" or a FLAME file path), ``identity`` (name -> value),
    ``fps``, ``pose_seed``, ``pose_style``, ``engine``, ``emotion_prior_weight`` (w in
    gamma_t = gamma_u,t + w (gamma_a,t - mean gamma_a): how much the voice bends the keyed emotion).
    """

    def __init__(self, *, audio: Any = None, transcript: str = "", prompt: str = "",
                 emotion: EmotionTrack | str | None = None, base: Performance | None = None,
                 layers: Mapping[str, Curve] | None = None, locks: Iterable[Any] = (),
                 markers: Iterable[Any] = (), rig: str = DEFAULT_RIG, identity: Mapping[str, float] | None = None,
                 fps: float = 30.0, pose_seed: int = 0, pose_style: str = "calm", engine: str = "classic",
                 emotion_prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> None:
        given = {"audio": audio, "transcript": transcript, "prompt": prompt, "emotion": emotion, "base": base,
                 "locks": locks, "markers": markers, "rig": rig, "identity": identity, "fps": fps,
                 "pose_seed": pose_seed, "pose_style": pose_style, "engine": engine,
                 "emotion_prior_weight": emotion_prior_weight}
        try:
            self._values: dict[str, Any] = {k: _NORMALISE[k](v) for k, v in given.items()}
            checked = {ch: _layer(ch, c) for ch, c in (layers or {}).items()}
            self._layers: dict[str, Curve] = {ch: c for ch, c in checked.items() if len(c)}
        except (SpaceError, ValueError) as exc:
            raise DocumentError(str(exc)) from None
        self._check_fps(self._values)
        #: Observers: ``project.events.connect(callback)``; ``callback(change: Change)``.
        self.events: Signal[Change] = Signal()
        #: Increases on every real change (undo included); autosave compares it.
        self.revision = 0
        #: A per-instance id (not saved): recovery names its autosave after it.
        self.uid = uuid.uuid4().hex
        #: Channel rows recomputed by evaluation so far (diagnostics: an edit should cost one row).
        self.rows_evaluated = 0
        self._eval: np.ndarray | None = None
        self._stale: set[int] = set()
        self._perf: Performance | None = None
        self._times: tuple[tuple[int, float], np.ndarray] | None = None

    # --- read access ----------------------------------------------------------------------------

    audio = _field("audio", "The AudioClip (``.original`` at its own rate for playback, ``.analysis`` for the engine).")
    transcript = _field("transcript", "What is said ('' when unknown); helps the phonetic aligner.")
    prompt = _field("prompt", "The text prompt for text-conditioned engines.")
    emotion = _field("emotion", "The current EmotionTrack (immutable, hashable: the engine's emotion cache key).")
    base = _field("base", "The generated arkit52 Performance (read-only values), or None before generation.")
    locks = _field("locks", "Head-pose lock ranges (sorted LockRange tuple), kept on pose re-sampling.")
    markers = _field("markers", "Timeline markers (sorted Marker tuple).")
    rig = _field("rig", "'default' (the built-in head) or the path of a FLAME model file.")
    identity = _field("identity", "Identity values of the rig (read-only name -> value mapping).")
    fps = _field("fps", "Frame rate of generation and evaluation.")
    pose_seed = _field("pose_seed", "Seed of the head-pose take.")
    pose_style = _field("pose_style", "Style of the head-pose take ('calm', 'animated', ...).")
    engine = _field("engine", "Name of the generation engine.")
    emotion_prior_weight = _field("emotion_prior_weight", "Follow-voice weight w (0..1) of the voice emotion.")

    @property
    def layers(self) -> Mapping[str, Curve]:
        return MappingProxyType(self._layers)

    def layer(self, channel: str) -> Curve:
        """The offset curve of ``channel`` (an empty curve when it has no keys)."""
        return self._layers.get(check_channel(channel), Curve())

    def get(self, field: str) -> Any:
        """A field by name (see ``FIELDS``); what commands snapshot for undo."""
        return self._values[field]

    @property
    def frame_count(self) -> int:
        """Frames of the timeline: the base's, else the audio's at ``fps``, else 1."""
        base, audio = self.base, self.audio
        if base is not None:
            return base.frame_count
        if audio is not None:
            return max(1, int(math.ceil(audio.duration * self.fps - 1e-6)))
        return 1

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps

    def emotion_at(self, time: float) -> tuple[float, ...]:
        """Interpolated intensities at ``time`` (what a new key there should start from)."""
        return tuple(float(g) for g in self.emotion.sample([time])[:, 0])

    def request_fields(self) -> dict[str, Any]:
        """Keyword arguments for the engine: ``GenerationRequest(**project.request_fields())``."""
        return {"audio": self.audio, "transcript": self.transcript or None, "prompt": self.prompt,
                "emotion": self.emotion, "pose_seed": self.pose_seed, "pose_style": self.pose_style,
                "locks": tuple(tuple(lk) for lk in self.locks), "engine": self.engine, "fps": self.fps,
                "emotion_prior_weight": self.emotion_prior_weight}

    # --- the two mutators (called by commands) --------------------------------------------------

    def assign(self, **changes: Any) -> None:
        """Set fields atomically and notify; the low-level step under every command.

        Validates everything before changing anything. A field set to a value equal to its current
        one (the same object for ``audio`` and ``base``) is no change and fires nothing. User edits
        must go through commands on the ``UndoStack`` instead, or they cannot be undone.
        """
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise DocumentError(f"Unknown project field(s): {', '.join(sorted(unknown))}.")
        new = {k: normalise(k, v) for k, v in changes.items()}
        merged = {**self._values, **new}
        self._check_fps(merged)
        changed = [k for k, v in new.items() if not same_value(k, self._values[k], v)]
        if not changed:
            return
        events = [self._change_for(k, self._values[k], new[k]) for k in changed]
        self._values = merged
        self._invalidate_for(changed, events)
        self._notify(events)

    def assign_layer(self, channel: str, curve: Curve) -> None:
        """Replace the offset curve of ``channel`` (an empty curve removes the layer) and notify."""
        curve = _layer(channel, curve)
        if curve == self._layers.get(channel, Curve()):
            return
        if len(curve):
            self._layers[channel] = curve
        else:
            self._layers.pop(channel, None)
        self._mark_stale([ARKIT52.index[channel]])
        self._notify([Change(f"layer:{channel}", channel=channel)])

    # --- evaluation -----------------------------------------------------------------------------

    def evaluate(self) -> Performance:
        """Base + layers, clipped to the channel ranges, at ``fps`` (values read-only, shared until changed)."""
        if self._perf is None:
            values = self._evaluated()
            values.flags.writeable = False
            base = self.base
            provenance = dict(base.provenance) if base is not None else {}
            provenance["edit_layers"] = sorted(self._layers)
            self._perf = Performance(self.fps, ARKIT52, values, provenance)
        return self._perf

    def channels_at(self, frame: int) -> np.ndarray:
        """The evaluated arkit52 vector at ``frame`` (clamped to the timeline), a fresh float32 copy."""
        values = self._evaluated()
        return values[:, min(max(int(frame), 0), values.shape[1] - 1)].copy()

    def frame_times(self) -> np.ndarray:
        """Seconds of each frame (frame f shows time f / fps)."""
        key = (self.frame_count, self.fps)
        if self._times is None or self._times[0] != key:
            self._times = (key, np.arange(key[0], dtype=np.float64) / key[1])
        return self._times[1]

    def _evaluated(self) -> np.ndarray:
        if self._eval is None:
            self._eval = np.empty((len(ARKIT52), self.frame_count), dtype=np.float32)
            self._stale = set(range(len(ARKIT52)))
        if self._stale:
            if not self._eval.flags.writeable:  # handed out by evaluate(): copy on write
                self._eval = self._eval.copy()
            times = self.frame_times()
            base = self.base
            for row in sorted(self._stale):
                channel = ARKIT52.channels[row]
                values = base.values[row].astype(np.float64) if base is not None else channel.default
                curve = self._layers.get(channel.name)
                if curve is not None:
                    values = values + curve.sample(times)
                self._eval[row] = np.clip(values, channel.minimum, channel.maximum)
            self.rows_evaluated += len(self._stale)
            self._stale.clear()
        return self._eval

    def _mark_stale(self, rows: Iterable[int]) -> None:
        self._stale.update(rows)
        self._perf = None

    def _invalidate_for(self, changed: list[str], events: list[Change]) -> None:
        if "fps" in changed or ("audio" in changed and self.base is None):
            self._eval, self._perf = None, None
            return
        for event in events:
            if event.kind == "base":
                if self._eval is None or self._eval.shape[1] != self.frame_count:
                    self._eval, self._perf = None, None
                    return
                self._mark_stale(ARKIT52.index[c] for c in event.channels)

    # --- internals ------------------------------------------------------------------------------

    @staticmethod
    def _check_fps(values: Mapping[str, Any]) -> None:
        base = values["base"]
        if base is not None and abs(base.fps - values["fps"]) > 1e-9:
            raise DocumentError(f"The base performance is at {base.fps:g} fps but the project at "
                                f"{values['fps']:g} fps; resample it or change both together.")

    @staticmethod
    def _change_for(field: str, old: Any, new: Any) -> Change:
        if field in META_FIELDS:
            return Change("meta", field=field)
        if field != "base":
            return Change(field)
        if old is None or new is None or old.values.shape != new.values.shape:
            return Change("base", channels=ARKIT52.names)
        # Bitwise, so that the row cache stays bit-identical to a fresh evaluation (-0.0 vs 0.0).
        rows = np.flatnonzero(np.any(old.values.view(np.uint32) != new.values.view(np.uint32), axis=1))
        return Change("base", channels=tuple(ARKIT52.names[i] for i in rows))

    def _notify(self, events: list[Change]) -> None:
        self.revision += 1
        for event in events:
            self.events.emit(event)
