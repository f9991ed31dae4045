"""Audio2FLAME + emotion control module (seed 003), the emotion-editable lip-sync family.

Seed 003 (Chen, Zhao, Zhang, "Expressive speech-driven facial animation with controllable
emotions") predicts face parameters from speech in two stages (seed 3.1, Eq. 1-2):

1. **Audio2FLAME** ``F``: per frame t, a *content vector* omega_t (local: the audio segment
   around t) and a *style vector* psi_t (a transformer encoder ``S`` over the audio of t and its
   neighbours t +- dt; the output of the last token is the vector) are concatenated (256 = 192 +
   64) and mapped by a 3-layer CNN (256->128 k=1 ReLU, 128->128 k=3 ReLU, 128->D k=1; seed 7.3)
   to face parameters. This is the *base* face: lip sync, no emotion.
2. **Emotion control** (``emotion_control``): a bi-LSTM predicts per-frame emotion logits from
   the same encodings; the animator's gamma_u plus the mean-centred prior give gamma_t; a 7->128
   embedding and a residual CNN add the emotion to the base face.

The methods follow the engine's stages so it can cache each one: :meth:`content` (base face,
re-run only when the audio changes), :meth:`emotion_prior` (also audio-only), and
:meth:`augment` (the only thing an emotion-keyframe edit re-runs: a few small convolutions).

Departures from the seed, and why:

- The seed's content vector is wav2vec2's output; here the content vector is a learned linear
  projection of whatever features the config names (80-band log-mel at 100 Hz by default,
  wav2vec2 at 768 x 50 Hz when the user has it), averaged over the seed's 100 ms segment
  (``segment_s``) and resampled to the animation rate. The 3-layer CNN supplies the non-linearity.
- The seed feeds x_{t +- dt} as three overlapping 100 ms segments. Here the style tokens are the
  segment-averaged features at ``style_tokens_per_frame`` tokens per frame over frames t-dt ..
  t+dt (by default one per frame: exactly the three segments), and the "last token" is a learned
  summary token appended to each window, whose output is psi_t. The transformer is most of the
  model's cost and grows linearly with the tokens per frame.
- Outputs are the face rows of ``config.space`` (``base.face_channel_names``): in ``flame56``
  50 expression + jaw (the seed's 56 also holds the global head rotation, which belongs to the
  pose family here). Losses are in the "losses" section at the end of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mmface_studio.core.emotion_track import EMOTIONS
from mmface_studio.engine.models.base import MODEL_SPACES, FamilyModel, ModelConfigError, face_dim, register_family
from mmface_studio.engine.models.emotion_control import (
    EmotionAugment,
    EmotionPredictor,
    effective_gamma,
    emotion_prior_loss,
)
from mmface_studio.engine.models.layers import resample_time

__all__ = [
    "Audio2FlameConfig", "Audio2FlameModel", "Encodings", "audio2flame_loss", "emotion_prior_loss",
    "linear_vertices", "mouth_shape_loss", "parameter_loss", "vertex_loss",
]


@dataclass(frozen=True)
class Audio2FlameConfig:
    """Sizes of an Audio2FLAME + emotion control model; defaults follow seed 7.3 where it gives them.

    ``context_frames`` is the seed's dt (its audio input is frame t with its left and right
    neighbours, dt = 1); it is both the style window and the half-width of the middle kernels.
    ``seed`` fixes the initial weights, so a config alone rebuilds the same untrained model.
    """

    space: str = "arkit52"
    audio_dim: int = 80
    audio_rate: float = 100.0
    fps: float = 30.0
    segment_s: float = 0.1  # seed 7.3: 100 ms audio segments
    context_frames: int = 1  # seed 7.3: dt = 1
    content_dim: int = 192  # omega; content + style = 256 inputs of F's first layer (seed 7.3)
    style_dim: int = 64  # psi (seed 7.3)
    style_layers: int = 4  # seed 7.3: four transformer encoder blocks
    style_heads: int = 4
    style_ff: int = 128
    style_tokens_per_frame: int = 1  # 1: the tokens are the seed's segments t-dt .. t+dt
    hidden: int = 128  # F's and A's inner width (seed 7.3)
    n_emotions: int = len(EMOTIONS)  # 7; a checkpoint may declare 8 (contempt)
    emotion_hidden: int = 128  # bi-LSTM hidden size (seed 7.3)
    emotion_embed: int = 128  # 7 -> 128 embedding (seed 3.2)
    dropout: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in MODEL_SPACES:
            raise ModelConfigError(f"Audio2FlameConfig: unknown space {self.space!r}; "
                                   f"use one of {', '.join(MODEL_SPACES)}.")
        positive = ("audio_dim", "content_dim", "style_dim", "style_layers", "style_heads", "style_ff",
                    "style_tokens_per_frame", "hidden", "n_emotions", "emotion_hidden", "emotion_embed")
        bad = [name for name in positive if int(getattr(self, name)) < 1]
        if bad:
            raise ModelConfigError(f"Audio2FlameConfig: {', '.join(bad)} must be >= 1.")
        if self.context_frames < 0:
            raise ModelConfigError("Audio2FlameConfig: context_frames must be >= 0.")
        if self.audio_rate <= 0 or self.fps <= 0 or self.segment_s < 0:
            raise ModelConfigError("Audio2FlameConfig: audio_rate and fps must be > 0, segment_s >= 0.")
        if self.style_dim % self.style_heads:
            raise ModelConfigError(f"style_dim {self.style_dim} is not divisible by {self.style_heads} heads.")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError("Audio2FlameConfig: dropout must be in [0, 1).")

    @classmethod
    def tiny(cls, space: str = "arkit52", **overrides: Any) -> Audio2FlameConfig:
        """A few-thousand-parameter config for tests (same structure, small widths)."""
        small = dict(space=space, audio_dim=12, content_dim=12, style_dim=8, style_layers=2, style_heads=2,
                     style_ff=16, hidden=16, emotion_hidden=8, emotion_embed=8, dropout=0.0)
        return replace(cls(), **{**small, **overrides})


class Encodings(NamedTuple):
    """Per-frame audio encodings shared by Audio2FLAME and the emotion predictor (both (B, T, C))."""

    content: torch.Tensor  # omega_t
    style: torch.Tensor  # psi_t

    def joined(self) -> torch.Tensor:
        return torch.cat([self.content, self.style], dim=-1)


class StyleEncoder(nn.Module):
    """S(x_{t +- dt}) -> psi_t: a post-norm transformer encoder over each frame's audio window.

    Seed 7.3: "four transformer encoder blocks composed of a self-attention layer followed by an
    addition and normalization layer. The 64-dimension vector output from the last token of the
    final attention layer is used as the style vector." Every frame's window (2 dt + 1 frames of
    tokens) is one short sequence, so all windows run as one batch; the appended summary token is
    that "last token".
    """

    def __init__(self, config: Audio2FlameConfig) -> None:
        super().__init__()
        self.per_frame = config.style_tokens_per_frame
        self.context = config.context_frames
        window = (2 * self.context + 1) * self.per_frame
        dim = config.style_dim
        self.proj = nn.Linear(config.audio_dim, dim)
        self.position = nn.Parameter(torch.randn(window + 1, dim) * 0.02)
        self.summary = nn.Parameter(torch.randn(dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, config.style_heads, config.style_ff, config.dropout,
                                           batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, config.style_layers, enable_nested_tensor=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T * per_frame, audio_dim) -> psi (B, T, style_dim)."""
        b = tokens.shape[0]
        t = tokens.shape[1] // self.per_frame
        x = self.proj(tokens).transpose(1, 2)  # project before windowing: each token once, not 2dt+1 times
        pad = self.context * self.per_frame
        x = F.pad(x, (pad, pad), mode="replicate") if pad else x  # ends held, like the resampling
        windows = x.unfold(2, (2 * self.context + 1) * self.per_frame, self.per_frame)  # (B, C, T, W)
        windows = windows.permute(0, 2, 3, 1).reshape(b * t, -1, x.shape[1])
        summary = self.summary.expand(b * t, 1, -1)
        seq = torch.cat([windows, summary], dim=1) + self.position
        return self.encoder(seq)[:, -1].reshape(b, t, -1)


@register_family
class Audio2FlameModel(FamilyModel):
    """Audio2FLAME lip-sync backbone with seed 003's emotion control module.

    Inputs: audio features (B, Ta, audio_dim) at ``audio_rate``; outputs (B, n_frames, D) at
    ``fps``, D = ``face_dim(space)``. Emotions are in seed 003's order (``core.emotion_track``).
    """

    family = "audio2flame"
    config_class = Audio2FlameConfig

    def __init__(self, config: Audio2FlameConfig) -> None:
        super().__init__(config)
        c = config
        self.face_dim = face_dim(c.space)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.content_proj = nn.Linear(c.audio_dim, c.content_dim)
            self.style_encoder = StyleEncoder(c)
            k = c.context_frames
            self.decoder = nn.Sequential(  # F: seed 7.3's three conv layers
                nn.Conv1d(c.content_dim + c.style_dim, c.hidden, 1), nn.ReLU(),
                nn.Conv1d(c.hidden, c.hidden, 2 * k + 1, padding=k), nn.ReLU(),
                nn.Conv1d(c.hidden, self.face_dim, 1),
            )
            self.emotion_predictor = EmotionPredictor(c.content_dim + c.style_dim, c.emotion_hidden, c.n_emotions)
            self.emotion_augment = EmotionAugment(self.face_dim, c.n_emotions, c.emotion_embed, c.hidden, k)

    # -- stage 0: audio encodings -------------------------------------------------------------

    def _check_audio(self, audio_feats: torch.Tensor, n_frames: int) -> None:
        if audio_feats.dim() != 3 or audio_feats.shape[-1] != self.config.audio_dim:
            raise ValueError(f"audio features must be (B, Ta, {self.config.audio_dim}), "
                             f"got {tuple(audio_feats.shape)}.")
        if audio_feats.shape[1] < 1 or int(n_frames) < 1:
            raise ValueError(f"need at least one audio frame and one output frame, got {audio_feats.shape[1]} "
                             f"and {n_frames}.")

    def encode(self, audio_feats: torch.Tensor, n_frames: int) -> Encodings:
        """Content and style vectors per animation frame (omega_t, psi_t of seed Eq. 1)."""
        self._check_audio(audio_feats, n_frames)
        c = self.config
        x = audio_feats.to(self.content_proj.weight.dtype)
        half = int(round((c.segment_s * c.audio_rate - 1.0) / 2.0))
        segments = x
        if half > 0:  # mean over the seed's 100 ms segment centred on each audio frame
            segments = F.pad(x.transpose(1, 2), (half, half), mode="replicate")
            segments = F.avg_pool1d(segments, 2 * half + 1, stride=1).transpose(1, 2)
        frames = resample_time(segments, c.audio_rate, c.fps, int(n_frames))
        k = c.style_tokens_per_frame
        tokens = frames if k == 1 else resample_time(segments, c.audio_rate, c.fps * k, int(n_frames) * k)
        return Encodings(self.content_proj(frames), self.style_encoder(tokens))

    # -- stage 1: lip sync --------------------------------------------------------------------

    def content(self, audio_feats: torch.Tensor, n_frames: int, encodings: Encodings | None = None) -> torch.Tensor:
        """Base face (B, T, D): Audio2FLAME's lip-synced parameters without emotion (seed 3.1)."""
        enc = encodings if encodings is not None else self.encode(audio_feats, n_frames)
        return self.decoder(enc.joined().transpose(1, 2)).transpose(1, 2)

    # -- stage 2: emotion prior from audio ----------------------------------------------------

    def emotion_logits(self, audio_feats: torch.Tensor, n_frames: int,
                       encodings: Encodings | None = None) -> torch.Tensor:
        """Raw bi-LSTM emotion logits (B, T, E), the quantity :func:`emotion_prior_loss` supervises."""
        enc = encodings if encodings is not None else self.encode(audio_feats, n_frames)
        return self.emotion_predictor(enc.joined())

    def emotion_prior(self, audio_feats: torch.Tensor, n_frames: int,
                      encodings: Encodings | None = None) -> torch.Tensor:
        """gamma_a (B, T, E): **min-max normalised logits** (not probabilities), ~0..1 on training data.

        Logits, not probabilities, because they scale linearly with perceived intensity (seed
        7.2); normalised with the training-set range stored in the predictor (seed 7.3).
        """
        return self.emotion_predictor.normalise(self.emotion_logits(audio_feats, n_frames, encodings))

    @staticmethod
    def effective_gamma(gamma_u: torch.Tensor, prior: torch.Tensor,
                        weight: float | torch.Tensor = 1.0) -> torch.Tensor:
        """gamma_t = gamma_u,t + w * (gamma_a,t - mean_t gamma_a,t); see ``emotion_control.effective_gamma``."""
        return effective_gamma(gamma_u, prior, weight)

    # -- stage 3: emotion augmentation --------------------------------------------------------

    def augment(self, base_face: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """Emotional face (B, T, D) = base + A([base; gamma @ embedding]) (seed Eq. 3).

        During training gamma is the (normalised, smoothed) video emotion prior; at inference it is
        :meth:`effective_gamma`'s output.
        """
        return self.emotion_augment(base_face, gamma)

    def forward(self, audio_feats: torch.Tensor, n_frames: int, gamma_u: torch.Tensor | None = None,
                prior_weight: float | torch.Tensor = 1.0) -> dict[str, torch.Tensor]:
        """The whole inference pipeline in one pass (the audio encodings are computed once).

        ``gamma_u``: the animator's emotion (B, T, E), (B, E) or (E,), 0..1 each; None = all zeros
        (only the audio's emotion dynamics). Returns ``face`` (B, T, D), ``base`` (B, T, D),
        ``emotion_logits`` (B, T, E), ``emotion_prior`` (B, T, E, normalised logits) and ``gamma``.
        """
        enc = self.encode(audio_feats, n_frames)
        base = self.content(audio_feats, n_frames, enc)
        logits = self.emotion_predictor(enc.joined())
        prior = self.emotion_predictor.normalise(logits)
        if gamma_u is None:
            gamma_u = torch.zeros(self.config.n_emotions, dtype=prior.dtype, device=prior.device)
        gamma = effective_gamma(gamma_u, prior, prior_weight)
        face = self.augment(base, gamma)
        return {"face": face, "base": base, "emotion_logits": logits, "emotion_prior": prior, "gamma": gamma}


# -- losses (seed 3.3) ------------------------------------------------------------------------
#
# L = w1 * L_vx + w2 * L_lm (seed Eq. 4). Both are defined on mesh vertices. When the rig is
# linear in the model's parameters (ARKit blendshapes; FLAME expression; FLAME's jaw to first
# order), ``linear_vertices`` turns parameters into vertices with a (D, V, 3) basis, so the whole
# loss stays a cheap function of the parameters; a trainer with a full FLAME layer in torch can
# pass its vertices straight to ``vertex_loss``/``mouth_shape_loss`` instead.

#: seed 3.3: d1 = 1 / 0.0476 (width), d2 = 1 / 0.017 (height), the inverse typical mouth sizes in metres.
MOUTH_WIDTH_WEIGHT = 1.0 / 0.0476
MOUTH_HEIGHT_WEIGHT = 1.0 / 0.017


def linear_vertices(params: torch.Tensor, basis: torch.Tensor, template: torch.Tensor | None = None) -> torch.Tensor:
    """Vertices (B, T, V, 3) = template + sum_d params[..., d] * basis[d]; basis (D, V, 3), template (V, 3)."""
    offsets = torch.einsum("btd,dvc->btvc", params, basis.to(params.dtype))
    return offsets if template is None else offsets + template.to(params.dtype)


def parameter_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean L1 distance in parameter space, optionally weighted per channel (D,): the no-rig fallback."""
    diff = (pred - target).abs()
    if weights is not None:
        diff = diff * weights.to(diff.dtype)
    return diff.mean()


def vertex_loss(pred_vertices: torch.Tensor, target_vertices: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
    """L_vx: L1 between predicted and ground-truth vertices (..., V, 3) over a face mask (seed 3.3).

    ``mask`` (V,) bool or 0/1 weights selects the front face (the seed excludes ears and eyes).
    """
    diff = (pred_vertices - target_vertices).abs().sum(-1)  # (..., V)
    if mask is None:
        return diff.mean()
    m = mask.to(diff.dtype)
    return (diff * m).sum() / (m.sum() * diff[..., 0].numel()).clamp_min(1e-12)


def mouth_size(vertices: torch.Tensor, mouth: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(width H, height V) of the mouth (...,): |v_l - v_r| and |v_t - v_b| for indices (top, bottom, left, right)."""
    top, bottom, left, right = (int(i) for i in mouth)
    width = (vertices[..., left, :] - vertices[..., right, :]).norm(dim=-1)
    height = (vertices[..., top, :] - vertices[..., bottom, :]).norm(dim=-1)
    return width, height


def mouth_shape_loss(pred_vertices: torch.Tensor, target_vertices: torch.Tensor, mouth: Sequence[int],
                     d1: float = MOUTH_WIDTH_WEIGHT, d2: float = MOUTH_HEIGHT_WEIGHT) -> torch.Tensor:
    """L_lm = d1 * |H_p - H_g| + d2 * |V_p - V_g| (seed Eq. 5), averaged over frames.

    ``mouth`` = vertex indices (top, bottom, left, right) of the lips on the rig in use.
    """
    wp, hp = mouth_size(pred_vertices, mouth)
    wg, hg = mouth_size(target_vertices, mouth)
    return d1 * (wp - wg).abs().mean() + d2 * (hp - hg).abs().mean()


def audio2flame_loss(pred: torch.Tensor, target: torch.Tensor, basis: torch.Tensor, mouth: Sequence[int],
                     template: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                     w1: float = 1.0, w2: float = 1.0) -> dict[str, torch.Tensor]:
    """Seed Eq. 4 on parameters through a linear rig basis: ``{"loss", "vertex", "mouth"}``.

    ``pred``/``target`` (B, T, D) face parameters; ``basis`` (D, V, 3); ``template`` (V, 3) the
    rest mesh. The template cancels in L_vx but not in L_lm (a mouth's width is the length of an
    absolute vertex difference), so pass it whenever the mouth term is weighted.
    """
    vp = linear_vertices(pred, basis, template)
    vg = linear_vertices(target, basis, template)
    l_vx = vertex_loss(vp, vg, mask)
    l_lm = mouth_shape_loss(vp, vg, mouth)
    return {"loss": w1 * l_vx + w2 * l_lm, "vertex": l_vx, "mouth": l_lm}
