"""Small building blocks shared by the neural families (torch).

Kept generic on purpose: the pose family (seed 002) is the first user, MM2Face (seed 001) needs
the same pieces (a VQ codebook, a transformer with a KV cache, top-k sampling), so nothing here
knows about poses, faces or audio.

- :class:`PeriodicPositionalEncoding`: FaceFormer's PPE as used by seed 002's pose generator:
  sinusoids of ``position mod period``, so a model trained on short clips sees the same position
  codes on a 60 s take (no absolute position it could over-fit to).
- :class:`TransformerStack`: pre-norm self-attention blocks with an optional causal mask and an
  attention *window*; ``step`` runs one position against a :class:`KVCache` so autoregressive
  sampling costs O(T * window) instead of O(T^2 * window).
- :class:`VectorQuantizer`: VQ-VAE codebook with the straight-through estimator, returning the
  codebook and commitment losses separately (the trainer weighs them).
- :func:`sample_from_logits`: temperature + top-k sampling driven by caller-supplied uniforms, so
  a seeded run draws the same numbers whatever path computed the logits.
- :func:`resample_time`: linear resampling of a feature sequence between frame rates.
- :func:`intra_op_threads`: run a block of tiny ops (an autoregressive loop) on fewer threads.
- :func:`global_rows` / :func:`global_sum`: the whole batch's rows and sums when training runs as
  several DDP processes, so codebook statistics and restarts are those of the global batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

#: temperatures at or below this are treated as 0 (greedy arg-max decoding).
GREEDY_TEMPERATURE = 1e-6


class PeriodicPositionalEncoding(nn.Module):
    """Adds ``PE(t mod period)`` (sin/cos, FaceFormer-style) to a (B, T, dim) sequence.

    The table has only ``period`` rows and is rebuilt from the config, not stored in checkpoints.
    """

    def __init__(self, dim: int, period: int) -> None:
        super().__init__()
        if dim < 2 or period < 1:
            raise ValueError(f"PPE needs dim >= 2 and period >= 1, got dim={dim}, period={period}.")
        self.period = int(period)
        position = torch.arange(period, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
        table = torch.zeros(period, dim)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: dim // 2])
        self.register_buffer("table", table, persistent=False)

    def encoding(self, positions: torch.Tensor) -> torch.Tensor:
        """The code of each (integer) position: (..., dim)."""
        return self.table[torch.remainder(positions, self.period)]

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        positions = torch.arange(offset, offset + x.shape[1], device=x.device)
        return x + self.encoding(positions).to(x.dtype)


def window_mask(length: int, window: int | None, causal: bool,
                device: torch.device | None = None) -> torch.Tensor | None:
    """Boolean (length, length) attention mask, True = may attend; None when nothing is masked.

    Causal: query i sees keys i-window+1 .. i. Non-causal: keys within ``window`` on either side.
    """
    if not causal and (window is None or window >= length):
        return None
    i = torch.arange(length, device=device)
    offset = i[:, None] - i[None, :]  # query - key
    if causal:
        allowed = offset >= 0
        if window is not None:
            allowed &= offset < window
        return allowed
    return offset.abs() <= window


class KVCache:
    """Pre-allocated keys/values of every layer of a :class:`TransformerStack` for incremental decoding.

    It also holds each block's weights transposed to contiguous (in, out) copies, made once per
    decode: a one-row ``addmm`` on those is about twice as fast as ``nn.Linear`` on CPU, and the
    per-step cost is what a 1800-frame re-sample is made of.
    """

    def __init__(self, layers: int, batch: int, heads: int, length: int, head_dim: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        shape = (layers, batch, heads, length, head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.position = 0  # index of the next position to be written
        self.weights: list[dict[str, torch.Tensor]] = []

    @property
    def capacity(self) -> int:
        return int(self.keys.shape[3])


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection and a cached single-step path."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"Attention width {dim} is not divisible by {heads} heads.")
        self.heads, self.head_dim, self.dropout = heads, dim // heads, float(dropout)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self._split(x)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(LN(x)); x + MLP(LN(x)). Pre-norm trains without warm-up tricks."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(approximate="tanh"), nn.Linear(ff_dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask))
        return x + self.drop(self.ff(self.norm2(x)))

    def step_weights(self) -> dict[str, torch.Tensor]:
        """Detached weights for :meth:`step`, linear layers transposed to contiguous (in, out)."""
        linear = {"qkv": self.attn.qkv, "out": self.attn.out, "ff1": self.ff[0], "ff2": self.ff[2]}
        w = {f"{k}_w": m.weight.detach().t().contiguous() for k, m in linear.items()}
        w.update({f"{k}_b": m.bias.detach() for k, m in linear.items()})
        for name, norm in (("ln1", self.norm1), ("ln2", self.norm2)):
            w[f"{name}_w"], w[f"{name}_b"] = norm.weight.detach(), norm.bias.detach()
        return w

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, position: int,
             window: int | None, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """One new position x (B, dim) attending causally to the cached keys/values (written in place).

        The same maths as :meth:`forward` (inference only: no dropout), written with few ops.
        """
        b, d = x.shape
        heads, head_dim = self.attn.heads, self.attn.head_dim
        h = F.layer_norm(x, (d,), w["ln1_w"], w["ln1_b"], self.norm1.eps)
        qkv = torch.addmm(w["qkv_b"], h, w["qkv_w"]).view(b, 3, heads, head_dim)
        keys[:, :, position] = qkv[:, 1]
        values[:, :, position] = qkv[:, 2]
        lo = 0 if window is None else max(0, position - window + 1)
        y = F.scaled_dot_product_attention(qkv[:, 0, :, None], keys[:, :, lo : position + 1],
                                           values[:, :, lo : position + 1])
        x = x + torch.addmm(w["out_b"], y.reshape(b, d), w["out_w"])
        h = F.layer_norm(x, (d,), w["ln2_w"], w["ln2_b"], self.norm2.eps)
        h = F.gelu(torch.addmm(w["ff1_b"], h, w["ff1_w"]), approximate="tanh")
        return x + torch.addmm(w["ff2_b"], h, w["ff2_w"])


class TransformerStack(nn.Module):
    """``layers`` blocks + a final LayerNorm. ``window`` limits attention (tokens); None = unlimited.

    A window keeps long takes in the regime of the (short) training clips and bounds the cost of
    every sampling step; full and cached decoding see exactly the same keys.
    """

    def __init__(self, dim: int, layers: int, heads: int, ff_dim: int, *, causal: bool,
                 window: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"A transformer needs at least one layer, got {layers}.")
        self.causal, self.window, self.heads = causal, window, heads
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, ff_dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = window_mask(x.shape[1], self.window, self.causal, x.device)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def new_cache(self, batch: int, length: int, device: torch.device, dtype: torch.dtype) -> KVCache:
        if not self.causal:
            raise RuntimeError("Only a causal transformer can decode incrementally.")
        head_dim = self.blocks[0].attn.head_dim
        cache = KVCache(len(self.blocks), batch, self.heads, length, head_dim, device, dtype)
        cache.weights = [block.step_weights() for block in self.blocks]
        return cache

    def step(self, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Run the next position (B, dim); returns its output (B, dim) and advances the cache."""
        position = cache.position
        if position >= cache.capacity:
            raise RuntimeError(f"KV cache is full ({cache.capacity} positions).")
        for i, block in enumerate(self.blocks):
            x = block.step(x, cache.keys[i], cache.values[i], position, self.window, cache.weights[i])
        cache.position = position + 1
        return self.norm(x)


def _ddp_world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def global_rows(rows: torch.Tensor) -> torch.Tensor:
    """``rows`` (N, d) of every DDP rank, concatenated in rank order (this process's own when alone).

    Why: a codebook restart or usage count made from one rank's share of the batch would differ
    between ranks (their codebooks drift apart) and from a one-process run with the whole batch.
    The trainer gives rank r the r-th contiguous slice of each global batch, so rank order is
    batch order. Ranks may hold different row counts (padding differs): sizes are exchanged first.
    """
    world = _ddp_world()
    if world == 1:
        return rows
    count = torch.tensor([rows.shape[0]], device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    longest = int(max(c.item() for c in counts))
    padded = torch.zeros(longest, *rows.shape[1:], dtype=rows.dtype, device=rows.device)
    padded[:rows.shape[0]] = rows
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:int(c.item())] for p, c in zip(parts, counts, strict=True)])


def global_sum(value: torch.Tensor) -> torch.Tensor:
    """``value`` summed over DDP ranks (unchanged when alone)."""
    if _ddp_world() == 1:
        return value
    total = value.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total



class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the whole batch across DDP ranks.

    Why not ``nn.SyncBatchNorm``: it only runs on accelerators, and multi-process training is
    tested (and may run) on CPU with gloo. Alone, or in eval mode, this is exactly
    ``nn.BatchNorm1d`` (same parameters, buffers and state-dict keys). Under DDP the per-channel
    sums are all-reduced with autograd (``torch.distributed.nn``), so the normalisation, its
    gradient and the running statistics equal those of one process with the whole batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or _ddp_world() == 1:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0] + list(range(2, x.dim()))
        count = x.numel() / x.shape[1]
        stats = torch.cat([x.sum(dims), x.pow(2).sum(dims), x.new_tensor([count])])
        stats = all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean.pow(2)).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (n / (n - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.detach(), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

@dataclass
class Quantized:
    """What :class:`VectorQuantizer` returns.

    ``quantized`` has the codebook entries' values and the straight-through gradient (it passes
    d loss / d quantized on to the encoder output unchanged). ``codebook_loss`` = ||sg(z) - e||^2
    moves the codes, ``commitment_loss`` = ||z - sg(e)||^2 keeps the encoder near them.
    """

    quantized: torch.Tensor
    indices: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class VectorQuantizer(nn.Module):
    """Nearest-neighbour codebook (van den Oord et al. 2017), codes learned by gradient (no EMA).

    Codebook collapse (every latent snapping to one code) is the usual failure of a VQ-VAE, and
    it does happen here without care. In training mode the quantiser therefore keeps a running
    usage per code (``usage``, 1.0 = a uniform share; saved with the weights) and, before each
    batch, moves codes whose usage fell below ``dead_threshold`` onto random encoder outputs of
    that batch (Jukebox-style restarts). A fresh codebook has zero usage, so the first training
    batch initialises all codes from data. Eval mode never changes the codebook.
    """

    def __init__(self, num_codes: int, dim: int, *, usage_decay: float = 0.99, dead_threshold: float = 0.03) -> None:
        super().__init__()
        if num_codes < 2 or dim < 1:
            raise ValueError(f"A codebook needs >= 2 codes of dim >= 1, got {num_codes} x {dim}.")
        self.usage_decay, self.dead_threshold = float(usage_decay), float(dead_threshold)
        self.codebook = nn.Parameter(torch.randn(num_codes, dim) / math.sqrt(dim))
        self.register_buffer("usage", torch.zeros(num_codes))

    @property
    def num_codes(self) -> int:
        return int(self.codebook.shape[0])

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the closest code for each vector of z (..., dim)."""
        flat = z.reshape(-1, z.shape[-1])
        book = self.codebook.detach()
        dist = flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ book.t() + book.pow(2).sum(1)[None]
        return dist.argmin(1).view(z.shape[:-1])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.codebook)

    def forward(self, z: torch.Tensor) -> Quantized:
        if self.training and self.dead_threshold > 0:
            self.restart_dead_codes(z)
        indices = self.nearest(z.detach())
        if self.training:
            self._count(indices)
        e = self.lookup(indices)
        codebook_loss = F.mse_loss(e, z.detach())
        commitment_loss = F.mse_loss(z, e.detach())
        quantized = z + (e - z).detach()  # straight-through: forward = e, backward = identity
        return Quantized(quantized, indices, codebook_loss, commitment_loss)

    @torch.no_grad()
    def _count(self, indices: torch.Tensor) -> None:
        counts = global_sum(torch.bincount(indices.flatten(), minlength=self.num_codes).to(self.usage.dtype))
        share = counts * (self.num_codes / max(1.0, float(counts.sum())))
        self.usage.mul_(self.usage_decay).add_(share, alpha=1.0 - self.usage_decay)

    @torch.no_grad()
    def restart_dead_codes(self, z: torch.Tensor) -> int:
        """Move codes with usage below ``dead_threshold`` onto random rows of z (..., dim).

        Restarted codes get a usage of 1 (a grace period). Uses the global torch RNG, so a seeded
        trainer stays reproducible. Under DDP the rows are the global batch's (:func:`global_rows`)
        and every rank draws the same numbers, so all ranks restart the same codes the same way.
        Returns how many codes moved.
        """
        dead = (self.usage < self.dead_threshold).nonzero().flatten()
        if dead.numel() == 0:
            return 0
        flat = global_rows(z.detach().reshape(-1, z.shape[-1]))
        if flat.shape[0] == 0:
            return 0
        pick = torch.randint(flat.shape[0], (dead.numel(),), device=flat.device)
        jitter = 1e-3 * flat.std().clamp_min(1e-6) * torch.randn(dead.numel(), flat.shape[1], device=flat.device)
        self.codebook[dead] = (flat[pick] + jitter).to(self.codebook.dtype)
        self.usage[dead] = 1.0
        return int(dead.numel())


def sample_from_logits(logits: torch.Tensor, uniform: torch.Tensor, temperature: float = 1.0,
                       top_k: int | None = None) -> torch.Tensor:
    """Draw one index per row of ``logits`` (B, K) by inverse-CDF with the given uniforms (B,).

    ``temperature`` <= ``GREEDY_TEMPERATURE`` or ``top_k == 1`` is arg-max: deterministic whatever
    the uniforms. ``top_k`` keeps the k most likely entries (ties at the k-th value are kept too).
    """
    if temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}.")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}.")
    if temperature <= GREEDY_TEMPERATURE or top_k == 1:
        return logits.argmax(-1)
    scaled = logits.float() / temperature
    if top_k is not None and top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    cdf = scaled.softmax(-1).cumsum(-1)
    target = uniform.to(cdf)[:, None] * cdf[:, -1:]
    index = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    return index.clamp_max(logits.shape[-1] - 1)


def resample_time(x: torch.Tensor, src_rate: float, dst_rate: float, length: int) -> torch.Tensor:
    """Linearly resample (B, T, C) from ``src_rate`` to ``length`` frames at ``dst_rate``.

    Frame i covers [i, i+1) / rate, so centres are aligned; the ends are held (no extrapolation),
    so audio that is a little shorter than the animation still conditions every frame.
    """
    if x.shape[1] == 0:
        raise ValueError("Cannot resample an empty sequence.")
    centre = (torch.arange(length, device=x.device, dtype=torch.float64) + 0.5) * (src_rate / dst_rate) - 0.5
    centre = centre.clamp(0.0, x.shape[1] - 1)
    lo = centre.floor().long()
    hi = (lo + 1).clamp_max(x.shape[1] - 1)
    w = (centre - lo).to(x.dtype)[None, :, None]
    return x[:, lo] * (1.0 - w) + x[:, hi] * w


@contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, restoring the previous count after.

    Autoregressive decoding is a long chain of one-row ops: splitting them across threads buys
    nothing, while each OpenMP fork/join costs more than the op, and a second core that is busy
    (the GUI, audio capture) turns every join into a stall -- measured 5-20x slower with 2 threads
    on a loaded 2-core machine. Setting the count affects the calling thread's parallel regions.
    """
    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
