"""Emotion control for the classic engine: FACS action units -> ARKit shapes, on top of the lip-sync.

Each non-neutral emotion is a fixed direction in ARKit space built from its prototypical action
units (Ekman & Friesen's EMFACS prototypes); intensity gamma moves the face linearly along it,
so the expression rises monotonically with the slider and keyframes blend predictably. Emotion
also changes how big the articulation is (joy and anger speak bigger, sadness smaller), which
sells an emotion more than the static expression does.

The per-frame intensities follow seed 003: gamma_t = gamma_u,t + w * (gamma_a,t - mean(gamma_a)),
where gamma_u is the animator's keyframed track and gamma_a an audio prior. Here gamma_a is a
prosody heuristic (arousal from loudness and pitch), mean-centred so it only adds variation
around what the animator chose, never a bias; ``w`` is small by default.

Neutral has no shape: it is the absence of the others (its logit is kept for neural engines).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mmface_studio.core.emotion_track import follow_voice
from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
from mmface_studio.engine.classic.coarticulation import FrameProsody, enforce_constraints
from mmface_studio.engine.classic.visemes import expand_symmetric
from mmface_studio.engine.request import EMOTIONS, EmotionTrack

_IDX = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}

#: ARKit weights at intensity 1, with the action units they realise.
EMOTION_SHAPES: dict[str, dict[str, float]] = {
    # AU6 cheek raiser + AU12 lip-corner puller (Duchenne smile); AU6 also narrows the eyes.
    "happiness": {"cheekSquint": 0.55, "mouthSmile": 0.75, "eyeSquint": 0.35, "mouthDimple": 0.15},
    # AU1 inner brow raiser + AU4 brow lowerer + AU15 lip-corner depressor (+ AU17 chin raiser).
    "sadness": {"browInnerUp": 0.7, "browDown": 0.3, "mouthFrown": 0.6, "mouthShrugLower": 0.25},
    # AU1 + AU2 outer brow raiser + AU5 upper-lid raiser + AU26 jaw drop.
    "surprise": {"browInnerUp": 0.65, "browOuterUp": 0.75, "eyeWide": 0.7, "jawOpen": 0.12},
    # AU1 + AU2 + AU4 + AU5 + AU20 lip stretcher (+ AU26 a little).
    "fear": {"browInnerUp": 0.75, "browOuterUp": 0.3, "browDown": 0.25, "eyeWide": 0.75, "mouthStretch": 0.55,
             "jawOpen": 0.05},
    # AU9 nose wrinkler + AU10 upper-lip raiser + AU15 (+ AU4 and AU6 from the wrinkling).
    "disgust": {"noseSneer": 0.7, "mouthUpperUp": 0.4, "mouthFrown": 0.35, "browDown": 0.3, "cheekSquint": 0.2,
                "eyeSquint": 0.2},
    # AU4 + AU5 + AU7 lid tightener + AU23 lip tightener / AU24 lip presser.
    "anger": {"browDown": 0.8, "eyeWide": 0.25, "eyeSquint": 0.5, "mouthPress": 0.5, "mouthRollLower": 0.15,
              "mouthRollUpper": 0.15, "noseSneer": 0.15},
}

#: Relative change of articulation size per unit intensity (EMOTIONS order).
LIPSYNC_GAIN = np.array([0.0, 0.12, -0.25, 0.1, -0.05, -0.1, 0.15], np.float32)
#: Channels whose speech movement is scaled by that gain; closure channels are left alone (seals must hold).
ARTICULATION = ("jawOpen", "jawForward", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
                "mouthUpperUpRight", "mouthStretchLeft", "mouthStretchRight", "mouthFunnel", "mouthPucker",
                "mouthShrugUpper", "tongueOut")
DEFAULT_PRIOR_WEIGHT = 0.1


def emotion_directions() -> np.ndarray:
    """(7, 52): the ARKit direction of each emotion at intensity 1 (neutral's row is zero)."""
    out = np.zeros((len(EMOTIONS), len(ARKIT_BLENDSHAPES)), np.float32)
    for name, shape in EMOTION_SHAPES.items():
        for channel, value in expand_symmetric(shape).items():
            out[EMOTIONS.index(name), _IDX[channel]] = value
    return out


DIRECTIONS = emotion_directions()
_ARTICULATION_IDX = np.array([_IDX[c] for c in ARTICULATION])


def audio_prior(prosody: FrameProsody, fps: float) -> np.ndarray:
    """gamma_a (7 x T) from prosody: arousal = loud and high-pitched relative to the clip itself.

    A heuristic stand-in for seed 003's learned emotion predictor. Prosody tells arousal, not
    valence, so high arousal feeds happiness/surprise/anger a little and low arousal sadness;
    the caller mean-centres it, so only the variation within the clip matters.
    """
    n = prosody.loudness.size
    out = np.zeros((len(EMOTIONS), n), np.float32)
    if n == 0:
        return out
    sigma = 1.5 * fps
    loud = gaussian_filter1d(prosody.loudness.astype(np.float64), sigma, mode="nearest")
    voiced = prosody.voiced.astype(np.float64)
    weight = gaussian_filter1d(voiced, sigma, mode="nearest")
    pitch = gaussian_filter1d(prosody.semitones.astype(np.float64) * voiced, sigma, mode="nearest")
    pitch = np.where(weight > 1e-3, pitch / np.maximum(weight, 1e-3), 0.0)

    def z(x: np.ndarray) -> np.ndarray:
        sd = x.std()
        return (x - x.mean()) / sd if sd > 1e-6 else np.zeros_like(x)

    arousal = np.tanh(0.6 * z(loud) + 0.4 * z(pitch))
    up, down = np.maximum(arousal, 0.0), np.maximum(-arousal, 0.0)
    out[0] = 1.0 - np.abs(arousal)
    out[1], out[3], out[6] = 0.5 * up, 0.4 * up, 0.3 * up
    out[2] = 0.6 * down
    return out


def effective_gammas(track: EmotionTrack, times: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """gamma_t = gamma_u,t + w (gamma_a,t - mean gamma_a), clipped to 0..1 (7 x T float32; ``core.follow_voice``)."""
    return follow_voice(track.sample(times), prior, weight)


def apply_emotion(mouth: np.ndarray, gammas: np.ndarray, masks: dict) -> np.ndarray:
    """Face shapes (52 x T): lip-sync scaled by the emotion's articulation gain, plus the emotion's
    expression, clipped to 0..1, with the lip constraints enforced again on the result.

    Every step is monotone non-decreasing in each gamma along its own direction (additive offsets,
    clipping, and the monotone constraint clamp), so a stronger emotion never shows less of itself.
    """
    face = mouth.astype(np.float32, copy=True)
    gain = 1.0 + LIPSYNC_GAIN @ gammas
    face[_ARTICULATION_IDX] *= gain[None, :]
    face += DIRECTIONS.T @ gammas
    np.clip(face, 0.0, 1.0, out=face)
    return enforce_constraints(face, masks)


def projection(face: np.ndarray, emotion: str) -> np.ndarray:
    """Per-frame projection of face shapes (52 x T) onto an emotion's unit direction."""
    d = DIRECTIONS[EMOTIONS.index(emotion)]
    return (d / np.linalg.norm(d)) @ face
