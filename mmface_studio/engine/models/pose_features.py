"""Feature extractor for a head-pose FID (seed 002, 3.2).

"There is no readily available universal feature extractor for head pose data. Therefore, we
trained an autoencoder-based feature extractor [...] The encoder encodes a series of direction
vectors d into latent feature, and then the decoder reconstructs the original pose sequence from
the latent feature. [...] the encoder consists of three one-dimensional convolutional layers,
three linear layers, and two batch normalization layers. The first two one-dimensional
convolutions maintain the temporal dimension unchanged, while the final one-dimensional
convolution performs downsampling in the temporal dimension. The decoder network mirrors the
encoder, with one-dimensional convolutions replaced by transposed one-dimensional convolutions."

Directions rather than angles: the metric then does not care about the angle convention
(ARKit yaw/pitch/roll vs FLAME axis-angle) nor about wrap-around. The facing direction alone
loses roll, so by default the head's up vector is encoded as well (``include_up``).

The autoencoder works on fixed clips of ``clip_frames`` (seed 002 used 200-frame clips); a longer
take is cut into clips (non-overlapping, the last one aligned to the end), a shorter one is padded
by holding its last frame, and :meth:`PoseFeatureExtractor.features` averages the clips' features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmface_studio.engine.models.base import ModelConfigError, pose_dim


@dataclass(frozen=True)
class PoseFeatureConfig:
    """Sizes of the pose FID feature extractor (JSON-able, like the family configs)."""

    space: str = "arkit52"
    clip_frames: int = 64
    channels: int = 64
    hidden: int = 256
    feature_dim: int = 128
    include_up: bool = True

    def __post_init__(self) -> None:
        pose_dim(self.space)  # validates the space
        if self.clip_frames < 2 or self.clip_frames % 2:
            raise ModelConfigError(f"clip_frames must be an even number >= 2, got {self.clip_frames}.")
        if min(self.channels, self.hidden, self.feature_dim) < 1:
            raise ModelConfigError("PoseFeatureConfig sizes must be positive.")

    @classmethod
    def tiny(cls, **overrides: object) -> PoseFeatureConfig:
        sizes: dict[str, object] = dict(clip_frames=16, channels=8, hidden=16, feature_dim=8)
        sizes.update(overrides)
        return cls(**sizes)  # type: ignore[arg-type]


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.linalg.cross(a, b.expand_as(a), dim=-1)


def _rotate_axis_angle(axis_angle: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rodrigues: rotate the fixed vector v (3,) by axis-angle (..., 3), smooth through angle 0."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < 1e-8
    theta = theta2.clamp_min(1e-8).sqrt()
    sinc = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    cosc = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(1e-8))
    kv = _cross(axis_angle, v)
    return v + sinc * kv + cosc * _cross(axis_angle, kv)


def pose_directions(pose: torch.Tensor, space: str, include_up: bool = True) -> torch.Tensor:
    """(B, T, 3) head rotation -> facing direction (B, T, 3) [+ up vector, (B, T, 6)].

    ``arkit52``: (HeadYaw, HeadPitch, HeadRoll) composed as Ry(yaw) Rx(pitch) Rz(roll) on a Y-up,
    +Z-forward head (``rig.skinning.euler_yxz``). ``flame56``: global axis-angle (FLAME faces +Z).
    """
    if space == "flame56":
        forward = _rotate_axis_angle(pose, pose.new_tensor([0.0, 0.0, 1.0]))
        up = _rotate_axis_angle(pose, pose.new_tensor([0.0, 1.0, 0.0])) if include_up else None
    else:
        pose_dim(space)
        yaw, pitch, roll = pose.unbind(-1)
        cy, sy, cp, sp = torch.cos(yaw), torch.sin(yaw), torch.cos(pitch), torch.sin(pitch)
        forward = torch.stack([sy * cp, -sp, cy * cp], dim=-1)
        up = None
        if include_up:
            cr, sr = torch.cos(roll), torch.sin(roll)
            up = torch.stack([-cy * sr + sy * sp * cr, cp * cr, sy * sr + cy * sp * cr], dim=-1)
    return forward if up is None else torch.cat([forward, up], dim=-1)


class PoseFeatureExtractor(nn.Module):
    """Conv autoencoder over direction sequences; the encoder's output is the FID feature."""

    def __init__(self, config: PoseFeatureConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or PoseFeatureConfig()
        self.in_dim = 6 if c.include_up else 3
        half = c.clip_frames // 2
        self.encoder_conv = nn.Sequential(
            nn.Conv1d(self.in_dim, c.channels, 3, padding=1), nn.BatchNorm1d(c.channels), nn.LeakyReLU(0.2),
            nn.Conv1d(c.channels, c.channels, 3, padding=1), nn.BatchNorm1d(c.channels), nn.LeakyReLU(0.2),
            nn.Conv1d(c.channels, c.channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        self.encoder_mlp = nn.Sequential(
            nn.Linear(c.channels * half, c.hidden), nn.LeakyReLU(0.2),
            nn.Linear(c.hidden, c.hidden), nn.LeakyReLU(0.2),
            nn.Linear(c.hidden, c.feature_dim),
        )
        self.decoder_mlp = nn.Sequential(
            nn.Linear(c.feature_dim, c.hidden), nn.LeakyReLU(0.2),
            nn.Linear(c.hidden, c.hidden), nn.LeakyReLU(0.2),
            nn.Linear(c.hidden, c.channels * half), nn.LeakyReLU(0.2),
        )
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose1d(c.channels, c.channels, 4, stride=2, padding=1), nn.BatchNorm1d(c.channels),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose1d(c.channels, c.channels, 3, padding=1), nn.BatchNorm1d(c.channels), nn.LeakyReLU(0.2),
            nn.ConvTranspose1d(c.channels, self.in_dim, 3, padding=1),
        )

    def clips(self, pose: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Directions of a take cut into clips: ((B * n_clips, clip_frames, in_dim), n_clips)."""
        if pose.ndim != 3 or pose.shape[2] != pose_dim(self.config.space) or pose.shape[1] == 0:
            raise ValueError(f"Pose must be (B, T>0, 3), got {tuple(pose.shape)}.")
        d = pose_directions(pose, self.config.space, self.config.include_up)
        clip, length = self.config.clip_frames, d.shape[1]
        if length < clip:
            d = torch.cat([d, d[:, -1:].expand(-1, clip - length, -1)], dim=1)
            length = clip
        starts = list(range(0, length - clip + 1, clip))
        if starts[-1] + clip < length:
            starts.append(length - clip)
        windows = torch.stack([d[:, s : s + clip] for s in starts], dim=1)  # (B, n, clip, C)
        return windows.reshape(-1, clip, d.shape[2]), len(starts)

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, clip_frames, in_dim) directions -> (N, feature_dim)."""
        h = self.encoder_conv(clips.transpose(1, 2))
        return self.encoder_mlp(h.flatten(1))

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """(N, feature_dim) -> reconstructed directions (N, clip_frames, in_dim)."""
        h = self.decoder_mlp(features).view(features.shape[0], self.config.channels, self.config.clip_frames // 2)
        return self.decoder_conv(h).transpose(1, 2)

    def features(self, pose: torch.Tensor) -> torch.Tensor:
        """FID features (B, feature_dim) of pose takes (B, T, 3); always with running BN statistics.

        The module is switched to eval for the call (and back), so a feature never depends on
        the other takes in the batch.
        """
        was_training = self.training
        self.eval()
        try:
            clips, n = self.clips(pose)
            return self.encode(clips).view(pose.shape[0], n, -1).mean(1)
        finally:
            self.train(was_training)

    def reconstruction_loss(self, pose: torch.Tensor) -> torch.Tensor:
        """Training objective: MSE between a take's direction clips and their reconstruction."""
        clips, _ = self.clips(pose)
        return F.mse_loss(self.decode(self.encode(clips)), clips)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        return self.features(pose)
