"""Multi-head attention with boolean masks and key/value caches, shared by the autoregressive families.

Autoregressive decoders (MM2Face, seed 001 section 4.2; the pose generator, seed 002) emit one token
at a time. Recomputing keys and values of every earlier position at every step makes sampling
quadratic, which sinks the CPU budget of DESIGN section 5; a :class:`KVCache` keeps them instead, so
each step only projects the new position. Cross-attention memories (text, audio) never change during
sampling, so callers project them once with :meth:`MultiHeadAttention.project_kv` and hand the
keys/values (or slices of them) to :meth:`MultiHeadAttention.attend`.

Mask convention everywhere: a boolean tensor, ``True`` where a query may attend to a key, shaped
``(Lq, Lk)``, ``(B, Lq, Lk)`` or ``(B, H, Lq, Lk)``. Every query row must allow at least one key
(a row with none has no defined softmax and comes out as NaN); the models guarantee this with
always-visible entries (a null memory token, the diagonal of the text prefix).

Also here: the mask builders (causal with a window, the audio alignment mask of seed 001 eq. 4)
and the position encodings the decoders add before attending.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KVCache:
    """Keys and values of the positions a self-attention layer has seen so far.

    Storage is allocated once for ``capacity`` positions (and doubled if exceeded), so a step
    writes in place instead of concatenating: concatenation would copy the whole history at each
    of the hundreds of steps of a minute-long sample.
    """

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = int(capacity)
        self.length = 0
        self._k: Tensor | None = None
        self._v: Tensor | None = None

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store ``k``/``v`` of shape ``(B, H, L, dh)`` after the cached ones; return all of them."""
        b, h, n, dh = k.shape
        needed = self.length + n
        if self._k is None or needed > self._k.shape[2]:
            size = max(needed, self.capacity, 2 * (0 if self._k is None else self._k.shape[2]))
            new_k = k.new_empty(b, h, size, dh)
            new_v = v.new_empty(b, h, size, dh)
            if self._k is not None and self._v is not None and self.length:
                new_k[:, :, : self.length] = self._k[:, :, : self.length]
                new_v[:, :, : self.length] = self._v[:, :, : self.length]
            self._k, self._v = new_k, new_v
        assert self._v is not None
        self._k[:, :, self.length : needed] = k
        self._v[:, :, self.length : needed] = v
        self.length = needed
        return self._k[:, :, :needed], self._v[:, :, :needed]

    def keys_values(self) -> tuple[Tensor, Tensor]:
        """The cached keys and values ``(B, H, length, dh)``."""
        if self._k is None or self._v is None:
            raise RuntimeError("The cache is empty.")
        return self._k[:, :, : self.length], self._v[:, :, : self.length]

    def reset(self) -> None:
        self.length = 0


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over ``n_heads`` heads, for self- or cross-attention.

    ``kv_dim`` is the width of the key/value source when it differs from the query width.
    ``forward(x)`` is self-attention, ``forward(x, memory)`` cross-attention; with a cache, the
    new keys/values are appended and the query attends to everything cached.
    """

    def __init__(self, d_model: int, n_heads: int, *, kv_dim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}.")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = float(dropout)
        self.q_proj = nn.Linear(d_model, d_model)
        self.kv_proj = nn.Linear(kv_dim or d_model, 2 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.n_heads, self.head_dim).transpose(1, 2)

    def project_kv(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values ``(B, H, L, dh)`` of ``source`` ``(B, L, kv_dim)``; cache them for static memories."""
        k, v = self.kv_proj(source).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def attend(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
        """Queries from ``x`` ``(B, Lq, d_model)`` attend to prepared ``k``/``v``; returns ``(B, Lq, d_model)``."""
        q = self._heads(self.q_proj(x))
        if mask is not None:
            if mask.dtype != torch.bool:
                raise TypeError("Attention masks are boolean (True = may attend).")
            if mask.dim() == 3:
                mask = mask.unsqueeze(1)
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.d_model))

    def forward(self, x: Tensor, memory: Tensor | None = None, *, mask: Tensor | None = None,
                cache: KVCache | None = None) -> Tensor:
        k, v = self.project_kv(x if memory is None else memory)
        if cache is not None:
            k, v = cache.append(k, v)
        return self.attend(x, k, v, mask)


def reference_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Plain softmax attention on ``(B, H, L, dh)`` tensors: the textbook formula the fused kernel must match."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def causal_mask(n: int, *, window: int = 0, device: torch.device | None = None) -> Tensor:
    """``(n, n)`` lower-triangular mask; with ``window > 0`` each query sees only its last ``window`` keys."""
    i = torch.arange(n, device=device)
    offset = i[:, None] - i[None, :]
    mask = offset >= 0
    if window > 0:
        mask &= offset < window
    return mask


def alignment_windows(n_motion_tokens: int, n_audio_frames: int, *, frames_per_token: float,
                      context: int = 0) -> tuple[Tensor, Tensor]:
    """Audio frames ``[start, end)`` each motion token may attend to (clipped to the audio).

    Token ``n`` spans audio frames ``j`` with ``n * f <= j < (n + 1) * f`` (``f`` frames per
    token), so the spans partition the audio; ``context`` frames are added either side.
    """
    n = torch.arange(n_motion_tokens, dtype=torch.float64)
    eps = 1e-9  # n * f lands a hair off an integer in floating point
    start = torch.ceil(n * frames_per_token - eps).long() - context
    end = torch.ceil((n + 1) * frames_per_token - eps).long() + context
    return start.clamp(0, n_audio_frames), end.clamp(0, n_audio_frames)


def alignment_mask(n_motion_tokens: int, n_audio_frames: int, *, frames_per_token: float,
                   context: int = 0) -> Tensor:
    """Seed 001 eq. 4's biased cross-attention mask: ``(tokens, audio frames)``, True = may attend.

    A motion token sees only the audio of its own time span (plus ``context``): dense audio-motion
    alignment is what unconstrained attention fails to learn (seed 001, section 5.2).
    """
    start, end = alignment_windows(n_motion_tokens, n_audio_frames, frames_per_token=frames_per_token,
                                   context=context)
    j = torch.arange(n_audio_frames)
    return (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])


def periodic_time_encoding(times: Tensor, dim: int, period: float) -> Tensor:
    """Fourier features of ``times`` (seconds) with harmonics of ``1 / period``: ``(..., dim)``.

    Periodic so any clip length maps onto values seen in training; shared by motion tokens and
    audio frames so dot products can express their time offset.
    """
    k = torch.arange(1, dim // 2 + 1, dtype=times.dtype, device=times.device)
    angle = (2.0 * math.pi / period) * times[..., None] * k
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


def index_encoding(n: int, dim: int, *, device: torch.device | None = None) -> Tensor:
    """Classic sinusoidal position encoding ``(n, dim)`` for positions inside a text."""
    pos = torch.arange(n, dtype=torch.float32, device=device)
    freq = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, device=device) / max(dim // 2, 1))
    angle = pos[:, None] * freq[None, :]
    return torch.cat([angle.sin(), angle.cos()], dim=-1)
