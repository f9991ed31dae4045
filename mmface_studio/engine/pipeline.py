"""Staged, cached generation: request -> Performance, re-running only what an edit invalidates.

Stages and what keys their caches (DESIGN 2):

    analysis  phones + prosody            audio content digest + transcript (or the given Analysis)
    lipsync   mouth shapes                analysis + fps
    emotion   face shapes, intensities    lipsync + emotion track + prior weight
    blinks    blink draws + gaze          analysis + fps + blink seed
    pose      head-pose take              analysis + fps + pose seed + style (locks applied after)
    compose   all arkit52 channels        always (array copies)

So an emotion-key edit runs only ``emotion`` (+ compose) and a pose re-sample only ``pose``
(+ compose). Locked ranges keep the previous result's pose: by default the last result this
pipeline produced for the same analysis and fps, or the ``previous`` the caller passes (the
document's current performance).

Qt-free: the GUI runs :meth:`Pipeline.run` on a worker thread with a progress callback and a
:class:`CancelToken`. Cancelling raises :class:`GenerationCancelled`; no result is returned and
the "previous result" state is untouched (stage caches keep only fully computed stages).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ParameterSpace
from mmface_studio.engine.classic.head_motion import apply_pose_locks
from mmface_studio.engine.request import ANALYSIS_RATE, Analysis, EmotionTrack, GenerationRequest, RequestError

STAGES: tuple[str, ...] = ("analysis", "lipsync", "emotion", "blinks", "pose", "compose")
#: Share of the progress bar per stage (analysis dominates: pocketsphinx).
_WEIGHTS = {"analysis": 0.6, "lipsync": 0.16, "emotion": 0.06, "blinks": 0.04, "pose": 0.08, "compose": 0.06}

ProgressCallback = Callable[[float, str], None]
Analyzer = Callable[[GenerationRequest, "StageContext"], Analysis]


class GenerationCancelled(Exception):
    """Raised from :meth:`Pipeline.run` when its :class:`CancelToken` was cancelled."""


class EngineUnavailable(RequestError):
    """The request names an engine that is not registered."""


class CancelToken:
    """Cooperative cancel flag, set from any thread, checked between and inside stages."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled("Generation was cancelled.")


class StageContext:
    """What a stage function gets: ``check()`` to honour cancel, ``progress(f)`` for 0..1 within the stage."""

    def __init__(self, stage: str, lo: float, hi: float, token: CancelToken | None,
                 callback: ProgressCallback | None) -> None:
        self.stage, self._lo, self._hi, self._token, self._callback = stage, lo, hi, token, callback

    def check(self) -> None:
        if self._token is not None:
            self._token.raise_if_cancelled()

    def progress(self, fraction: float) -> None:
        self.check()
        if self._callback is not None:
            self._callback(self._lo + (self._hi - self._lo) * min(max(float(fraction), 0.0), 1.0), self.stage)


class StageEngine(Protocol):
    """The stage functions an engine implements (``ClassicEngine`` is the reference)."""

    name: str
    version: str
    space: ParameterSpace

    def lipsync(self, analysis: Analysis, fps: float, ctx: StageContext) -> Any: ...
    def emotion(self, lipsync: Any, track: EmotionTrack, prior_weight: float, ctx: StageContext) -> Any: ...
    def blinks(self, analysis: Analysis, fps: float, seed: int, ctx: StageContext) -> Any: ...
    def head_pose(self, analysis: Analysis, fps: float, seed: int, style: str, ctx: StageContext) -> np.ndarray: ...
    def compose(self, face: Any, blinks: Any, pose: np.ndarray, ctx: StageContext) -> np.ndarray: ...
    def pose_channels(self) -> list[int]: ...


def _classic() -> StageEngine:
    from mmface_studio.engine.classic.engine import ClassicEngine

    return ClassicEngine()


_ENGINES: dict[str, Callable[[], StageEngine]] = {"classic": _classic}


#: Engines registered as not reading phones (their analysis skips pocketsphinx).
_PHONELESS: set[str] = set()


def register_engine(name: str, factory: Callable[[], StageEngine], *, needs_phones: bool = True) -> None:
    """Make an engine available to requests by name (neural engines register themselves).

    ``needs_phones=False``: the engine reads only features (``Analysis.mel``), so its analysis
    stage skips phone recognition (the registration is what the pipeline goes by).
    """
    _ENGINES[name] = factory
    if needs_phones:
        _PHONELESS.discard(name)
    else:
        _PHONELESS.add(name)


_discovered = False


def discover_engines() -> None:
    """Register the neural engines of the installed checkpoints (once; reads JSON only, no torch)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    from mmface_studio.engine.neural import register_installed

    register_installed()


def engine_names() -> tuple[str, ...]:
    discover_engines()
    return tuple(_ENGINES)


class _LRU:
    def __init__(self, size: int) -> None:
        self._size, self._items = size, OrderedDict()

    def get(self, key: Hashable) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def _digest_array(values: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=16).hexdigest()


def analyse_audio(request: GenerationRequest, ctx: StageContext) -> Analysis:
    """Default analyzer: the audio layer's loader, features and pocketsphinx phonetic track."""
    from mmface_studio.audio import compute_features

    clip = _request_clip(request)
    ctx.progress(0.05)
    features = compute_features(clip)
    ctx.progress(0.15)
    from mmface_studio.audio.phonetic import analyse_speech

    # pocketsphinx cannot be interrupted: cancel is honoured before and after it.
    track = analyse_speech(clip.analysis, request.transcript)
    ctx.progress(1.0)
    return Analysis.from_track(track, features, duration=clip.duration)


def _request_clip(request: GenerationRequest) -> Any:
    from mmface_studio.audio import clip_from_array, load_audio

    audio = request.audio
    if audio is None:
        raise RequestError("The request has no audio; give samples, a file or an AudioClip.")
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio)
    if isinstance(audio, np.ndarray):
        return clip_from_array(audio, request.sample_rate)
    return audio


def analyse_features(request: GenerationRequest, ctx: StageContext) -> Analysis:
    """Analyzer for engines that do not read phones (neural ones): features + speech/silence spans.

    Skips pocketsphinx, which is most of the classic engine's generation time.
    """
    from mmface_studio.audio import compute_features

    clip = _request_clip(request)
    ctx.progress(0.2)
    features = compute_features(clip)
    ctx.progress(1.0)
    return Analysis.from_features(features, duration=clip.duration)


class Pipeline:
    """Runs an engine's stages with per-stage caches; one run at a time (thread-safe).

    ``stage_runs`` counts how often each stage actually executed, ``last_timings`` holds the
    seconds each stage took in the latest run (0.0 where it came from the cache) and
    ``last_analysis`` the phones and prosody that run used.
    """

    def __init__(self, analyzer: Analyzer | None = None, cache_size: int = 4) -> None:
        self._analyzer = analyzer or analyse_audio
        self._engines: dict[str, StageEngine] = {}
        self._caches = {stage: _LRU(cache_size) for stage in STAGES if stage != "compose"}
        self._last: tuple[tuple[str, str, float], np.ndarray] | None = None
        self._audio_memo: tuple[Any, str] | None = None
        self._lock = threading.Lock()
        self.stage_runs: Counter[str] = Counter()
        self.last_timings: dict[str, float] = {}
        #: The phones + prosody behind the latest result (the GUI shows the phones on the timeline).
        self.last_analysis: Analysis | None = None
        #: The voice-predicted emotion intensities behind the latest result, ``(frame times s, 7 x T)``,
        #: when the engine's lip-sync stage predicts them (``LipSync.prior``; the GUI overlays them on the
        #: emotion curves); None for engines that do not.
        self.last_emotion_prior: tuple[np.ndarray, np.ndarray] | None = None

    def engine(self, name: str) -> StageEngine:
        if name not in self._engines:
            if name not in _ENGINES:
                discover_engines()
            factory = _ENGINES.get(name)
            if factory is None:
                raise EngineUnavailable(f"Unknown engine {name!r}; available: {', '.join(_ENGINES)}.")
            self._engines[name] = factory()
        return self._engines[name]

    def clear(self) -> None:
        """Drop every cache and the remembered previous result."""
        with self._lock:
            for cache in self._caches.values():
                cache.clear()
            self._last = None

    def run(self, request: GenerationRequest, *, analysis: Analysis | None = None,
            previous: Performance | np.ndarray | None = None, progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> Performance:
        """Generate (or incrementally update) the performance for ``request``.

        ``analysis``: phones + prosody computed elsewhere (skips the audio layer; e.g.
        ``Analysis.from_track(phonetic_track, features)`` or ``synthetic_analysis()``).
        ``previous``: the take whose head pose locked ranges keep (a Performance in this space,
        or a 3 x T HeadYaw/Pitch/Roll array); default: this pipeline's last result for the same input.
        """
        with self._lock:
            return self._run(request, analysis, previous, progress, cancel)

    def has_analysis(self, request: GenerationRequest) -> bool:
        """Whether the slow analysis stage (pocketsphinx) is cached for this request's audio + transcript.

        The GUI uses it to decide whether an edit can be applied at once on its own thread (cached:
        milliseconds) or needs a background job.
        """
        with self._lock:
            cache = self._caches.get("analysis")
            return cache is not None and cache.get(self._analysis_key(request)) is not None

    def _analysis_key(self, request: GenerationRequest) -> tuple[str, str]:
        """Phones-free engines share a features-only analysis under their own key."""
        return ("audio-vad" if request.engine in _PHONELESS else "audio", self._audio_key(request))

    # --- internals ----------------------------------------------------------------------------------------

    def _stage(self, name: str, key: Hashable, compute: Callable[[StageContext], Any], marks: dict[str, float],
               cancel: CancelToken | None, progress: ProgressCallback | None) -> Any:
        lo = marks[name]
        hi = lo + _WEIGHTS[name]
        ctx = StageContext(name, lo, hi, cancel, progress)
        ctx.check()
        cache = self._caches.get(name)
        value = cache.get(key) if cache is not None else None
        started = time.perf_counter()
        if value is None:
            value = compute(ctx)
            ctx.check()
            self.stage_runs[name] += 1
            if cache is not None:
                cache.put(key, value)
            self.last_timings[name] = time.perf_counter() - started
        else:
            self.last_timings[name] = 0.0
        ctx.progress(1.0)
        return value

    def _audio_key(self, request: GenerationRequest) -> str:
        audio = request.audio
        if isinstance(audio, (str, os.PathLike)):
            path = Path(audio).expanduser().resolve()
            try:
                stat = path.stat()
                ident = f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}"
            except OSError:
                ident = f"file:{path}"
        elif audio is None:
            ident = "none"
        else:
            samples = audio if isinstance(audio, np.ndarray) else getattr(audio, "analysis", None)
            if self._audio_memo is not None and self._audio_memo[0] is samples:
                ident = self._audio_memo[1]
            else:
                ident = f"samples:{_digest_array(np.asarray(samples, dtype=np.float32))}"
                self._audio_memo = (samples, ident)
            rate = request.sample_rate if isinstance(audio, np.ndarray) else ANALYSIS_RATE
            ident += f":{rate}"
        return f"{ident}|{request.transcript or ''}"

    def _run(self, request: GenerationRequest, given: Analysis | None, previous: Performance | np.ndarray | None,
             progress: ProgressCallback | None, cancel: CancelToken | None) -> Performance:
        engine = self.engine(request.engine)
        marks, acc = {}, 0.0
        for stage in STAGES:
            marks[stage] = acc
            acc += _WEIGHTS[stage]
        self.last_timings = {}
        fps = request.fps
        if given is not None:
            analysis = self._stage("analysis", ("given", given.key), lambda ctx: given, marks, cancel, progress)
        else:
            key = self._analysis_key(request)
            analyzer = analyse_features if key[0] == "audio-vad" else self._analyzer
            analysis = self._stage("analysis", key, lambda ctx: analyzer(request, ctx), marks, cancel, progress)
        base = (engine.name, engine.version, analysis.key, fps)
        # Engines that read more of the request in a stage (MM2Face: the prompt and a sampling seed)
        # name those inputs; they join the stage's cache key.
        extra = dict(engine.stage_inputs("lipsync", request)) if hasattr(engine, "stage_inputs") else {}
        lipsync = self._stage("lipsync", (*base, tuple(sorted(extra.items()))),
                              lambda ctx: engine.lipsync(analysis, fps, ctx, **extra), marks, cancel, progress)
        face = self._stage("emotion", (*base, request.emotion, request.emotion_prior_weight),
                           lambda ctx: engine.emotion(lipsync, request.emotion, request.emotion_prior_weight, ctx),
                           marks, cancel, progress)
        plan = self._stage("blinks", (*base, request.blink_seed),
                           lambda ctx: engine.blinks(analysis, fps, request.blink_seed, ctx), marks, cancel, progress)
        kept = self._previous_pose(engine, base, previous)
        if getattr(engine, "infills_pose", False):
            # A generative pose model samples *around* the locked ranges (seed 002 in-filling), so
            # the locks and the take they keep are inputs of the stage, not a paste afterwards.
            kept_key = _digest_array(kept) if kept is not None and request.locks else None
            take = self._stage("pose", (*base, request.pose_seed, request.pose_style, request.locks, kept_key),
                               lambda ctx: engine.head_pose(analysis, fps, request.pose_seed, request.pose_style, ctx,
                                                            locks=request.locks, previous=kept),
                               marks, cancel, progress)
        else:
            take = self._stage("pose", (*base, request.pose_seed, request.pose_style),
                               lambda ctx: engine.head_pose(analysis, fps, request.pose_seed, request.pose_style,
                                                            ctx),
                               marks, cancel, progress)

        started = time.perf_counter()
        ctx = StageContext("compose", marks["compose"], 1.0, cancel, progress)
        pose = apply_pose_locks(take, kept, request.locks, fps)
        values = engine.compose(face, plan, pose, ctx)
        ctx.progress(1.0)
        perf = Performance(fps, engine.space, values, self._provenance(engine, request, analysis))
        self.stage_runs["compose"] += 1
        self.last_timings["compose"] = time.perf_counter() - started
        self._last = ((engine.name, analysis.key, fps), perf.values[engine.pose_channels()].copy())
        self.last_analysis = analysis
        if self.last_emotion_prior is None or self.last_emotion_prior[1] is not getattr(lipsync, "prior", None):
            self.last_emotion_prior = _emotion_prior(lipsync, fps)  # the same object while the lip-sync is cached
        if progress is not None:
            progress(1.0, "done")
        return perf

    def _previous_pose(self, engine: StageEngine, base: tuple,
                       previous: Performance | np.ndarray | None) -> np.ndarray | None:
        if previous is None:
            if self._last is not None and self._last[0] == (engine.name, base[2], base[3]):
                return self._last[1]
            return None
        if isinstance(previous, Performance):
            if previous.space.name != engine.space.name:
                raise RequestError(f"The previous performance is in {previous.space.name}; locks need "
                                   f"{engine.space.name}.")
            return previous.values[engine.pose_channels()]
        pose = np.asarray(previous, dtype=np.float32)
        if pose.ndim != 2 or pose.shape[0] != len(engine.pose_channels()):
            raise RequestError(f"previous pose must be {len(engine.pose_channels())} x frames, got {pose.shape}.")
        return pose

    @staticmethod
    def _provenance(engine: StageEngine, request: GenerationRequest, analysis: Analysis) -> dict[str, Any]:
        audio = request.audio
        source = str(audio) if isinstance(audio, (str, os.PathLike)) else getattr(audio, "source", None)
        return {
            "engine": engine.name, "engine_version": engine.version,
            "checkpoint": getattr(engine, "checkpoint", None),
            "seed": request.pose_seed, "pose_style": request.pose_style,
            "inputs": {**request.describe_inputs(), "audio": str(source) if source else None,
                       "analysis": analysis.key, "phonetic_mode": analysis.mode, "duration": analysis.duration},
        }


def _emotion_prior(lipsync: Any, fps: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``(times, 7 x T prior)`` from a lip-sync stage result that carries a ``prior`` array, else None."""
    prior = getattr(lipsync, "prior", None)
    if not isinstance(prior, np.ndarray) or prior.ndim != 2 or prior.shape[1] == 0:
        return None
    return np.arange(prior.shape[1], dtype=np.float64) / fps, prior


def generate(request: GenerationRequest, **kwargs: Any) -> Performance:
    """One-shot generation with a fresh pipeline (no caching across calls)."""
    return Pipeline().run(request, **kwargs)
