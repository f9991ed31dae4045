"""Stage I of MM2Face (seed 001, section 4.1): a 1D-convolutional motion VQ-VAE.

The encoder turns a motion sequence ``F_{1:T}`` (face rows then head-pose rows, ``(B, T, d)``) into
``T' = T / r`` feature vectors (``r = 4``, the seed's temporal downsampling rate); each is replaced by
its nearest codebook entry (eq. 1) and the decoder maps the quantised sequence back to motion. The
codebook indices are the *motion tokens* the stage-II transformer models: one token per 4 frames
turns a minute at 30 fps into 450 autoregressive steps instead of 1800.

Losses follow eq. 2 and 3: MSE reconstruction plus ``alpha`` times the MSE of frame-to-frame
velocities (velocity matching keeps the decoded motion from jittering between tokens), and the
commitment pair ``||z - sg(z_q)||`` + ``beta * ||z_q - sg(z)||``. The codebook is learnt by that
second term (no EMA), so a trainer can also :meth:`MotionVQVAE.revive_codes` that no motion uses.

Channels differ in scale (ARKit weights are 0..1, head angles radians, FLAME coefficients about
+-3), so the model normalises with per-channel ``mean``/``std`` buffers the trainer sets from data
(:meth:`MotionVQVAE.set_normalization`); they travel in the checkpoint with the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class VQOutput:
    """What one VQ-VAE pass produces, in normalised motion units (what the losses compare)."""

    recon: Tensor  # (B, T, d) decoded motion, normalised
    target: Tensor  # (B, T, d) input motion, normalised
    z: Tensor  # (B, T', code_dim) encoder output
    z_q: Tensor  # (B, T', code_dim) nearest codebook entries (no straight-through)
    tokens: Tensor  # (B, T') codebook indices
    downsample: int  # frames per token


class _Quantiser(nn.Module):
    """Nearest-neighbour vector quantiser (seed eq. 1) with a gradient-trained codebook."""

    def __init__(self, n_codes: int, dim: int) -> None:
        super().__init__()
        self.codebook = nn.Parameter(torch.empty(n_codes, dim).uniform_(-1.0 / n_codes, 1.0 / n_codes))

    def nearest(self, z: Tensor) -> Tensor:
        """Index of the closest code for each vector of ``z`` ``(..., dim)``."""
        flat = z.reshape(-1, z.shape[-1])
        cb = self.codebook
        dist = flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ cb.t() + cb.pow(2).sum(1)[None, :]
        return dist.argmin(dim=1).view(z.shape[:-1])

    def lookup(self, tokens: Tensor) -> Tensor:
        return F.embedding(tokens, self.codebook)


class _ResBlock(nn.Module):
    """Pre-activation residual block with a dilated kernel-3 convolution (wider temporal context)."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class MotionVQVAE(nn.Module):
    """Motion tokenizer: ``(B, T, motion_dim)`` <-> ``(B, ceil(T / downsample))`` tokens.

    ``downsample`` must be a power of two; each halving is a stride-2 convolution followed by
    dilated residual blocks (and mirrored by nearest upsampling + convolution in the decoder).
    """

    def __init__(self, motion_dim: int, *, downsample: int = 4, width: int = 128, code_dim: int = 128,
                 n_codes: int = 512, res_blocks: int = 2) -> None:
        super().__init__()
        n_stages = int(round(math.log2(downsample)))
        if downsample < 1 or 2**n_stages != downsample:
            raise ValueError(f"downsample must be a power of two, got {downsample}.")
        self.motion_dim = motion_dim
        self.downsample = downsample
        dilations = [3**i for i in range(res_blocks)]
        enc: list[nn.Module] = [nn.Conv1d(motion_dim, width, 3, padding=1), nn.ReLU()]
        for _ in range(n_stages):
            enc.append(nn.Conv1d(width, width, 4, stride=2, padding=1))
            enc.extend(_ResBlock(width, d) for d in dilations)
        enc.append(nn.Conv1d(width, code_dim, 3, padding=1))
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv1d(code_dim, width, 3, padding=1), nn.ReLU()]
        for _ in range(n_stages):
            dec.extend(_ResBlock(width, d) for d in reversed(dilations))
            dec.extend([nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(width, width, 3, padding=1)])
        dec.extend([nn.Conv1d(width, width, 3, padding=1), nn.ReLU(), nn.Conv1d(width, motion_dim, 3, padding=1)])
        self.decoder = nn.Sequential(*dec)
        self.quantiser = _Quantiser(n_codes, code_dim)
        self.register_buffer("mean", torch.zeros(motion_dim))
        self.register_buffer("std", torch.ones(motion_dim))

    @property
    def n_codes(self) -> int:
        return self.quantiser.codebook.shape[0]

    def set_normalization(self, mean: Tensor, std: Tensor, *, min_std: float = 1e-3) -> None:
        """Per-channel statistics of the training motion; tiny deviations are floored (constant channels)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype).clamp_min(min_std))

    def normalize(self, motion: Tensor) -> Tensor:
        return (motion - self.mean) / self.std

    def denormalize(self, motion: Tensor) -> Tensor:
        return motion * self.std + self.mean

    def n_tokens(self, n_frames: int) -> int:
        return -(-int(n_frames) // self.downsample)

    def _encode_normalized(self, x: Tensor) -> Tensor:
        """``(B, T, d)`` normalised motion -> ``(B, T', code_dim)``; pads T up by repeating the last frame."""
        if x.dim() != 3 or x.shape[-1] != self.motion_dim:
            raise ValueError(f"Motion must be (B, T, {self.motion_dim}), got {tuple(x.shape)}.")
        t = x.shape[1]
        pad = self.n_tokens(t) * self.downsample - t
        if pad:
            x = torch.cat([x, x[:, -1:].expand(-1, pad, -1)], dim=1)
        return self.encoder(x.transpose(1, 2)).transpose(1, 2)

    def _decode_latent(self, z_q: Tensor, n_frames: int | None) -> Tensor:
        out = self.decoder(z_q.transpose(1, 2)).transpose(1, 2)
        return out if n_frames is None else out[:, :n_frames]

    def encode(self, motion: Tensor) -> Tensor:
        """Motion tokens ``(B, ceil(T / r))`` of motion ``(B, T, d)`` in physical units."""
        return self.quantiser.nearest(self._encode_normalized(self.normalize(motion)))

    def decode(self, tokens: Tensor, n_frames: int | None = None) -> Tensor:
        """Motion ``(B, n_frames, d)`` in physical units from tokens ``(B, T')`` (all ``T' * r`` frames if None)."""
        return self.denormalize(self._decode_latent(self.quantiser.lookup(tokens), n_frames))

    def forward(self, motion: Tensor) -> VQOutput:
        """Encode, quantise (straight-through gradient to the encoder) and decode ``motion`` ``(B, T, d)``."""
        target = self.normalize(motion)
        z = self._encode_normalized(target)
        tokens = self.quantiser.nearest(z)
        z_q = self.quantiser.lookup(tokens)
        straight = z + (z_q - z).detach()
        recon = self._decode_latent(straight, motion.shape[1])
        return VQOutput(recon=recon, target=target, z=z, z_q=z_q, tokens=tokens, downsample=self.downsample)

    @torch.no_grad()
    def revive_codes(self, z: Tensor, tokens: Tensor, generator: torch.Generator | None = None) -> int:
        """Move codes no vector of this batch chose onto random encoder outputs; returns how many moved.

        Gradient-trained codebooks collapse onto a few entries when most codes start far from the
        data; re-seeding unused codes from the batch (as VQ motion tokenizers commonly do) keeps the
        whole vocabulary alive for the transformer.
        """
        flat = z.reshape(-1, z.shape[-1])
        used = torch.bincount(tokens.reshape(-1), minlength=self.n_codes) > 0
        dead = (~used).nonzero().flatten()
        if dead.numel() and flat.shape[0]:
            pick = torch.randint(0, flat.shape[0], (dead.numel(),), generator=generator, device=flat.device)
            self.quantiser.codebook[dead] = flat[pick].to(self.quantiser.codebook.dtype)
        return int(dead.numel())


def _masked_mse(a: Tensor, b: Tensor, mask: Tensor | None) -> Tensor:
    """Mean squared error over ``(B, T, d)``, counting only frames where ``mask`` ``(B, T)`` is True."""
    err = (a - b).pow(2)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype).unsqueeze(-1)
    return (err * m).sum() / (m.sum() * err.shape[-1]).clamp_min(1.0)


def vqvae_loss(out: VQOutput, *, mask: Tensor | None = None, alpha: float = 0.5,
               beta: float = 1.0) -> dict[str, Tensor]:
    """Seed 001 eq. 2-3: ``{"total", "recon", "velocity", "commit", "codebook"}``.

    ``mask`` ``(B, T)`` marks real frames of padded batches; velocities count only where both frames
    are real. ``total = recon + alpha * velocity + commit + beta * codebook`` (L_vq = L_rec + L_commit).
    """
    recon = _masked_mse(out.recon, out.target, mask)
    vel_mask = None if mask is None else mask[:, 1:] & mask[:, :-1]
    velocity = _masked_mse(out.recon[:, 1:] - out.recon[:, :-1], out.target[:, 1:] - out.target[:, :-1], vel_mask)
    token_mask = None
    if mask is not None:
        token_mask = mask[:, :: out.downsample]  # a token is real when its first frame is
    commit = _masked_mse(out.z, out.z_q.detach(), token_mask)
    codebook = _masked_mse(out.z_q, out.z.detach(), token_mask)
    total = recon + alpha * velocity + commit + beta * codebook
    return {"total": total, "recon": recon, "velocity": velocity, "commit": commit, "codebook": codebook}
