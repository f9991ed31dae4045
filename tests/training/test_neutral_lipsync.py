"""ResNet1D learns the lip sync the engine's emotion overlay is laid on, not the overlaid face."""

from __future__ import annotations

import numpy as np
import torch

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
from mmface_studio.engine.classic import emotion as em
from mmface_studio.training.tasks import neutral_lipsync

OWNED = [i for i, c in enumerate(ARKIT_BLENDSHAPES) if c.startswith(("eyeBlink", "eyeLook"))]


def _no_constraints(n: int) -> dict:
    off = (np.zeros(n, bool), np.zeros(n, np.float32))
    return {name: off for name in ("rounded", "bilabial", "labiodental")}


def test_the_emotion_overlay_is_undone_exactly() -> None:
    rng = np.random.default_rng(3)
    n = 60
    mouth = (rng.random((52, n)) * 0.3).astype(np.float32)  # small enough that the overlay never clips
    mouth[OWNED] = 0.0
    gammas = np.zeros((7, n), np.float32)
    gammas[1] = np.linspace(0.0, 0.6, n)  # happiness rising
    gammas[6, 30:] = 0.5  # anger in the second half
    face = em.apply_emotion(mouth, gammas, _no_constraints(n))
    assert np.abs(face - mouth).max() > 0.3  # the overlay really changed the face
    back = neutral_lipsync(torch.from_numpy(face.T)[None], torch.from_numpy(gammas.T)[None])[0].numpy().T
    np.testing.assert_allclose(back, mouth, atol=1e-5)


def test_blinks_and_gaze_are_left_to_the_engine() -> None:
    face = torch.zeros(1, 10, 52)
    face[..., OWNED] = 0.9
    out = neutral_lipsync(face, torch.zeros(1, 10, 7))
    assert float(out[..., OWNED].abs().max()) == 0.0
