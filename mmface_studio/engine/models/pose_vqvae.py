"""Pose VQ-VAE of seed 002's diverse pose module: a head-pose take as a sequence of block codes.

Seed 002 (1.2): "the encoder consists of a transformer block with 6 layers and 4 heads. The
quantized embeddings are then fed into a decoder that mirrors the encoder architecture but in
reverse order." Its facial VQ-VAE (1.1) embeds the motion linearly and runs a kernel-5 conv before
the transformer; we do the same here so the transformer sees local motion, then fold each block
of ``block_frames`` frames into one latent with a strided conv (one token per block, the unit the
autoregressive generator works in). The decoder mirrors it: transformer, transposed strided conv,
kernel-5 conv, linear to the 3 pose angles.

Both transformers attend within ``window`` tokens on either side: a pose block depends on its
neighbourhood, not on what happened a minute earlier, and the cost stays linear in the take's
length. Positions are given by the same periodic encoding as the generator (shift-invariant).

Poses are standardised with ``pose_mean``/``pose_std`` buffers (saved in the checkpoint; the
trainer sets them from its data with :meth:`PoseVQVAE.set_pose_statistics`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmface_studio.engine.models.layers import PeriodicPositionalEncoding, Quantized, TransformerStack, VectorQuantizer

#: default standard deviation (radians) used before a trainer sets real statistics: ~9 degrees.
DEFAULT_POSE_STD = 0.15


class PoseVQVAE(nn.Module):
    """(B, T, pose_dim) with T a multiple of ``block_frames`` <-> (B, T / block_frames) code indices."""

    def __init__(self, *, pose_dim: int, block_frames: int, dim: int, code_dim: int, codebook_size: int,
                 layers: int, heads: int, ff_dim: int, window: int, period: int, dropout: float) -> None:
        super().__init__()
        self.pose_dim, self.block_frames = pose_dim, block_frames
        self.register_buffer("pose_mean", torch.zeros(pose_dim))
        self.register_buffer("pose_std", torch.full((pose_dim,), DEFAULT_POSE_STD))
        # encoder: frame embedding -> local conv -> one latent per block -> transformer -> code space
        self.enc_embed = nn.Linear(pose_dim, dim)
        self.enc_conv = nn.Conv1d(dim, dim, kernel_size=5, padding=2)
        self.enc_fold = nn.Conv1d(dim, dim, kernel_size=block_frames, stride=block_frames)
        self.enc_pe = PeriodicPositionalEncoding(dim, period)
        self.enc_tf = TransformerStack(dim, layers, heads, ff_dim, causal=False, window=window, dropout=dropout)
        self.enc_out = nn.Linear(dim, code_dim)
        self.quantizer = VectorQuantizer(codebook_size, code_dim)
        # decoder mirrors it
        self.dec_in = nn.Linear(code_dim, dim)
        self.dec_pe = PeriodicPositionalEncoding(dim, period)
        self.dec_tf = TransformerStack(dim, layers, heads, ff_dim, causal=False, window=window, dropout=dropout)
        self.dec_unfold = nn.ConvTranspose1d(dim, dim, kernel_size=block_frames, stride=block_frames)
        self.dec_conv = nn.Conv1d(dim, dim, kernel_size=5, padding=2)
        self.dec_out = nn.Linear(dim, pose_dim)

    @torch.no_grad()
    def set_pose_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-angle mean and std (radians) of the training poses; std is floored at 1e-3 rad."""
        self.pose_mean.copy_(torch.as_tensor(mean, dtype=self.pose_mean.dtype))
        self.pose_std.copy_(torch.as_tensor(std, dtype=self.pose_std.dtype).clamp_min(1e-3))

    def _check(self, pose: torch.Tensor) -> None:
        if pose.ndim != 3 or pose.shape[2] != self.pose_dim or pose.shape[1] % self.block_frames:
            raise ValueError(f"Pose VQ-VAE expects (B, T, {self.pose_dim}) with T a multiple of "
                             f"{self.block_frames}, got {tuple(pose.shape)}.")

    def encode_latent(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, T, pose_dim) radians -> continuous latents (B, N, code_dim), N = T / block_frames."""
        self._check(pose)
        x = self.enc_embed((pose - self.pose_mean) / self.pose_std)
        x = F.leaky_relu(self.enc_conv(x.transpose(1, 2)), 0.2)
        x = self.enc_fold(x).transpose(1, 2)
        return self.enc_out(self.enc_tf(self.enc_pe(x)))

    def quantize(self, latent: torch.Tensor) -> Quantized:
        return self.quantizer(latent)

    def encode(self, pose: torch.Tensor) -> torch.Tensor:
        """Code indices (B, N) of a pose take."""
        return self.quantizer.nearest(self.encode_latent(pose))

    def decode_latent(self, quantized: torch.Tensor) -> torch.Tensor:
        """(B, N, code_dim) quantised latents -> (B, N * block_frames, pose_dim) radians."""
        x = self.dec_tf(self.dec_pe(self.dec_in(quantized)))
        x = F.leaky_relu(self.dec_unfold(x.transpose(1, 2)), 0.2)
        x = F.leaky_relu(self.dec_conv(x), 0.2).transpose(1, 2)
        return self.dec_out(x) * self.pose_std + self.pose_mean

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices (B, N) -> pose (B, N * block_frames, pose_dim) radians."""
        return self.decode_latent(self.quantizer.lookup(indices))

    def forward(self, pose: torch.Tensor) -> tuple[torch.Tensor, Quantized]:
        """Reconstruction (B, T, pose_dim) and the quantiser's output (indices and VQ losses)."""
        q = self.quantize(self.encode_latent(pose))
        return self.decode_latent(q.quantized), q
