"""The classic engine: deterministic viseme/coarticulation lip-sync, FACS emotions, blinks, head motion.

No weights. It implements the pipeline's stage functions (see ``engine.pipeline.StageEngine``);
the pipeline owns caching and decides which stages to re-run. Each stage returns plain arrays in
ARKit order, so the composition is a few array copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES
from mmface_studio.engine.classic import blinks as bl
from mmface_studio.engine.classic import coarticulation as co
from mmface_studio.engine.classic import emotion as em
from mmface_studio.engine.classic import head_motion as hm
from mmface_studio.engine.request import Analysis, EmotionTrack

if TYPE_CHECKING:
    from mmface_studio.engine.pipeline import StageContext

#: Share of head rotation the eyes counter-rotate (vestibulo-ocular reflex keeps gaze on the listener).
VOR_GAIN = 0.8
EYE_LIMIT = 0.5
_IDX = ARKIT52.index
_N_SHAPES = len(ARKIT_BLENDSHAPES)


@dataclass(frozen=True, eq=False)
class LipSync:
    """Lip-sync stage output: mouth shapes (52 x T), constraint masks, per-frame prosody, audio emotion prior."""

    fps: float
    mouth: np.ndarray
    masks: dict
    prosody: co.FrameProsody
    prior: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.mouth.shape[1])


@dataclass(frozen=True, eq=False)
class Face:
    """Emotion stage output: all 52 shapes (before blinks and gaze) and the effective intensities (7 x T)."""

    shapes: np.ndarray
    gammas: np.ndarray


class ClassicEngine:
    """Phonetic engine: pocketsphinx phones + prosody in, arkit52 performance out."""

    name = "classic"
    version = "1.0"
    space = ARKIT52

    def __init__(self) -> None:
        self._prosody_memo: tuple[tuple[str, float], co.FrameProsody] | None = None

    def prosody(self, analysis: Analysis, fps: float) -> co.FrameProsody:
        """Per-frame prosody, memoised for the last (analysis, fps): three stages read it."""
        key = (analysis.key, float(fps))
        if self._prosody_memo is None or self._prosody_memo[0] != key:
            self._prosody_memo = (key, co.frame_prosody(analysis, fps, analysis.frame_count(fps)))
        return self._prosody_memo[1]

    def lipsync(self, analysis: Analysis, fps: float, ctx: StageContext) -> LipSync:
        n = analysis.frame_count(fps)
        mouth = co.blend_visemes(analysis, fps, n, ctx.check)
        ctx.progress(0.8)
        masks = co.constraint_masks(analysis, fps, n)
        co.enforce_constraints(mouth, masks)
        prosody = self.prosody(analysis, fps)
        return LipSync(fps, mouth, masks, prosody, em.audio_prior(prosody, fps))

    def emotion(self, lipsync: LipSync, track: EmotionTrack, prior_weight: float, ctx: StageContext) -> Face:
        times = co.frame_times(lipsync.n_frames, lipsync.fps)
        gammas = em.effective_gammas(track, times, lipsync.prior, prior_weight)
        ctx.check()
        return Face(em.apply_emotion(lipsync.mouth, gammas, lipsync.masks), gammas)

    def blinks(self, analysis: Analysis, fps: float, seed: int, ctx: StageContext) -> bl.BlinkPlan:
        return bl.plan_blinks(self.prosody(analysis, fps), fps, analysis.frame_count(fps), seed)

    def head_pose(self, analysis: Analysis, fps: float, seed: int, style: str, ctx: StageContext) -> np.ndarray:
        return hm.sample_pose(analysis, self.prosody(analysis, fps), fps, analysis.frame_count(fps), seed, style)

    def compose(self, face: Face, plan: bl.BlinkPlan, pose: np.ndarray, ctx: StageContext) -> np.ndarray:
        """All arkit52 channels (C x T): face + blinks + gaze (counter-rotated against the head) + head pose."""
        n = face.shapes.shape[1]
        values = np.zeros((len(ARKIT52), n), np.float32)
        values[:_N_SHAPES] = face.shapes
        lids = bl.blink_curve(bl.blink_frames(plan, face.gammas), n, plan.fps)
        for side in ("Left", "Right"):
            blink = _IDX[f"eyeBlink{side}"]
            values[blink] = np.maximum(values[blink], lids)
            values[_IDX[f"eyeWide{side}"]] *= 1.0 - lids
        yaw = np.clip(plan.gaze[0] - VOR_GAIN * pose[0], -EYE_LIMIT, EYE_LIMIT)
        pitch = np.clip(plan.gaze[1] - VOR_GAIN * pose[1], -EYE_LIMIT, EYE_LIMIT)
        for name, weight in bl.eye_look_shapes(yaw, pitch).items():
            values[_IDX[name]] = weight
        values[_IDX["HeadYaw"]], values[_IDX["HeadPitch"]], values[_IDX["HeadRoll"]] = pose
        for side in ("Left", "Right"):
            values[_IDX[f"{side}EyeYaw"]] = yaw
            values[_IDX[f"{side}EyePitch"]] = pitch
        return ARKIT52.clip(values)

    def pose_channels(self) -> list[int]:
        """Rows of the composed values that hold head pose (what locks protect)."""
        return [_IDX["HeadYaw"], _IDX["HeadPitch"], _IDX["HeadRoll"]]
