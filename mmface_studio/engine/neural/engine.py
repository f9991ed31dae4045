"""A neural engine: trained checkpoints behind the same stage interface as the classic engine.

One lip-sync family (Audio2FLAME + emotion control, ResNet1D, or MM2Face) drives the face; the
pose family (seed 002) drives head pose when a pose checkpoint is installed, the classic head-
motion program otherwise. The pipeline's stage caches work unchanged (DESIGN 2):

    lipsync  the family's base face from the log-mel features (+ the audio emotion prior for
             Audio2FLAME; MM2Face also reads the prompt and a sampling seed: ``stage_inputs``)
    emotion  Audio2FLAME: its residual emotion-augment network on gamma_t = gamma_u,t + w(gamma_a,t -
             mean gamma_a); other families in arkit52: the classic FACS overlay on the same gamma_t
    blinks   the classic blink and gaze planner (arkit52 only)
    pose     the pose generator sampled with the request's seed and style, in-filling around locks
    compose  face rows + pose rows (+ blinks and gaze in arkit52) into the space's channels

Torch runs under ``inference_mode`` on CUDA when present, CPU otherwise.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mmface_studio.core.spaces import ARKIT52, FLAME56, ParameterSpace
from mmface_studio.engine.classic import blinks as bl
from mmface_studio.engine.classic import coarticulation as co
from mmface_studio.engine.classic import emotion as em
from mmface_studio.engine.classic import head_motion as hm
from mmface_studio.engine.classic.engine import ClassicEngine, Face
from mmface_studio.engine.models.base import FamilyModel, channel_rows, face_channel_names, pose_channel_names
from mmface_studio.engine.neural import LIPSYNC_FAMILIES
from mmface_studio.engine.request import Analysis, EmotionTrack, PoseLock, RequestError

if TYPE_CHECKING:
    from mmface_studio.engine.pipeline import StageContext



@dataclass(frozen=True, eq=False)
class NeuralLipSync:
    """Lip-sync stage output: base face (D x T, the family's face rows), the emotion prior (7 x T), prosody."""

    fps: float
    base: np.ndarray
    prior: np.ndarray
    prosody: co.FrameProsody
    masks: dict

    @property
    def n_frames(self) -> int:
        return int(self.base.shape[1])


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class NeuralEngine:
    """Stage functions backed by a lip-sync checkpoint and an optional pose checkpoint."""

    needs_phones = False

    def __init__(self, face_model: FamilyModel, pose_model: FamilyModel | None = None, *, name: str | None = None,
                 version: str = "", checkpoint: dict[str, str] | None = None, text_encoder: Any = None,
                 device: str | torch.device | None = None) -> None:
        if face_model.family not in LIPSYNC_FAMILIES:
            raise RequestError(f"A {face_model.family!r} model cannot drive the face; use one of "
                               f"{', '.join(LIPSYNC_FAMILIES)}.")
        space = face_model.config.space
        if pose_model is not None and pose_model.config.space != space:
            raise RequestError(f"The pose model works in {pose_model.config.space}, the face model in {space}.")
        self.device = pick_device(device)
        self.face_model = face_model.to(self.device).eval()
        self.pose_model = pose_model.to(self.device).eval() if pose_model is not None else None
        self.family = face_model.family
        self.name = name or self.family
        self.version = version or "untrained"
        #: The checkpoint files behind this engine (for provenance: which weights made a take).
        self.checkpoint = checkpoint
        self.space: ParameterSpace = ARKIT52 if space == "arkit52" else FLAME56
        self.infills_pose = self.pose_model is not None
        self._text_encoder = text_encoder
        self._classic = ClassicEngine()
        self._face_rows = channel_rows(space, face_channel_names(space))
        self._pose_rows = channel_rows(space, pose_channel_names(space))

    # --- inputs ---------------------------------------------------------------------------------------------

    def stage_inputs(self, stage: str, request: Any) -> dict[str, Hashable]:
        """MM2Face's face depends on the prompt and its sampling seed; the others only on the audio."""
        if stage == "lipsync" and self.family == "mm2face":
            return {"prompt": str(request.prompt or ""), "seed": int(request.pose_seed)}
        return {}

    def _features(self, analysis: Analysis) -> torch.Tensor:
        if analysis.mel is None:
            raise RequestError("This neural engine needs the audio's log-mel features; the analysis has none "
                               "(it was built without audio).")
        config = self.face_model.config
        if analysis.mel.shape[1] != config.audio_dim or abs(analysis.feature_rate - config.audio_rate) > 1e-6:
            raise RequestError(f"The {self.name} checkpoint expects {config.audio_dim} features at "
                               f"{config.audio_rate:g} Hz; the analysis has {analysis.mel.shape[1]} at "
                               f"{analysis.feature_rate:g} Hz.")
        return torch.from_numpy(np.array(analysis.mel, np.float32))[None].to(self.device)

    def _text(self, prompt: str) -> Any:
        if not prompt.strip():
            return None
        if self._text_encoder is None:
            from mmface_studio.engine.encoders.text import load_text_encoder

            self._text_encoder = load_text_encoder(device=self.device)
        from mmface_studio.engine.neural.prompt import prompt_levels

        return self._text_encoder.encode_hierarchical(prompt_levels(prompt))

    def _check_fps(self, fps: float) -> None:
        want = self.face_model.config.fps
        if abs(float(fps) - want) > 1e-6:
            raise RequestError(f"The {self.name} checkpoint generates {want:g} fps; set the project to {want:g} fps "
                               f"(got {fps:g}).")

    # --- stages ---------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def lipsync(self, analysis: Analysis, fps: float, ctx: StageContext, *, prompt: str = "",
                seed: int = 0) -> NeuralLipSync:
        self._check_fps(fps)
        n = analysis.frame_count(fps)
        feats = self._features(analysis)
        prosody = self._classic.prosody(analysis, fps)
        model: Any = self.face_model
        prior = None
        if self.family == "audio2flame":
            enc = model.encode(feats, n)
            base = model.content(feats, n, enc)
            prior = model.emotion_prior(feats, n, enc)[0].T.float().cpu().numpy()
        elif self.family == "resnet1d":
            base = model(feats, n)
        else:
            ctx.check()
            motion = model.sample(self._text(prompt), feats, n, seed=int(seed))
            base = motion[..., : len(self._face_rows)]
        ctx.progress(0.9)
        if prior is None:
            prior = em.audio_prior(prosody, fps)
        masks = co.constraint_masks(analysis, fps, n)
        return NeuralLipSync(fps, base[0].T.float().cpu().numpy().copy(), prior.astype(np.float32), prosody, masks)

    @torch.inference_mode()
    def emotion(self, lipsync: NeuralLipSync, track: EmotionTrack, prior_weight: float, ctx: StageContext) -> Face:
        times = co.frame_times(lipsync.n_frames, lipsync.fps)
        gammas = em.effective_gammas(track, times, lipsync.prior, prior_weight)
        if self.family == "audio2flame":
            base = torch.from_numpy(lipsync.base.T.copy())[None].to(self.device)
            gamma = torch.from_numpy(gammas.T.copy())[None].to(self.device)
            face = self.face_model.augment(base, gamma)[0].T.float().cpu().numpy()
        elif self.space is ARKIT52:
            face = em.apply_emotion(np.clip(lipsync.base, 0.0, 1.0), gammas, lipsync.masks)
        else:  # flame56 without an emotion network: the family's own face (no FACS overlay in FLAME space)
            face = lipsync.base.copy()
        return Face(np.ascontiguousarray(face, np.float32), gammas)

    def blinks(self, analysis: Analysis, fps: float, seed: int, ctx: StageContext) -> bl.BlinkPlan | None:
        if self.space is not ARKIT52:
            return None
        return self._classic.blinks(analysis, fps, seed, ctx)

    @torch.inference_mode()
    def head_pose(self, analysis: Analysis, fps: float, seed: int, style: str, ctx: StageContext, *,
                  locks: tuple[PoseLock, ...] = (), previous: np.ndarray | None = None) -> np.ndarray:
        """3 x T head pose in this space's pose rows (arkit52: yaw, pitch, roll; flame56: global x, y, z)."""
        n = analysis.frame_count(fps)
        if self.pose_model is None:
            take = hm.sample_pose(analysis, self._classic.prosody(analysis, fps), fps, n, seed, style)
            return take if self.space is ARKIT52 else take[[1, 0, 2]]  # FLAME: x = pitch, y = yaw, z = roll
        feats = self._features(analysis)
        locked = mask = None
        if locks and previous is not None and previous.shape[1] == n:
            times = np.arange(n) / fps
            keep = np.zeros(n, bool)
            for lock in locks:
                keep |= (times >= lock.start) & (times < lock.end)
            if keep.any():
                locked = torch.from_numpy(np.ascontiguousarray(previous.T, np.float32))[None].to(self.device)
                mask = torch.from_numpy(keep)[None].to(self.device)
        pose = self.pose_model.sample(feats, n, seed=int(seed), style=style, locked_pose=locked, lock_mask=mask)
        return pose[0].T.float().cpu().numpy().copy()

    def compose(self, face: Face, plan: bl.BlinkPlan | None, pose: np.ndarray, ctx: StageContext) -> np.ndarray:
        if self.space is ARKIT52 and plan is not None:
            return self._classic.compose(Face(np.clip(face.shapes, 0.0, 1.0), face.gammas), plan, pose, ctx)
        values = np.zeros((len(self.space), face.shapes.shape[1]), np.float32)
        values[self._face_rows] = face.shapes
        values[self._pose_rows] = pose
        return self.space.clip(values)

    def pose_channels(self) -> list[int]:
        return list(self._pose_rows)
