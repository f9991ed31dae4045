"""ResNet1D non-autoregressive backbone with adaptive modulation (seed 004), and a streaming variant.

Seed 004 (Wu et al., "MMFace4D", section VI) maps speech to a face sequence in one parallel pass:

- **Backbone** (VI-C): audio features resampled to the animation rate, ResNet1D blocks (kernel 3,
  stride 1, no downsampling in the decoder "to avoid over-smooth animations and retain
  high-frequency details"), then a *decoding matrix* W_d from m features to the output. It is
  fully convolutional: any length, all frames at once (the seed reports 0.01 s per second of
  animation against FaceFormer's 0.07 s).
- **Adaptive modulating module** (VI-B, the "composite nature"): a reference motion clip of the
  target talking style is mean-centred (Eq. 5, which removes identity), embedded by an encoding
  matrix W_e, encoded by ResNet1D blocks that downsample time by 4, and summarised by the mean
  and standard deviation over time of that code (speech-independent, order-free). A linear layer
  maps them to (mu, sigma) that re-style the audio code AdaIN-style (Eq. 6).
- **Sparsity regulariser** (VI-D, the "regional nature"): rows of W_d, L2-normalised and taken
  in absolute value, should not overlap: L_reg = sum_{i != j} |w_i| . |w_j| (Eq. 7).

Here the output is the face rows of ``config.space`` rather than mesh vertices (so W_d is m x D;
each ARKit/FLAME channel plays the role of the seed's vertices), the audio code comes from a
learned ResNet1D encoder over the configured features (the seed uses frozen HuBERT-large), and
the template face S-bar is an optional rest vector in parameter space (zeros by default).

**Causal variant** (``causal=True``): every temporal convolution is padded on the left only and
the AdaIN statistics of the audio code are cumulative (over frames so far) instead of over the
whole sequence, so the network at position s sees frames <= s. Output frame t is read at
position t + ``lookahead_frames``, which bounds the lookahead. :meth:`ResNet1DModel.start_stream`
/ :meth:`~ResNet1DModel.stream_step` / :meth:`~ResNet1DModel.stream_finish` run it chunk by
chunk with per-layer left-context buffers and give the full causal pass's output (see the test).

Training notes: BatchNorm (as in ResNet18) uses batch statistics while training and running ones
in eval, where every layer is then causal; the AdaIN statistics span the whole input, so train on
unpadded equal-length crops. Objective: :func:`regression_loss` + beta * :func:`sparsity_penalty`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmface_studio.engine.models.base import MODEL_SPACES, FamilyModel, ModelConfigError, face_dim, register_family
from mmface_studio.engine.models.layers import GlobalBatchNorm1d

__all__ = ["ResNet1DConfig", "ResNet1DModel", "ResNet1DStream", "regression_loss", "sparsity_penalty"]

_EPS = 1e-5


@dataclass(frozen=True)
class ResNet1DConfig:
    """Sizes of the ResNet1D family; the decoder runs ``decoder_blocks`` basic blocks at full frame rate.

    ``seed`` fixes the initial weights. ``lookahead_frames`` only matters when ``causal``.
    """

    space: str = "arkit52"
    audio_dim: int = 80
    audio_rate: float = 100.0
    fps: float = 30.0
    channels: int = 128  # C_audio, and the decoder width
    audio_blocks: int = 2
    decoder_blocks: int = 8  # ResNet18 has 8 basic blocks (seed VII-A: "ResNet18 configuration")
    kernel_size: int = 3  # seed VI-C: all decoder kernels 3, stride 1
    embed_dim: int = 32  # W_e: face -> embedding (seed VI-B)
    style_channels: int = 128  # C_face
    style_blocks: int = 2  # each halves time: T'/4 for 2 (seed VI-B)
    n_features: int = 64  # m, rows of the decoding matrix W_d (seed VI-D)
    causal: bool = False
    lookahead_frames: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in MODEL_SPACES:
            raise ModelConfigError(f"ResNet1DConfig: unknown space {self.space!r}; "
                                   f"use one of {', '.join(MODEL_SPACES)}.")
        positive = ("audio_dim", "channels", "embed_dim", "style_channels", "n_features")
        bad = [n for n in positive if int(getattr(self, n)) < 1]
        bad += [n for n in ("audio_blocks", "decoder_blocks", "style_blocks", "lookahead_frames")
                if int(getattr(self, n)) < 0]
        if bad:
            raise ModelConfigError(f"ResNet1DConfig: {', '.join(bad)} out of range.")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ModelConfigError(f"ResNet1DConfig: kernel_size must be odd, got {self.kernel_size}.")
        if self.audio_rate <= 0 or self.fps <= 0:
            raise ModelConfigError("ResNet1DConfig: audio_rate and fps must be > 0.")

    @classmethod
    def tiny(cls, space: str = "arkit52", **overrides: Any) -> ResNet1DConfig:
        """A small config for tests (same structure, small widths)."""
        small = dict(space=space, audio_dim=12, channels=16, audio_blocks=1, decoder_blocks=2, embed_dim=8,
                     style_channels=16, style_blocks=2, n_features=12)
        return replace(cls(), **{**small, **overrides})


# -- the regulariser and the loss (seed VI-D, Eq. 7-8) --------------------------------------


def sparsity_penalty(matrix: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """L_reg = sum_{i != j} |w_i| . |w_j| over the L2-normalised rows w_i of ``matrix`` (m, n) (Eq. 7).

    Zero exactly when no two rows have a non-zero entry in the same column (each feature drives
    its own region), so it is zero for a zero matrix and for rows with disjoint supports, and
    positive as soon as two rows overlap. A zero row counts as zero (``eps`` guards the division).
    """
    rows = matrix.abs() / matrix.norm(dim=1, keepdim=True).clamp_min(eps)
    gram = rows @ rows.t()
    return gram.sum() - gram.diagonal().sum()


def regression_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Seed Eq. 8's data term: sum over frames of the L2 norm of the per-frame error, averaged per frame.

    ``mask`` (B, T) keeps valid frames of padded batches. The full objective is
    ``regression_loss(...) + beta * model.sparsity_penalty()`` with beta = 1e-6 in the seed.
    """
    per_frame = (pred - target).norm(dim=-1)
    if mask is None:
        return per_frame.mean()
    m = mask.to(per_frame.dtype)
    return (per_frame * m).sum() / m.sum().clamp_min(1)


# -- building blocks -------------------------------------------------------------------------


class TemporalConv(nn.Module):
    """Conv1d over (B, C, T) padded 'same' or causally (left only), with a streaming path.

    ``stream(x, cache)`` continues a causal pass: ``cache[self.cache_key]`` holds the last k-1
    inputs (zeros at the start, which is what the full pass pads with), so chunks give the
    full pass's output.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, causal: bool = False,
                 bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, bias=bias)
        self.kernel, self.causal = kernel, causal
        self.cache_key = ""

    def forward(self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        if cache is not None:
            return self.stream(x, cache)
        k = self.kernel - 1
        pad = (k, 0) if self.causal else (k // 2, k - k // 2)
        return self.conv(F.pad(x, pad) if k else x)

    def stream(self, x: torch.Tensor, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        k = self.kernel - 1
        if not k:
            return self.conv(x)
        past = cache.get(self.cache_key)
        if past is None:
            past = x.new_zeros(x.shape[0], x.shape[1], k)
        joined = torch.cat([past, x], dim=2)
        cache[self.cache_key] = joined[:, :, -k:]
        return self.conv(joined)


class BasicBlock1D(nn.Module):
    """ResNet basic block in 1-D: conv-BN-ReLU-conv-BN + shortcut, ReLU (He et al., as seed 004 uses)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, causal: bool = False) -> None:
        super().__init__()
        self.conv1 = TemporalConv(c_in, c_out, kernel, stride=stride, causal=causal, bias=False)
        self.bn1 = GlobalBatchNorm1d(c_out)
        self.conv2 = TemporalConv(c_out, c_out, kernel, causal=causal, bias=False)
        self.bn2 = GlobalBatchNorm1d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False),
                                          GlobalBatchNorm1d(c_out))

    def forward(self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x, cache)))
        y = self.bn2(self.conv2(y, cache))
        return F.relu(y + self.shortcut(x))


@dataclass
class _RunningStats:
    """Sums for cumulative mean/std over time (float64: E[z^2] - E[z]^2 cancels badly in float32)."""

    total: torch.Tensor
    total_sq: torch.Tensor
    count: int = 0


class AdaptiveModulation(nn.Module):
    """Seed Eq. 6: Z_fuse = sigma_pred * (Z - mu(Z)) / sigma(Z) + mu_pred, (mu, sigma)_pred = Linear(style).

    ``style`` = [mu(Z_face); sigma(Z_face)] from the reference clip. mu(Z), sigma(Z) are taken over
    the whole sequence (seed) or, when causal, over the frames so far (cumulative), so that a
    stream needs no future frame. The linear layer starts at sigma_pred = 1, mu_pred = 0.
    """

    def __init__(self, style_dim: int, channels: int, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.to_stats = nn.Linear(style_dim, 2 * channels)
        with torch.no_grad():
            self.to_stats.bias[:channels].fill_(1.0)
            self.to_stats.bias[channels:].zero_()

    def targets(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sigma_pred, mu_pred), each (B, C, 1)."""
        sigma, mu = self.to_stats(style).chunk(2, dim=-1)
        return sigma[..., None], mu[..., None]

    def forward(self, z: torch.Tensor, style: torch.Tensor, stats: _RunningStats | None = None) -> torch.Tensor:
        sigma_p, mu_p = self.targets(style)
        if not self.causal:
            mean = z.mean(dim=2, keepdim=True)
            std = (z.var(dim=2, unbiased=False, keepdim=True) + _EPS).sqrt()
        else:
            z64 = z.double()
            s1, s2 = z64.cumsum(2), (z64 * z64).cumsum(2)
            start = 0
            if stats is not None:
                s1, s2, start = s1 + stats.total[..., None], s2 + stats.total_sq[..., None], stats.count
                stats.total, stats.total_sq, stats.count = s1[..., -1], s2[..., -1], start + z.shape[2]
            n = torch.arange(start + 1, start + z.shape[2] + 1, dtype=torch.float64, device=z.device)
            mean64 = s1 / n
            mean = mean64.to(z.dtype)
            std = ((s2 / n - mean64 * mean64).clamp_min(0.0) + _EPS).sqrt().to(z.dtype)
        return sigma_p * (z - mean) / std + mu_p


class MotionStyleEncoder(nn.Module):
    """Reference clip (B, T', D) -> style code (B, 2 C_face) = [mu_t(Z_face); sigma_t(Z_face)] (seed VI-B)."""

    def __init__(self, config: ResNet1DConfig) -> None:
        super().__init__()
        c = config
        self.stem = TemporalConv(c.embed_dim, c.style_channels, c.kernel_size)
        self.blocks = nn.ModuleList(BasicBlock1D(c.style_channels, c.style_channels, c.kernel_size, stride=2)
                                    for _ in range(c.style_blocks))

    def forward(self, reference: torch.Tensor, encode: nn.Module) -> torch.Tensor:
        """``encode`` is W_e, passed in (not owned) because the template embedding shares it."""
        norm = reference - reference.mean(dim=1, keepdim=True)  # Eq. 5: motion only, no identity
        z = F.relu(self.stem(encode(norm).transpose(1, 2)))
        for block in self.blocks:
            z = block(z)
        return torch.cat([z.mean(dim=2), z.std(dim=2, unbiased=False)], dim=-1)


# -- the family ------------------------------------------------------------------------------


@dataclass
class ResNet1DStream:
    """State of a chunk-by-chunk causal run (make it with :meth:`ResNet1DModel.start_stream`)."""

    style: torch.Tensor  # (B, 2 C_face)
    template: torch.Tensor  # (B, D)
    audio: torch.Tensor  # (B, n, audio_dim): received features from index ``audio_offset`` on
    audio_offset: int = 0
    positions: int = 0  # network positions computed (= frame features fed in)
    emitted: int = 0  # output frames returned so far
    finished: bool = False
    convs: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: _RunningStats | None = None

    @property
    def received(self) -> int:
        return self.audio_offset + int(self.audio.shape[1])


@register_family
class ResNet1DModel(FamilyModel):
    """Seed 004's non-autoregressive audio-to-face network with talking-style modulation.

    ``forward(audio (B, Ta, A), n_frames, reference=None)`` -> (B, n_frames, D). ``reference`` is
    a motion clip (B, T', D) in the same space and fps whose talking style to imitate; without
    one a learned default style is used (train it by dropping the reference now and then).
    """

    family = "resnet1d"
    config_class = ResNet1DConfig

    def __init__(self, config: ResNet1DConfig) -> None:
        super().__init__(config)
        c = config
        self.face_dim = face_dim(c.space)
        ratio = c.audio_rate / c.fps
        self._half_box = max(0, int(round((ratio - 1.0) / 2.0)))  # anti-alias: mean over ~one frame period
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.encode = nn.Linear(self.face_dim, c.embed_dim, bias=False)  # W_e
            self.style_encoder = MotionStyleEncoder(c)
            self.default_style = nn.Parameter(torch.zeros(2 * c.style_channels))
            self.stem = TemporalConv(c.audio_dim, c.channels, c.kernel_size, causal=c.causal)
            self.audio_blocks = nn.ModuleList(BasicBlock1D(c.channels, c.channels, c.kernel_size, causal=c.causal)
                                              for _ in range(c.audio_blocks))
            width = c.channels + c.embed_dim
            self.modulation = AdaptiveModulation(2 * c.style_channels, width, c.causal)
            self.decoder_blocks = nn.ModuleList(
                BasicBlock1D(width if i == 0 else c.channels, c.channels, c.kernel_size, causal=c.causal)
                for i in range(c.decoder_blocks))
            self.to_features = nn.Conv1d(width if c.decoder_blocks == 0 else c.channels, c.n_features, 1)
            self.decoding = nn.Parameter(torch.randn(c.n_features, self.face_dim) / math.sqrt(c.n_features))  # W_d
            self.out_bias = nn.Parameter(torch.zeros(self.face_dim))
        for name, module in self.named_modules():
            if isinstance(module, TemporalConv):
                module.cache_key = name

    # -- public helpers -----------------------------------------------------------------------

    @property
    def decoding_matrix(self) -> torch.Tensor:
        """W_d (m, D): row i is how feature i moves every output channel (seed VI-D)."""
        return self.decoding

    def sparsity_penalty(self) -> torch.Tensor:
        """L_reg of :func:`sparsity_penalty` on W_d (seed Eq. 7)."""
        return sparsity_penalty(self.decoding)

    def style_code(self, reference: torch.Tensor | None, batch: int = 1) -> torch.Tensor:
        """[mu; sigma] (B, 2 C_face) of a reference clip (B, T', D), or the learned default style."""
        if reference is None:
            return self.default_style.expand(batch, -1)
        if reference.dim() != 3 or reference.shape[-1] != self.face_dim or reference.shape[1] < 1:
            raise ValueError(f"reference must be (B, T' >= 1, {self.face_dim}), got {tuple(reference.shape)}.")
        return self.style_encoder(reference.to(self.decoding.dtype), self.encode)

    def last_audio_index(self, frame: int) -> int:
        """Index of the last audio feature output ``frame`` depends on (causal models only; for latency).

        Frame t needs frame features up to t + lookahead_frames; frame feature f interpolates the
        audio around its centre (f + 0.5) * audio_rate / fps - 0.5 and averages ``half_box``
        neighbours on each side.
        """
        if not self.config.causal:
            raise RuntimeError("Only a causal model has a bounded lookahead; this one sees the whole sequence.")
        last = int(frame) + self.config.lookahead_frames
        return self._needed_audio(torch.tensor([last]))[0].item()

    @property
    def lookahead_s(self) -> float:
        """Worst-case time from an output frame's end to the end of the last audio it needs (causal only).

        Add the feature extractor's own lookahead (its analysis window) for the end-to-end figure.
        """
        c = self.config
        worst = max(self.last_audio_index(t) + 1 - (t + 1) * c.audio_rate / c.fps for t in range(64))
        return max(0.0, worst / c.audio_rate)

    # -- audio -> frame features (one function for full and streamed passes) -----------------

    def _centres(self, frames: torch.Tensor) -> torch.Tensor:
        ratio = self.config.audio_rate / self.config.fps
        return ((frames.double() + 0.5) * ratio - 0.5).clamp_min(0.0)

    def _needed_audio(self, frames: torch.Tensor) -> torch.Tensor:
        return self._centres(frames).floor().long() + 1 + self._half_box

    def _frame_features(self, audio: torch.Tensor, offset: int, frames: torch.Tensor,
                        total: int | None) -> torch.Tensor:
        """Features (B, n, A) of animation frames ``frames`` from ``audio`` (first row = index ``offset``).

        Linear interpolation at the frame centres (``layers.resample_time``'s convention) of the
        features averaged over ``half_box`` neighbours. ``total`` (known at the end) holds the last
        feature past the end; without it every index used must already be in ``audio``.
        """
        centre = self._centres(frames)
        if total is not None:
            centre = centre.clamp_max(total - 1)
        lo = centre.floor().long()
        w = (centre - lo).to(device=audio.device, dtype=audio.dtype)[None, :, None]
        taps = torch.arange(-self._half_box, self._half_box + 1)

        def boxed(index: torch.Tensor) -> torch.Tensor:
            idx = (index[:, None] + taps).clamp_min(0)
            if total is not None:
                idx = idx.clamp_max(total - 1)
            return audio[:, (idx - offset).to(audio.device)].mean(dim=2)

        hi = lo + 1 if total is None else (lo + 1).clamp_max(total - 1)
        return boxed(lo) * (1.0 - w) + boxed(hi) * w

    # -- the network --------------------------------------------------------------------------

    def _trunk(self, feats: torch.Tensor, style: torch.Tensor, template: torch.Tensor,
               cache: dict[str, torch.Tensor] | None = None, stats: _RunningStats | None = None) -> torch.Tensor:
        """Frame features (B, n, A) -> face (B, n, D); ``cache``/``stats`` continue a causal stream."""
        z = F.relu(self.stem(feats.transpose(1, 2), cache))
        for block in self.audio_blocks:
            z = block(z, cache)
        emb = self.encode(template)[..., None].expand(-1, -1, z.shape[2])
        z = self.modulation(torch.cat([z, emb], dim=1), style, stats)
        for block in self.decoder_blocks:
            z = block(z, cache)
        features = self.to_features(z).transpose(1, 2)  # (B, n, m)
        return features @ self.decoding + self.out_bias + template[:, None]

    def _inputs(self, audio_feats: torch.Tensor, n_frames: int, reference: torch.Tensor | None,
                style: torch.Tensor | None, template: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if audio_feats.dim() != 3 or audio_feats.shape[-1] != self.config.audio_dim or audio_feats.shape[1] < 1:
            raise ValueError(f"audio features must be (B, Ta >= 1, {self.config.audio_dim}), "
                             f"got {tuple(audio_feats.shape)}.")
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}.")
        b = audio_feats.shape[0]
        style = self.style_code(reference, b) if style is None else style.expand(b, -1)
        template = self._template(template, b)
        return style, template

    def _template(self, template: torch.Tensor | None, batch: int) -> torch.Tensor:
        if template is None:
            return self.out_bias.new_zeros(batch, self.face_dim)
        return template.to(self.out_bias.dtype).reshape(-1, self.face_dim).expand(batch, -1)

    def forward(self, audio_feats: torch.Tensor, n_frames: int, reference: torch.Tensor | None = None, *,
                style: torch.Tensor | None = None, template: torch.Tensor | None = None) -> torch.Tensor:
        """Face parameters (B, n_frames, D), all frames in one pass.

        ``style`` (B or 1, 2 C_face) from :meth:`style_code` skips re-encoding a cached reference.
        ``template`` (D,) or (B, D): rest offsets added to the output (seed's S-bar; default 0).
        Causal models read frame t at position t + lookahead_frames (ends held past the audio).
        """
        style, template = self._inputs(audio_feats, n_frames, reference, style, template)
        n = int(n_frames)
        ahead = self.config.lookahead_frames if self.config.causal else 0
        x = audio_feats.to(self.decoding.dtype)
        feats = self._frame_features(x, 0, torch.arange(n + ahead), x.shape[1])
        return self._trunk(feats, style, template)[:, ahead:]

    # -- streaming (causal models) ------------------------------------------------------------

    def start_stream(self, batch: int = 1, reference: torch.Tensor | None = None, *,
                     style: torch.Tensor | None = None, template: torch.Tensor | None = None) -> ResNet1DStream:
        """Begin a chunked causal run. Needs ``causal=True`` and eval mode (BatchNorm's running stats)."""
        if not self.config.causal:
            raise RuntimeError("Streaming needs a causal model (ResNet1DConfig(causal=True)).")
        if self.training:
            raise RuntimeError("Streaming needs eval mode: call model.eval() first.")
        code = self.style_code(reference, batch) if style is None else style.expand(batch, -1)
        empty = self.decoding.new_zeros(batch, 0, self.config.audio_dim)
        width = self.config.channels + self.config.embed_dim
        stats = _RunningStats(torch.zeros(batch, width, dtype=torch.float64, device=self.device),
                              torch.zeros(batch, width, dtype=torch.float64, device=self.device))
        return ResNet1DStream(style=code, template=self._template(template, batch), audio=empty, stats=stats)

    def stream_step(self, state: ResNet1DStream, audio_chunk: torch.Tensor) -> torch.Tensor:
        """Feed the next audio features (B, n, A); returns the output frames now complete (B, k, D).

        Frame t comes out once audio index :meth:`last_audio_index` (t) has arrived. A step is a
        few dozen tiny ops (about 1.5 ms per 20 ms chunk at default size on one core): run live
        streams with ``torch.set_num_threads(1)``; extra intra-op threads only add sync waits.
        """
        if state.finished:
            raise RuntimeError("This stream is finished; start a new one.")
        state.audio = torch.cat([state.audio, audio_chunk.to(state.audio.dtype)], dim=1)
        available = state.received - 1
        upper = int((available + 1) * self.config.fps / self.config.audio_rate) + 2  # no later frame can be ready
        candidates = torch.arange(state.positions, max(state.positions, upper))
        count = int((self._needed_audio(candidates) <= available).sum())  # a prefix: needs grow with t
        return self._advance(state, count, total=None, limit=None)

    def stream_finish(self, state: ResNet1DStream, n_frames: int) -> torch.Tensor:
        """All audio has arrived: return the remaining frames up to ``n_frames`` (ends held, as in forward)."""
        if state.received < 1:
            raise ValueError("No audio was streamed.")
        ahead = self.config.lookahead_frames
        out = self._advance(state, max(0, int(n_frames) + ahead - state.positions), total=state.received,
                            limit=int(n_frames))
        state.finished = True
        return out

    def _advance(self, state: ResNet1DStream, count: int, total: int | None, limit: int | None) -> torch.Tensor:
        ahead = self.config.lookahead_frames
        out = self.decoding.new_zeros(state.audio.shape[0], 0, self.face_dim)
        if count > 0:
            frames = torch.arange(state.positions, state.positions + count)
            feats = self._frame_features(state.audio, state.audio_offset, frames, total)
            faces = self._trunk(feats, state.style, state.template, state.convs, state.stats)
            state.positions += count
            first = max(state.emitted + ahead, frames[0].item())  # positions whose frame is not out yet
            out = faces[:, first - frames[0].item():]
            state.emitted += out.shape[1]
        if limit is not None and state.emitted > limit:
            out = out[:, : max(0, out.shape[1] - (state.emitted - limit))]
        self._trim(state)
        return out

    def _trim(self, state: ResNet1DStream) -> None:
        """Drop audio no future frame needs (keeps a live session's memory flat)."""
        keep_from = int(self._centres(torch.tensor([state.positions])).floor().long()[0]) - self._half_box
        drop = min(max(0, keep_from - state.audio_offset), state.audio.shape[1] - 1)
        if drop > 0:
            state.audio = state.audio[:, drop:]
            state.audio_offset += drop
