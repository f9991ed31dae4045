"""Keeps a project's generated base in step with its inputs, through the pipeline's stage caches.

The document (``core``) stores the generated base performance; the engine
knows how to re-derive it. An emotion-key edit re-runs only the emotion stage
(milliseconds, DESIGN 5: <= 50 ms for 60 s) and a pose re-sample only the pose
stage, because the pipeline caches every other stage for the same audio. Qt-free:
the GUI calls :meth:`refresh` on its own thread when :meth:`is_cached` says the
slow analysis is done, and the full :meth:`generate` on a worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from mmface_studio.core.performance import Performance
from mmface_studio.engine.pipeline import CancelToken, Pipeline, ProgressCallback
from mmface_studio.engine.request import GenerationRequest


class EngineSession:
    """One pipeline serving one project document."""

    def __init__(self, project: Any, pipeline: Pipeline | None = None) -> None:
        self.project = project
        self.pipeline = pipeline or Pipeline()

    def request(self, **overrides: Any) -> GenerationRequest:
        fields = self.project.request_fields()
        fields.update(overrides)
        return GenerationRequest(**fields)

    def has_audio(self) -> bool:
        return self.project.audio is not None

    def is_cached(self) -> bool:
        """True when an edit can be applied in milliseconds (the audio's analysis is cached)."""
        return self.has_audio() and self.pipeline.has_analysis(self.request())

    def generate(self, *, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> Performance:
        """Full generation (analysis included when not cached): run it off the GUI thread."""
        return self.pipeline.run(self.request(), previous=self.project.base, progress=progress, cancel=cancel)

    def refresh(self) -> Performance:
        """Re-derive the base after an emotion or lock edit; only the changed stages run."""
        return self.pipeline.run(self.request(), previous=self.project.base)

    def emotion_priors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The voice-predicted emotion intensities behind the latest result: ``(frame times s, 7 x T)``.

        What the follow-voice weight (``project.emotion_prior_weight``) mixes into the keyed emotion;
        None before a generation, or for an engine whose lip-sync stage predicts no emotion.
        """
        return self.pipeline.last_emotion_prior

    def resample_pose(self, seed: int) -> Performance:
        """A new head-pose take with ``seed``; locked ranges keep the current take's values."""
        return self.pipeline.run(self.request(pose_seed=int(seed)), previous=self.project.base)

    def pose_candidates(self, seeds: Iterable[int]) -> list[tuple[int, Performance]]:
        """Several takes to preview and pick from (each costs one pose stage run)."""
        base = self.request()
        return [(int(s), self.pipeline.run(replace(base, pose_seed=int(s)), previous=self.project.base))
                for s in seeds]
