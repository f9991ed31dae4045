"""The diverse head-pose family (seed 002, 1.2): pose VQ-VAE + autoregressive code generator.

One :class:`PoseModel` holds the audio encoder, the pose VQ-VAE and the generator, so a single
checkpoint carries the whole family. Seed 002 trains it in two stages (VQ-VAE first, then the
generator on the frozen codes); :func:`vqvae_losses` and :func:`generator_loss` are those two
objectives for the trainer.

Sampling (:meth:`PoseModel.sample`) draws one code per pose block with a seeded
``torch.Generator`` (seed -> identical take; the uniforms are drawn on the CPU, so a take does not
depend on the device), temperature and top-k, through a KV cache.

In-filling (head-pose locks). Given the existing take and a lock mask:

1. the existing take is encoded; blocks whose frames are *all* locked have their codes forced,
   so the generator continues from the locked motion (the frames after a lock follow on from it);
2. the other blocks are sampled, the codes decoded;
3. next to each lock edge e the new take is corrected so that it continues the lock's motion:
   the first free frame is placed one *locked-take step* away from the edge
   (``out[e+1] - old[e] == old[e] - old[e-1]``, mirrored before a lock), so neither the
   position nor the velocity jumps (C1 join). The position offset ``old[e] - new[e]`` fades out
   with a smoothstep over L frames, L = ``ceil(1.5 |offset| / median step of the new take)``
   clamped to [``blend_frames``, ``blend_max_frames``] (a large offset is spread out rather than
   becoming a snap); the velocity difference fades within ``blend_frames``. In a gap too short
   for both neighbouring fades the corrections are scaled to sum to at most one (interpolated,
   velocities then matched only approximately);
4. locked frames are pasted bit-exactly from the existing take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from mmface_studio.engine.models.base import FamilyModel, ModelConfigError, pose_dim, register_family
from mmface_studio.engine.models.layers import intra_op_threads
from mmface_studio.engine.models.pose_generator import PoseAudioEncoder, PoseGenerator
from mmface_studio.engine.models.pose_vqvae import PoseVQVAE
from mmface_studio.engine.request import POSE_STYLES


@dataclass(frozen=True)
class PoseConfig:
    """Sizes of the pose family. Seed 002: 6-layer / 4-head transformers; 8-frame motion blocks.

    ``vq_window`` (tokens either side) and ``context_tokens`` (causal) bound attention; the
    default context of 32 tokens is 8.5 s at 8 frames / 30 fps. ``ppe_period`` is in tokens.
    Style ids 0..3 are ``POSE_STYLES`` (calm, animated, nodding, shaking).
    """

    space: str = "arkit52"
    audio_dim: int = 80
    audio_rate: float = 100.0
    fps: float = 30.0
    block_frames: int = 8
    codebook_size: int = 256
    code_dim: int = 64
    d_model: int = 128
    ff_dim: int = 384
    vq_layers: int = 6
    vq_heads: int = 4
    vq_window: int = 8
    gen_layers: int = 6
    gen_heads: int = 4
    context_tokens: int = 32
    ppe_period: int = 8
    rhythm_channels: int = 64
    n_styles: int = len(POSE_STYLES)
    blend_frames: int = 8
    blend_max_frames: int = 30
    dropout: float = 0.1

    def __post_init__(self) -> None:
        pose_dim(self.space)  # raises ModelConfigError for an unknown space
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or isinstance(value, bool)):
                raise ModelConfigError(f"PoseConfig.{f.name} must be an int, got {value!r}.")
        positive = ("audio_dim", "block_frames", "code_dim", "d_model", "ff_dim", "vq_layers", "vq_heads",
                    "vq_window", "gen_layers", "gen_heads", "context_tokens", "ppe_period", "rhythm_channels",
                    "n_styles")
        bad = [name for name in positive if getattr(self, name) < 1]
        if bad or self.codebook_size < 2 or not 1 <= self.blend_frames <= self.blend_max_frames:
            raise ModelConfigError(f"PoseConfig sizes out of range: {', '.join(bad) or 'codebook_size/blend_frames'}.")
        if self.d_model % 2 or self.d_model % self.vq_heads or self.d_model % self.gen_heads:
            raise ModelConfigError(f"d_model={self.d_model} must be even and divisible by the head counts.")
        if not (self.audio_rate > 0 and self.fps > 0 and math.isfinite(self.audio_rate) and math.isfinite(self.fps)):
            raise ModelConfigError(f"audio_rate and fps must be positive, got {self.audio_rate}, {self.fps}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError(f"dropout must be in [0, 1), got {self.dropout}.")

    @classmethod
    def tiny(cls, **overrides: object) -> PoseConfig:
        """A ~23k-parameter config for tests (same code paths, 1-2 layers of width 16)."""
        sizes: dict[str, object] = dict(block_frames=4, codebook_size=16, code_dim=8, d_model=16, ff_dim=32,
                                        vq_layers=1, vq_heads=2, vq_window=4, gen_layers=2, gen_heads=2,
                                        context_tokens=8, ppe_period=4, rhythm_channels=8, blend_frames=4,
                                        blend_max_frames=12, dropout=0.0)
        sizes.update(overrides)
        return cls(**sizes)  # type: ignore[arg-type]


@register_family
class PoseModel(FamilyModel):
    """Audio features (B, Ta, audio_dim) -> head pose (B, T, 3) radians at ``fps``, diverse by seed."""

    family = "pose"
    config_class = PoseConfig

    def __init__(self, config: PoseConfig) -> None:
        super().__init__(config)
        c = config
        self.pose_dim = pose_dim(c.space)
        self.audio_encoder = PoseAudioEncoder(audio_dim=c.audio_dim, audio_rate=c.audio_rate, fps=c.fps,
                                              block_frames=c.block_frames, dim=c.d_model,
                                              rhythm_channels=c.rhythm_channels)
        self.vqvae = PoseVQVAE(pose_dim=self.pose_dim, block_frames=c.block_frames, dim=c.d_model,
                               code_dim=c.code_dim, codebook_size=c.codebook_size, layers=c.vq_layers,
                               heads=c.vq_heads, ff_dim=c.ff_dim, window=c.vq_window, period=c.ppe_period,
                               dropout=c.dropout)
        self.generator = PoseGenerator(codebook_size=c.codebook_size, dim=c.d_model, layers=c.gen_layers,
                                       heads=c.gen_heads, ff_dim=c.ff_dim, context_tokens=c.context_tokens,
                                       period=c.ppe_period, n_styles=c.n_styles, dropout=c.dropout)

    # -- helpers ---------------------------------------------------------------------------------

    def n_tokens(self, n_frames: int) -> int:
        return -(-int(n_frames) // self.config.block_frames)

    def style_ids(self, style: str | int | torch.Tensor, batch: int) -> torch.Tensor:
        """Style name (``POSE_STYLES``), id, or per-row ids (B,) -> LongTensor (B,) on the model's device."""
        if isinstance(style, torch.Tensor):
            ids = style.to(device=self.device, dtype=torch.long).reshape(-1).expand(batch)
        else:
            if isinstance(style, str):
                if style not in POSE_STYLES:
                    raise ValueError(f"Unknown pose style {style!r}; use one of {', '.join(POSE_STYLES)}.")
                style = POSE_STYLES.index(style)
            ids = torch.full((batch,), int(style), dtype=torch.long, device=self.device)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.n_styles):
            raise ValueError(f"Pose style id out of range 0..{self.config.n_styles - 1}.")
        return ids

    def condition(self, audio_feats: torch.Tensor, n_tokens: int, style: str | int | torch.Tensor) -> torch.Tensor:
        """Generator input per token (B, N, d_model): fused audio + style + PPE."""
        audio = self.audio_encoder(audio_feats.to(self.device, torch.float32), n_tokens)
        return self.generator.conditioning(audio, self.style_ids(style, audio.shape[0]))

    def forward(self, audio_feats: torch.Tensor, pose: torch.Tensor,
                style: str | int | torch.Tensor = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Training view: (VQ-VAE reconstruction (B, T, 3), teacher-forced code logits (B, N, K))."""
        padded = pad_frames(pose, self.n_tokens(pose.shape[1]) * self.config.block_frames)
        reconstruction, quantized = self.vqvae(padded)
        cond = self.condition(audio_feats, quantized.indices.shape[1], style)
        return reconstruction[:, : pose.shape[1]], self.generator.logits(quantized.indices, cond)

    # -- sampling --------------------------------------------------------------------------------

    @torch.inference_mode()
    def sample(self, audio_feats: torch.Tensor, n_frames: int, *, seed: int, style: str | int,
               temperature: float = 1.0, top_k: int | None = None, locked_pose: torch.Tensor | None = None,
               lock_mask: torch.Tensor | None = None, use_cache: bool = True) -> torch.Tensor:
        """A head-pose take (B, n_frames, 3) in radians at ``config.fps`` for the given audio.

        ``locked_pose`` (B, n_frames, 3) and ``lock_mask`` (B, n_frames) bool: frames to keep
        exactly (see the module doc for how the new take joins them). ``use_cache=False`` is the
        slow reference path (same result).
        """
        n_frames = int(n_frames)
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}.")
        if (locked_pose is None) != (lock_mask is None):
            raise ValueError("In-filling needs both locked_pose and lock_mask.")
        batch = audio_feats.shape[0]
        if lock_mask is not None and locked_pose is not None:
            want = (batch, n_frames, self.pose_dim)
            if tuple(locked_pose.shape) != want or tuple(lock_mask.shape) != want[:2]:
                raise ValueError(f"locked_pose must be {want} and lock_mask {want[:2]}, got "
                                 f"{tuple(locked_pose.shape)} and {tuple(lock_mask.shape)}.")
            lock_mask = lock_mask.to(self.device, torch.bool)
            locked_pose = locked_pose.to(self.device)
            if not bool(lock_mask.any()):
                locked_pose = lock_mask = None
        was_training = self.training
        self.eval()
        try:
            # one intra-op thread on the CPU: see ``layers.intra_op_threads`` (a loaded second core
            # made the 2-thread run 5x slower; one thread is as fast when the machine is idle)
            with intra_op_threads(1 if self.device.type == "cpu" else torch.get_num_threads()):
                return self._sample(audio_feats, n_frames, seed, style, float(temperature), top_k, locked_pose,
                                    lock_mask, use_cache)
        finally:
            self.train(was_training)

    def _sample(self, audio_feats: torch.Tensor, n_frames: int, seed: int, style: str | int, temperature: float,
                top_k: int | None, locked_pose: torch.Tensor | None, lock_mask: torch.Tensor | None,
                use_cache: bool) -> torch.Tensor:
        batch, bf = audio_feats.shape[0], self.config.block_frames
        n_tokens = self.n_tokens(n_frames)
        cond = self.condition(audio_feats, n_tokens, style)
        forced = forced_mask = None
        if locked_pose is not None and lock_mask is not None:
            forced = self.vqvae.encode(pad_frames(locked_pose.to(cond.dtype), n_tokens * bf))
            forced_mask = pad_frames(lock_mask[..., None], n_tokens * bf)[..., 0].view(batch, n_tokens, bf).all(2)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        uniforms = torch.rand((n_tokens, batch), generator=generator, dtype=torch.float64).to(self.device)
        codes = self.generator.sample(cond, uniforms, temperature=temperature, top_k=top_k, forced=forced,
                                      forced_mask=forced_mask, use_cache=use_cache)
        pose = self.vqvae.decode(codes)[:, :n_frames]
        if locked_pose is not None and lock_mask is not None:
            pose = blend_into_locks(pose, locked_pose.to(pose.dtype), lock_mask, self.config.blend_frames,
                                    self.config.blend_max_frames)
        return pose


def pad_frames(x: torch.Tensor, length: int) -> torch.Tensor:
    """Extend (B, T, C) to ``length`` frames by holding the last frame (blocks need whole frames)."""
    missing = length - x.shape[1]
    if missing <= 0:
        return x
    return torch.cat([x, x[:, -1:].expand(-1, missing, -1)], dim=1)


def _fade(distance: torch.Tensor, length: torch.Tensor | float) -> torch.Tensor:
    """1 at distance 1 (the first free frame), smoothstep down to 0 at ``length + 1``."""
    x = ((distance - 1.0) / length).clamp(0.0, 1.0)
    return 1.0 - x * x * (3.0 - 2.0 * x)


def blend_into_locks(new: torch.Tensor, old: torch.Tensor, mask: torch.Tensor, blend_frames: int,
                     blend_max_frames: int | None = None) -> torch.Tensor:
    """Join a new take (B, T, C) to the locked frames (B, T) of ``old`` (module doc, steps 3-4).

    Only locked frames of ``old`` are read, so what the caller passes outside the locks does not
    matter. Locked frames are returned bit-exactly as in ``old``.
    """
    batch, length, _ = new.shape
    longest = float(max(blend_frames, blend_max_frames or blend_frames))
    index = torch.arange(length, device=new.device).expand(batch, length)
    offset = old - new
    typical = new.diff(dim=1).norm(dim=-1).median(dim=1).values if length > 1 else new.new_zeros(batch)
    fade_len = (1.5 * offset.norm(dim=-1) / typical.clamp_min(1e-6)[:, None]).ceil().clamp(blend_frames, longest)

    def at(edge: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        clamped = edge.clamp(0, length - 1)
        return values.gather(1, clamped if values.ndim == 2 else clamped[..., None].expand_as(values))

    def shifted(tensor: torch.Tensor, by: int) -> torch.Tensor:
        """tensor[:, t + by], edge-held (only read where the neighbour exists)."""
        return at(index + by, tensor)

    # outward step difference at each locked frame: lock's last step minus the new take's first free step
    locked_f = mask.to(new.dtype)[..., None]
    after = (old - shifted(old, -1)) - (shifted(new, 1) - new)  # for a lock ending at t
    after = after * locked_f * shifted(locked_f, -1) * (index > 0)[..., None]
    before = (old - shifted(old, 1)) - (shifted(new, -1) - new)  # for a lock starting at t
    before = before * locked_f * shifted(locked_f, 1) * (index < length - 1)[..., None]

    left = torch.where(mask, index, -1).cummax(1).values  # last locked frame <= t, -1 if none
    right_flipped = torch.where(mask.flip(1), index, -1).cummax(1).values.flip(1)
    right = torch.where(right_flipped >= 0, length - 1 - right_flipped, length)  # first locked >= t
    d_left, d_right = (index - left).to(new.dtype), (right - index).to(new.dtype)
    has_left, has_right = (left >= 0).to(new.dtype), (right < length).to(new.dtype)
    w_left = _fade(d_left, at(left, fade_len)) * has_left
    w_right = _fade(d_right, at(right, fade_len)) * has_right
    v_left = _fade(d_left, float(blend_frames)) * d_left * has_left
    v_right = _fade(d_right, float(blend_frames)) * d_right * has_right
    correction = (w_left[..., None] * at(left, offset) + v_left[..., None] * at(left, after)
                  + w_right[..., None] * at(right, offset) + v_right[..., None] * at(right, before))
    scale = (w_left + w_right).clamp_min(1.0)[..., None]
    return torch.where(mask[..., None], old, new + correction / scale)


# -- training objectives (seed 002, 2.2: VQ-VAE first, then the generator on frozen codes) ----------


def _valid_frames(valid: torch.Tensor | None, pose: torch.Tensor, length: int) -> torch.Tensor:
    mask = torch.ones(pose.shape[:2], dtype=torch.bool, device=pose.device) if valid is None else valid.bool()
    return F.pad(mask, (0, length - pose.shape[1]), value=False)


def vqvae_losses(model: PoseModel, pose: torch.Tensor, valid: torch.Tensor | None = None, *,
                 commitment_weight: float = 0.25, velocity_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Pose VQ-VAE objective: reconstruction + velocity + codebook + weighted commitment.

    Codes are learned by gradient with the straight-through estimator (no EMA). Errors are measured
    in standardised units (``pose_std``) so the three angles count alike. ``valid`` (B, T) masks
    padding of variable-length batches. Returns ``total`` (to back-propagate) and its parts, plus
    ``perplexity`` (codebook usage, detached).
    """
    length = model.n_tokens(pose.shape[1]) * model.config.block_frames
    target = pad_frames(pose, length)
    mask = _valid_frames(valid, pose, length).to(pose.dtype)[..., None]
    reconstruction, quantized = model.vqvae(target)
    err = (reconstruction - target) / model.vqvae.pose_std
    recon = (err.pow(2) * mask).sum() / (mask.sum() * err.shape[2]).clamp_min(1.0)
    vel_mask = mask[:, 1:] * mask[:, :-1]
    vel_err = torch.diff(err, dim=1)
    velocity = (vel_err.pow(2) * vel_mask).sum() / (vel_mask.sum() * err.shape[2]).clamp_min(1.0)
    total = recon + velocity_weight * velocity + quantized.codebook_loss + commitment_weight * quantized.commitment_loss
    with torch.no_grad():
        counts = torch.bincount(quantized.indices.flatten(), minlength=model.config.codebook_size).float()
        p = counts / counts.sum()
        perplexity = torch.exp(-(p * p.clamp_min(1e-12).log()).sum())
    return {"total": total, "reconstruction": recon, "velocity": velocity, "codebook": quantized.codebook_loss,
            "commitment": quantized.commitment_loss, "perplexity": perplexity}


def generator_loss(model: PoseModel, audio_feats: torch.Tensor, pose: torch.Tensor, style: str | int | torch.Tensor,
                   valid: torch.Tensor | None = None, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of the generator's next-code prediction on the frozen VQ-VAE's codes.

    Seed 002 (2.2) trains the generator after the VQ-VAE; the codes are computed with the VQ-VAE in
    eval mode and without gradient, so only the audio encoder and the generator learn. A block
    counts when at least one of its frames is valid.
    """
    n_tokens = model.n_tokens(pose.shape[1])
    length = n_tokens * model.config.block_frames
    was_training = model.vqvae.training
    model.vqvae.eval()  # the targets are the frozen VQ-VAE's codes: no dropout in them
    try:
        with torch.no_grad():
            codes = model.vqvae.encode(pad_frames(pose, length))
    finally:
        model.vqvae.train(was_training)
    block_valid = _valid_frames(valid, pose, length).view(pose.shape[0], n_tokens, -1).any(2)
    logits = model.generator.logits(codes, model.condition(audio_feats, n_tokens, style))
    ce = F.cross_entropy(logits.transpose(1, 2), codes, reduction="none", label_smoothing=label_smoothing)
    return (ce * block_valid).sum() / block_valid.sum().clamp_min(1)
