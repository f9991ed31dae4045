"""Streaming session for live input: push 16 kHz audio chunks, pull arkit52 frames, 100 a second.

The session runs the same stages as a generation, each made causal:

1. features (``stream_features``): one frame every 10 ms, from a 32 ms window that ends
   ``lookahead`` after the frame's time -- the only waiting the session does;
2. lip-sync by a :class:`StreamingBackend`: the classic engine's acoustic-cue version
   (``stream_classic``) by default; a causal neural model can be plugged in through
   :func:`register_streaming_backend` without the session knowing it;
3. the emotion overlay of the classic engine (``classic.emotion``: articulation gain + FACS shapes) with the current
   emotion intensities, which :meth:`StreamSession.set_emotion` changes between two frames;
4. head motion, blinks and gaze (``stream_motion``) in the current style (:meth:`set_style`).

Latency of a frame = the audio it waits for (``lookahead_s``) + the capture buffer + compute; the
session does no other buffering: frame ``i`` is emitted by the very :meth:`push` that completes
sample ``i * 160 + lookahead``. Output depends only on the audio, never on how it was cut into
chunks (each frame sees a fixed window; the trackers advance frame by frame), so a take recorded
live equals the same audio streamed from a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES
from mmface_studio.engine.classic import blinks as bl
from mmface_studio.engine.classic import emotion as em
from mmface_studio.engine.classic.engine import EYE_LIMIT, VOR_GAIN
from mmface_studio.engine.request import EMOTIONS
from mmface_studio.engine.stream_classic import ClassicStreamingBackend
from mmface_studio.engine.stream_features import DEFAULT_LOOKAHEAD, HOP, SR, WINDOW, FrameFeatures, FrontEnd
from mmface_studio.engine.stream_motion import LiveMotion

FRAME_RATE = SR / HOP  # 100 frames a second
DEFAULT_LOOKAHEAD_S = DEFAULT_LOOKAHEAD / SR
_IDX = ARKIT52.index
_N_SHAPES = len(ARKIT_BLENDSHAPES)
_ARTICULATION = np.array([ARKIT_BLENDSHAPES.index(c) for c in em.ARTICULATION])


@runtime_checkable
class StreamingBackend(Protocol):
    """A causal lip-sync model: frame features in, the 52 ARKit face shapes out, frame for frame.

    ``mouth`` is called with consecutive frames (any number at a time, in order) and returns
    ``(52, len(features))`` float values in 0..1; it may keep state between calls (``reset``
    clears it). ``min_lookahead`` is the audio (16 kHz samples) after a frame's time that the model
    needs in the frame's window (``features.windows``, 512 samples, ending that far after the
    frame's time); a causal model says 0. Emotion, head motion and blinks are added by the session.
    """

    name: str
    min_lookahead: int

    def reset(self) -> None: ...

    def mouth(self, features: FrameFeatures) -> np.ndarray: ...


_BACKENDS: dict[str, Callable[[], StreamingBackend]] = {"classic": ClassicStreamingBackend}


def register_streaming_backend(name: str, factory: Callable[[], StreamingBackend]) -> None:
    """Make a streaming lip-sync model available by name (e.g. a causal ResNet1D checkpoint)."""
    _BACKENDS[name] = factory


def streaming_backend_names() -> list[str]:
    return sorted(_BACKENDS)


def make_streaming_backend(name: str = "classic") -> StreamingBackend:
    """The registered backend ``name``; unknown names raise ``KeyError`` listing the known ones."""
    try:
        return _BACKENDS[name]()
    except KeyError:
        raise KeyError(f"No streaming backend {name!r}; available: {', '.join(streaming_backend_names())}.") from None


@dataclass(frozen=True)
class StreamFrames:
    """Frames ``start .. start + n - 1`` at :data:`FRAME_RATE` as arkit52 values (channels x n)."""

    start: int
    values: np.ndarray
    level: np.ndarray  # the speech level 0..1 each frame saw (for meters and tests)

    def __len__(self) -> int:
        return int(self.values.shape[1])

    @property
    def times(self) -> np.ndarray:
        return (self.start + np.arange(len(self))) / FRAME_RATE

    def channel(self, name: str) -> np.ndarray:
        return self.values[_IDX[name]]


class StreamSession:
    """Live lip-sync of one stream. Not thread-safe: one thread pushes and pulls.

    ``lookahead_s``: audio after a frame's time that its window includes (default: half the
    32 ms window, so the window is centred on the frame). ``emotion``: 7 intensities in
    ``EMOTIONS`` order (default neutral). ``style``: a head-motion style of ``head_motion.STYLES``.
    """

    def __init__(self, backend: StreamingBackend | str = "classic", *, lookahead_s: float = DEFAULT_LOOKAHEAD_S,
                 emotion: np.ndarray | None = None, style: str = "calm", seed: int = 0) -> None:
        self.backend = make_streaming_backend(backend) if isinstance(backend, str) else backend
        lookahead = int(round(lookahead_s * SR))
        if lookahead < self.backend.min_lookahead:
            raise ValueError(f"The {self.backend.name} backend needs a lookahead of at least "
                             f"{self.backend.min_lookahead / SR * 1000:.0f} ms.")
        self._lookahead = min(max(lookahead, 0), WINDOW)
        self._seed = seed
        self._style = style
        self._gammas = np.zeros(len(EMOTIONS), np.float32)
        self.set_emotion(emotion)
        self.reset()

    @property
    def lookahead_s(self) -> float:
        return self._lookahead / SR

    @property
    def samples_pushed(self) -> int:
        return self._front.pushed

    @property
    def frames_emitted(self) -> int:
        return self._front.next_frame

    def ready_sample(self, frame: int) -> int:
        """The 16 kHz sample count after which ``frame`` is emitted (its window's end)."""
        return self._front.ready_sample(frame)

    @property
    def emotion(self) -> np.ndarray:
        return self._gammas.copy()

    @property
    def style(self) -> str:
        return self._style

    def reset(self) -> None:
        """Start a new stream (frame 0 at the next pushed sample), keeping emotion and style."""
        self._front = FrontEnd(self._lookahead)
        self.backend.reset()
        self._motion = LiveMotion(FRAME_RATE, self._style, self._seed)
        self._ready: list[StreamFrames] = []

    def set_emotion(self, gammas: np.ndarray | list[float] | None) -> None:
        """Emotion intensities (7, 0..1, ``EMOTIONS`` order) for the frames computed from now on."""
        g = np.zeros(len(EMOTIONS), np.float32) if gammas is None else np.asarray(gammas, np.float32).reshape(-1)
        if g.size != len(EMOTIONS) or not np.all(np.isfinite(g)):
            raise ValueError(f"emotion needs {len(EMOTIONS)} finite intensities ({', '.join(EMOTIONS)}), got {g}")
        self._gammas = np.clip(g, 0.0, 1.0)

    def set_style(self, name: str) -> None:
        """Head-motion style for the frames computed from now on."""
        self._motion.set_style(name)
        self._style = name

    # ------------------------------------------------------------------ streaming

    def push(self, samples: np.ndarray) -> int:
        """Feed 16 kHz mono float samples; returns how many frames are now waiting in :meth:`pull`."""
        features = self._front.push(samples)
        if features is not None:
            self._ready.append(self._frames(features))
        return sum(len(f) for f in self._ready)

    def pull(self) -> StreamFrames:
        """The frames computed since the last pull (possibly none)."""
        ready, self._ready = self._ready, []
        if not ready:
            return StreamFrames(self.frames_emitted, np.zeros((len(ARKIT52), 0), np.float32), np.zeros(0, np.float32))
        if len(ready) == 1:
            return ready[0]
        return StreamFrames(ready[0].start, np.concatenate([f.values for f in ready], axis=1),
                            np.concatenate([f.level for f in ready]))

    def process(self, samples: np.ndarray) -> StreamFrames:
        """``push`` then ``pull``."""
        self.push(samples)
        return self.pull()

    def flush(self) -> StreamFrames:
        """End of stream: emit the frames whose time lies in the pushed audio (their lookahead reads silence)."""
        end = self.samples_pushed
        need = self.ready_sample(-(-end // HOP) - 1) - end  # the last frame whose time is inside the audio
        if need > 0:
            self.push(np.zeros(need, np.float32))
        return self.pull()

    def _emotion_overlay(self, mouth: np.ndarray) -> np.ndarray:
        """``classic.emotion.apply_emotion`` for one constant emotion, without phone constraints.

        The same articulation gain and FACS directions; the lip constraints it re-applies need
        phones, which live input does not have (with no phones they change nothing), so they are
        skipped here to save their per-call cost.
        """
        face = mouth.astype(np.float32, copy=True)
        face[_ARTICULATION] *= np.float32(1.0 + em.LIPSYNC_GAIN @ self._gammas)
        face += (em.DIRECTIONS.T @ self._gammas)[:, None]
        return np.clip(face, 0.0, 1.0, out=face)

    def _frames(self, features: FrameFeatures) -> StreamFrames:
        n = len(features)
        mouth = self.backend.mouth(features).astype(np.float32, copy=False)
        values = np.zeros((len(ARKIT52), n), np.float32)
        values[:_N_SHAPES] = self._emotion_overlay(mouth)
        factor = float(1.0 + bl.EMOTION_RATE @ self._gammas)
        motion = np.empty((5, n))
        lids = np.empty(n, np.float32)
        for k in range(n):
            motion[:, k], lids[k] = self._motion.step(features.start + k, float(features.level[k]),
                                                      float(features.energy_db[k]), factor)
        values[_IDX["HeadYaw"]], values[_IDX["HeadPitch"]], values[_IDX["HeadRoll"]] = motion[:3]
        yaw = np.clip(motion[3] - VOR_GAIN * motion[0], -EYE_LIMIT, EYE_LIMIT)
        pitch = np.clip(motion[4] - VOR_GAIN * motion[1], -EYE_LIMIT, EYE_LIMIT)
        for side in ("Left", "Right"):
            blink = _IDX[f"eyeBlink{side}"]
            values[blink] = np.maximum(values[blink], lids)
            values[_IDX[f"eyeWide{side}"]] *= 1.0 - lids
            values[_IDX[f"{side}EyeYaw"]] = yaw
            values[_IDX[f"{side}EyePitch"]] = pitch
        for name, weight in bl.eye_look_shapes(yaw, pitch).items():
            values[_IDX[name]] = weight
        return StreamFrames(features.start, ARKIT52.clip(values), features.level.copy())


def frames_to_performance(values: np.ndarray, fps: float, provenance: dict | None = None) -> Performance:
    """A take's frames (arkit52 x n at :data:`FRAME_RATE`) as a Performance at ``fps``.

    Each output frame averages the stream frames within +-half an output frame (a box filter), so a
    100 -> 30 fps take keeps short closures' depth better than picking every third frame would.
    """
    n = values.shape[1]
    duration = n / FRAME_RATE
    count = max(1, int(round(duration * fps)))
    t = np.arange(count) / fps
    csum = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1, dtype=np.float64)], axis=1)
    half = 0.5 * FRAME_RATE / fps
    lo = np.clip(np.floor(t * FRAME_RATE - half + 0.5).astype(int), 0, n - 1)
    hi = np.clip(np.floor(t * FRAME_RATE + half + 0.5).astype(int), lo + 1, n)
    out = (csum[:, hi] - csum[:, lo]) / (hi - lo)[None, :]
    prov = {"engine": "live", "source_rate": FRAME_RATE, **(provenance or {})}
    return Performance(float(fps), ARKIT52, ARKIT52.clip(out.astype(np.float32)), prov)
