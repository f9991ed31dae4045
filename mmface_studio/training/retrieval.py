"""A small contrastive text-motion retrieval model: the feature network behind R-precision and FID.

Seed 001 measures text faithfulness with a TMR-style retrieval network: text and motion are
embedded in one space, trained so that a description lies nearest its own motion; R-precision
ranks motions by distance to each text, and FID compares the motion embeddings of generated and
real takes. No such network can be downloaded here, so this one is small enough to train on the
synthetic corpus in minutes on a CPU:

- text: the sentence vector of the frozen text encoder (MiniLM, 384-d) through a 2-layer MLP;
- motion: (B, T, face + pose channels) through two 1-D convolutions (local articulation, 5 frames
  each) and a bidirectional GRU; the final states of both directions, over the valid frames
  only, make the summary;
- both projected to ``latent_dim`` and L2-normalised; trained with the symmetric InfoNCE loss
  (each text must pick its motion among the batch's and vice versa) at a learnable temperature.

It is a :class:`FamilyModel` (family ``retrieval``), so it saves and loads as any checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mmface_studio.engine.models.base import FamilyModel, ModelConfigError, face_dim, pose_dim, register_family


@dataclass(frozen=True)
class RetrievalConfig:
    """Sizes of the retrieval model; ``space`` fixes the motion channels (face rows + pose rows)."""

    space: str = "arkit52"
    text_dim: int = 384
    hidden: int = 256
    latent_dim: int = 256
    dropout: float = 0.1
    init_temperature: float = 0.07

    def __post_init__(self) -> None:
        for name in ("text_dim", "hidden", "latent_dim"):
            if int(getattr(self, name)) < 1:
                raise ModelConfigError(f"RetrievalConfig.{name} must be positive.")
        if not 0.0 < self.init_temperature < 1.0:
            raise ModelConfigError("RetrievalConfig.init_temperature must be between 0 and 1.")

    @property
    def motion_dim(self) -> int:
        return face_dim(self.space) + pose_dim(self.space)


@register_family
class RetrievalModel(FamilyModel):
    """Text and motion encoders into one normalised space (see the module docstring)."""

    family = "retrieval"
    config_class = RetrievalConfig

    def __init__(self, config: RetrievalConfig) -> None:
        super().__init__(config)
        c = config
        self.text_mlp = nn.Sequential(nn.Linear(c.text_dim, c.hidden), nn.GELU(), nn.Dropout(c.dropout),
                                      nn.Linear(c.hidden, c.latent_dim))
        self.motion_conv = nn.Sequential(nn.Conv1d(c.motion_dim, c.hidden, 5, padding=2), nn.GELU(),
                                         nn.Conv1d(c.hidden, c.hidden, 5, padding=2), nn.GELU())
        self.motion_gru = nn.GRU(c.hidden, c.hidden, batch_first=True, bidirectional=True)
        self.motion_out = nn.Linear(2 * c.hidden, c.latent_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))

    def encode_text(self, sentence: torch.Tensor) -> torch.Tensor:
        """(B, text_dim) sentence vectors -> (B, latent_dim) unit vectors."""
        return F.normalize(self.text_mlp(sentence), dim=-1)

    def encode_motion(self, motion: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, motion_dim) motion (``lengths``: valid frames per row, default all) -> (B, latent_dim)."""
        if motion.ndim != 3 or motion.shape[-1] != self.config.motion_dim:
            raise ValueError(f"motion must be (B, T, {self.config.motion_dim}), got {tuple(motion.shape)}")
        h = self.motion_conv(motion.transpose(1, 2)).transpose(1, 2)
        if lengths is None:
            _, last = self.motion_gru(h)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(h, lengths.clamp_min(1).cpu(), batch_first=True,
                                                       enforce_sorted=False)
            _, last = self.motion_gru(packed)
        summary = torch.cat([last[0], last[1]], dim=-1)
        return F.normalize(self.motion_out(summary), dim=-1)

    def forward(self, sentence: torch.Tensor, motion: torch.Tensor,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_text(sentence), self.encode_motion(motion, lengths)

    def loss(self, sentence: torch.Tensor, motion: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetric InfoNCE over the batch (row i of each input is a pair)."""
        text_z, motion_z = self(sentence, motion, lengths)
        return info_nce(text_z, motion_z, self.log_scale.clamp(max=math.log(100.0)).exp())


def info_nce(text_z: torch.Tensor, motion_z: torch.Tensor, scale: torch.Tensor | float = 1.0 / 0.07) -> torch.Tensor:
    """Mean of text->motion and motion->text cross-entropy over cosine similarities times ``scale``."""
    logits = scale * text_z @ motion_z.t()
    target = torch.arange(len(text_z), device=text_z.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
