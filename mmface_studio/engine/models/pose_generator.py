"""Audio encoder and autoregressive pose-code generator of seed 002's diverse pose module.

Audio (seed 002, 1.2): a *semantic* feature (there: pre-trained wav2vec2; here: a projection of
whatever features the checkpoint was trained on -- 80-band log-mel at 100 Hz by default, wav2vec2
at 50 Hz when present) and a *rhythm* feature from "six Conv1d layers followed by a linear layer",
fed together "into a fusion network composed of four linear layers and LeakyReLU activation
layers". The rhythm convs read the features plus a frame energy (log-sum-exp over the feature
bins, the log power for log-mel input) and its first difference: head motion follows stress and
loudness more than phone identity. Each utterance is standardised over time per channel so the
recording gain does not matter, while the dynamics survive. Both streams are resampled to the
animation rate and averaged over each pose block, so the fusion runs once per token.

Generator (seed 002, 1.2): "Periodic Positional Encoding (PPE), a learnable style embedding layer,
and a six-layer transformer decoder with four heads each". Token i is predicted from the previous
tokens and from ``audio_i + style + PPE(i)`` added to the previous token's embedding. FaceFormer's
decoder cross-attends with an alignment mask that lets each position see only its own audio
frame; adding the aligned audio token is the same information without the cross-attention cost.
Attention is causal within ``context_tokens``: bounded context keeps 60 s takes in the regime of
the 200-frame training clips (seed 002, 2.1) and makes each cached step O(window).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmface_studio.engine.models.layers import (
    PeriodicPositionalEncoding,
    TransformerStack,
    intra_op_threads,
    resample_time,
    sample_from_logits,
)

#: strides of the six rhythm convs: 100 Hz log-mel -> 25 Hz, still above any pose block rate.
RHYTHM_STRIDES = (2, 2, 1, 1, 1, 1)


class PoseAudioEncoder(nn.Module):
    """(B, Ta, audio_dim) at ``audio_rate`` -> one fused audio vector per pose block (B, N, dim)."""

    def __init__(self, *, audio_dim: int, audio_rate: float, fps: float, block_frames: int, dim: int,
                 rhythm_channels: int) -> None:
        super().__init__()
        self.audio_dim, self.audio_rate, self.fps, self.block_frames = audio_dim, audio_rate, fps, block_frames
        self.semantic = nn.Sequential(nn.Linear(audio_dim, dim), nn.LeakyReLU(0.2), nn.Linear(dim, dim))
        convs: list[nn.Module] = []
        channels = audio_dim + 2
        for stride in RHYTHM_STRIDES:
            convs += [nn.Conv1d(channels, rhythm_channels, kernel_size=5, stride=stride, padding=2), nn.LeakyReLU(0.2)]
            channels = rhythm_channels
        self.rhythm = nn.Sequential(*convs)
        self.rhythm_out = nn.Linear(rhythm_channels, dim)
        fusion: list[nn.Module] = []
        for i in range(4):
            fusion.append(nn.Linear(2 * dim if i == 0 else dim, dim))
            if i < 3:
                fusion.append(nn.LeakyReLU(0.2))
        self.fusion = nn.Sequential(*fusion)

    def _block_mean(self, x: torch.Tensor, src_rate: float, n_tokens: int) -> torch.Tensor:
        frames = resample_time(x, src_rate, self.fps, n_tokens * self.block_frames)
        return frames.view(x.shape[0], n_tokens, self.block_frames, x.shape[2]).mean(2)

    def forward(self, audio_feats: torch.Tensor, n_tokens: int) -> torch.Tensor:
        if audio_feats.ndim != 3 or audio_feats.shape[2] != self.audio_dim or audio_feats.shape[1] == 0:
            raise ValueError(f"Audio features must be (B, Ta>0, {self.audio_dim}), got {tuple(audio_feats.shape)}.")
        energy = torch.logsumexp(audio_feats, dim=2, keepdim=True)
        delta = torch.diff(energy, dim=1, prepend=energy[:, :1])
        x = torch.cat([audio_feats, energy, delta], dim=2)
        mean = x.mean(1, keepdim=True)
        std = x.std(1, keepdim=True, unbiased=False).clamp_min(1e-4)
        x = (x - mean) / std
        semantic = self.semantic(self._block_mean(x[..., : self.audio_dim], self.audio_rate, n_tokens))
        rhythm_rate = self.audio_rate
        for stride in RHYTHM_STRIDES:
            rhythm_rate /= stride
        rhythm = self.rhythm_out(self.rhythm(x.transpose(1, 2)).transpose(1, 2))
        rhythm = self._block_mean(rhythm, rhythm_rate, n_tokens)
        return self.fusion(torch.cat([semantic, rhythm], dim=2))


class PoseGenerator(nn.Module):
    """Autoregressive transformer over pose codes; index ``codebook_size`` is the start token."""

    def __init__(self, *, codebook_size: int, dim: int, layers: int, heads: int, ff_dim: int, context_tokens: int,
                 period: int, n_styles: int, dropout: float) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.token_embedding = nn.Embedding(codebook_size + 1, dim)
        self.style_embedding = nn.Embedding(n_styles, dim)
        self.ppe = PeriodicPositionalEncoding(dim, period)
        self.transformer = TransformerStack(dim, layers, heads, ff_dim, causal=True, window=context_tokens,
                                            dropout=dropout)
        self.head = nn.Linear(dim, codebook_size)

    @property
    def start_token(self) -> int:
        return self.codebook_size

    def conditioning(self, audio: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Per-position input without the token: fused audio (B, N, dim) + style (B,) + PPE."""
        return self.ppe(audio + self.style_embedding(style)[:, None])

    def logits(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, N, codebook_size) for target codes (B, N)."""
        start = torch.full_like(codes[:, :1], self.start_token)
        previous = torch.cat([start, codes[:, :-1]], dim=1)
        return self.head(self.transformer(cond + self.token_embedding(previous)))

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, uniforms: torch.Tensor, *, temperature: float, top_k: int | None,
               forced: torch.Tensor | None = None, forced_mask: torch.Tensor | None = None,
               use_cache: bool = True) -> torch.Tensor:
        """Sample codes (B, N) given ``cond`` (B, N, dim) and one uniform per step and row (N, B).

        Where ``forced_mask`` (B, N) is set the code is taken from ``forced`` instead (in-filling);
        the uniform is drawn regardless, so the random stream does not depend on the locks.
        ``use_cache=False`` re-runs the whole prefix each step (reference path for tests). On the
        CPU the loop runs on one intra-op thread (see ``layers.intra_op_threads``).
        """
        if cond.device.type == "cpu":
            with intra_op_threads(1):
                return self._sample(cond, uniforms, temperature, top_k, forced, forced_mask, use_cache)
        return self._sample(cond, uniforms, temperature, top_k, forced, forced_mask, use_cache)

    def _sample(self, cond: torch.Tensor, uniforms: torch.Tensor, temperature: float, top_k: int | None,
                forced: torch.Tensor | None, forced_mask: torch.Tensor | None, use_cache: bool) -> torch.Tensor:
        batch, n_tokens, _ = cond.shape
        codes = torch.empty(batch, n_tokens, dtype=torch.long, device=cond.device)
        previous = torch.full((batch,), self.start_token, dtype=torch.long, device=cond.device)
        cache = self.transformer.new_cache(batch, n_tokens, cond.device, cond.dtype) if use_cache else None
        embedding = self.token_embedding.weight
        for i in range(n_tokens):
            if cache is not None:
                hidden = self.transformer.step(cond[:, i] + F.embedding(previous, embedding), cache)
            else:
                start = torch.full((batch, 1), self.start_token, dtype=torch.long, device=cond.device)
                prefix = torch.cat([start, codes[:, :i]], dim=1)
                hidden = self.transformer(cond[:, : i + 1] + F.embedding(prefix, embedding))[:, -1]
            token = sample_from_logits(self.head(hidden), uniforms[i], temperature, top_k)
            if forced is not None and forced_mask is not None:
                token = torch.where(forced_mask[:, i], forced[:, i], token)
            codes[:, i] = token
            previous = token
        return codes
