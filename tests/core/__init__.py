"""Project-document tests: helpers that build small projects without the engine or audio files."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mmface_studio.audio import AudioClip, clip_from_array
from mmface_studio.core.performance import Performance
from mmface_studio.core.project import Project
from mmface_studio.core.project_schema import to_manifest
from mmface_studio.core.spaces import ARKIT52


def make_clip(seconds: float = 2.0, rate: int = 16_000, channels: int = 1, seed: int = 0,
              sixteen_bit: bool = True) -> AudioClip:
    """Noise bursts as a clip; 16-bit integer samples (exact in FLAC) unless ``sixteen_bit`` is False."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * rate)
    envelope = 0.5 + 0.5 * np.sin(np.arange(frames) / rate * 2 * np.pi * 3.0)
    signal = rng.normal(0.0, 0.2, (frames, channels)) * envelope[:, None]
    if sixteen_bit:
        return clip_from_array(np.clip(signal * 32767, -32768, 32767).astype(np.int16), rate, name="take.wav")
    return clip_from_array(np.clip(signal, -1, 1).astype(np.float32), rate, name="take.wav")


def random_base(frames: int = 90, fps: float = 30.0, seed: int = 0) -> Performance:
    """A plausible arkit52 performance with values inside every channel's range."""
    rng = np.random.default_rng(seed)
    lo, hi = ARKIT52.minimums[:, None], ARKIT52.maximums[:, None]
    values = lo + (hi - lo) * rng.uniform(0.1, 0.9, (len(ARKIT52), frames))
    return Performance(fps, ARKIT52, values.astype(np.float32), {"engine": "test", "seed": seed})


def snapshot(project: Project) -> tuple[Any, ...]:
    """A canonical, comparable form of the whole document (manifest, arrays, audio, evaluation)."""
    manifest, arrays = to_manifest(project)
    return (json.dumps(manifest, sort_keys=True), {k: v.tobytes() for k, v in arrays.items()},
            id(project.audio), project.evaluate().values.tobytes())
