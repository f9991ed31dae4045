"""Seed 003's emotion control module: what turns a lip-synced face into an emotional one.

Seed 003 (Chen, Zhao, Zhang, "Expressive speech-driven facial animation with controllable
emotions") splits the problem in two: Audio2FLAME produces a face with accurate lips and a neutral
look, and an *emotion control module* adds the emotion on top, in a residual way, so that emotion
can be edited without touching the lip sync (seed 3.1, Eq. 2-3). The pieces, all here:

- :class:`EmotionPredictor`: one bi-directional LSTM layer (hidden 128) reading the audio
  encodings and giving 7 emotion *logits* per frame (seed 3.2 and 7.3). It is trained against
  emotion logits that an image emotion recogniser read off the training video (the seed uses DAN),
  because logits before the softmax track perceived intensity linearly (seed 7.2) where
  probabilities saturate. At inference its logits are min-max normalised with ranges measured on
  the training data (seed 7.3), which puts them on the same 0..1 scale as the animator's values.
- :func:`effective_gamma`: gamma_t = gamma_u,t + w * (gamma_a,t - mean_t gamma_a,t) (seed 3.2):
  the animator's per-frame emotion plus the *mean-centred* audio prior, so the audio contributes
  the ups and downs of the emotion while the animator sets its type and overall level.
- :class:`EmotionAugment`: a learnable 7 x 128 embedding matrix (seed 3.2) and a CNN with the
  Audio2FLAME layout plus a LayerNorm before the first convolution (seed 7.3) that reads
  [raw face; emotion feature] and returns a *correction* added to the raw face (seed Eq. 3).

No Qt, no I/O: these are plain torch modules and functions for the family in ``audio2flame``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mmface_studio.core.emotion_track import EMOTIONS


class EmotionPredictor(nn.Module):
    """Bi-LSTM emotion predictor: per-frame encodings (B, T, in_dim) -> emotion logits (B, T, E).

    The buffers ``logit_low``/``logit_high`` hold the per-emotion minimum and maximum of the
    training logits (seed 7.3: "re-scaled with max-min normalization, using minimum and maximum
    values obtained from statistics of emotion logits extracted from the training video dataset").
    They travel with the weights; the identity range (0, 1) is the default until a trainer sets it.
    """

    def __init__(self, in_dim: int, hidden: int = 128, n_emotions: int = len(EMOTIONS)) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, n_emotions)
        self.register_buffer("logit_low", torch.zeros(n_emotions))
        self.register_buffer("logit_high", torch.ones(n_emotions))

    @property
    def n_emotions(self) -> int:
        return int(self.head.out_features)

    def forward(self, encodings: torch.Tensor) -> torch.Tensor:
        """Raw emotion logits (B, T, E): the quantity the classification loss supervises."""
        hidden, _ = self.lstm(encodings)
        return self.head(hidden)

    def normalise(self, logits: torch.Tensor) -> torch.Tensor:
        """Min-max normalised logits, ~0..1 per emotion on the training data (not probabilities).

        Not clipped: a louder-than-training emotion may exceed 1, and the linear relation between
        logit and intensity (seed 7.2) is what the emotion control relies on.
        """
        span = (self.logit_high - self.logit_low).clamp_min(1e-6)
        return (logits - self.logit_low) / span

    @torch.no_grad()
    def set_logit_range(self, low: torch.Tensor, high: torch.Tensor) -> None:
        """Store the training-set logit range (per emotion) used by :meth:`normalise`."""
        low = torch.as_tensor(low, dtype=self.logit_low.dtype).reshape(-1)
        high = torch.as_tensor(high, dtype=self.logit_high.dtype).reshape(-1)
        if low.numel() != self.n_emotions or high.numel() != self.n_emotions:
            raise ValueError(f"Need {self.n_emotions} lows and highs, got {low.numel()} and {high.numel()}.")
        if bool((high <= low).any()):
            raise ValueError("Every emotion's logit range needs high > low.")
        self.logit_low.copy_(low)
        self.logit_high.copy_(high)


class EmotionAugment(nn.Module):
    """Emotion embedding + residual emotion-augment CNN (seed 3.2 and 7.3).

    ``forward(base, gamma) = base + A([base; gamma @ M])`` with M the learnable (E, 128) embedding
    matrix. A has Audio2FLAME's layout: LayerNorm, conv k=1 -> ReLU -> conv k=2c+1 -> ReLU -> conv
    k=1. Working on the residual keeps the lip sync of ``base`` and lets A spend its capacity on
    the emotion-related gap to the ground truth (seed Eq. 3). The only temporal kernel is the
    middle one, so an emotion edit at frame t changes the output at frames t-c .. t+c only, which
    is what makes per-keyframe edits local and cheap.
    """

    def __init__(self, face_dim: int, n_emotions: int = len(EMOTIONS), embed_dim: int = 128,
                 hidden: int = 128, context: int = 1) -> None:
        super().__init__()
        self.context = int(context)
        self.embedding = nn.Parameter(torch.randn(n_emotions, embed_dim) / math.sqrt(n_emotions))
        width = face_dim + embed_dim
        self.norm = nn.LayerNorm(width)
        self.net = nn.Sequential(
            nn.Conv1d(width, hidden, 1), nn.ReLU(),
            nn.Conv1d(hidden, hidden, 2 * self.context + 1, padding=self.context), nn.ReLU(),
            nn.Conv1d(hidden, face_dim, 1),
        )

    @property
    def n_emotions(self) -> int:
        return int(self.embedding.shape[0])

    def embed(self, gamma: torch.Tensor) -> torch.Tensor:
        """Emotion feature vectors (B, T, 128) = gamma (B, T, E) times the embedding matrix."""
        return gamma @ self.embedding

    def residual(self, base: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """A(base, gamma): the emotion correction alone (B, T, D)."""
        if gamma.shape[:2] != base.shape[:2] or gamma.shape[-1] != self.n_emotions:
            raise ValueError(f"gamma must be (B, T, {self.n_emotions}) matching the face {tuple(base.shape[:2])}, "
                             f"got {tuple(gamma.shape)}.")
        x = self.norm(torch.cat([base, self.embed(gamma.to(base.dtype))], dim=-1))
        return self.net(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, base: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        return base + self.residual(base, gamma)


def effective_gamma(gamma_u: torch.Tensor, prior: torch.Tensor, weight: float | torch.Tensor = 1.0) -> torch.Tensor:
    """gamma_t = gamma_u,t + w * (gamma_a,t - mean_t gamma_a,t)   (seed 3.2; DESIGN 1).

    ``prior`` (B, T, E) is the normalised audio prior; its mean over the segment (all T frames of
    each sequence) is removed, so a constant prior adds nothing and ``w = 0`` returns gamma_u.
    ``gamma_u`` may be (B, T, E), (B, E) or (E,) (held over time). ``weight`` is a float or a
    per-sequence tensor (B,). The seed uses w = 1; w lets the animator fade the audio's influence.
    """
    if prior.dim() != 3:
        raise ValueError(f"prior must be (B, T, E), got {tuple(prior.shape)}.")
    gamma_u = torch.as_tensor(gamma_u, dtype=prior.dtype, device=prior.device)
    if gamma_u.dim() == 1:
        gamma_u = gamma_u[None, None]
    elif gamma_u.dim() == 2:
        gamma_u = gamma_u[:, None]
    gamma_u = gamma_u.expand_as(prior)
    w = torch.as_tensor(weight, dtype=prior.dtype, device=prior.device)
    if w.dim() == 1:
        w = w[:, None, None]
    return gamma_u + w * (prior - prior.mean(dim=1, keepdim=True))


def smooth_priors(logits: torch.Tensor, frames: int = 5) -> torch.Tensor:
    """Low-pass per-frame emotion logits (B, T, E) over ``frames`` neighbours (odd; edges held).

    Seed 7.3: priors read frame by frame off video flicker, so they are smoothed over neighbouring
    frames before training. A moving average is the simplest such filter.
    """
    if frames <= 1:
        return logits
    if frames % 2 == 0:
        raise ValueError(f"smoothing width must be odd, got {frames}.")
    half = frames // 2
    x = F.pad(logits.transpose(1, 2), (half, half), mode="replicate")
    return F.avg_pool1d(x, frames, stride=1).transpose(1, 2)


def emotion_prior_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Emotion classification loss of the predictor's logits (B, T, E).

    ``target`` is either the video-based emotion logits (B, T, E), the seed's pseudo ground truth,
    or integer class labels (B, T) (use -1 for frames to ignore). With logits as targets this is
    the cross-entropy to the recogniser's distribution softmax(target): the seed trains the
    bi-LSTM "by maximizing the mutual information between audio-based and video-based emotion
    priors" (3.2), and with the video priors fixed, minimising this cross-entropy maximises the
    usual variational lower bound I(a; v) >= H(v) + E[log q(v | a)]. ``mask`` (B, T) selects
    valid frames in padded batches.
    """
    log_q = F.log_softmax(logits, dim=-1)
    if target.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        labels = target.long()
        valid = labels >= 0
        per_frame = -log_q.gather(-1, labels.clamp_min(0)[..., None]).squeeze(-1)
    else:
        if target.shape != logits.shape:
            raise ValueError(f"target logits {tuple(target.shape)} must match {tuple(logits.shape)}.")
        per_frame = -(F.softmax(target.to(logits.dtype), dim=-1) * log_q).sum(-1)
        valid = torch.ones_like(per_frame, dtype=torch.bool)
    if mask is not None:
        valid = valid & mask.bool()
    return (per_frame * valid).sum() / valid.sum().clamp_min(1)
