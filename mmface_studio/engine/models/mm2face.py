"""MM2Face (seed 001, section 4): text- and audio-conditioned facial motion as sampled motion tokens.

Two stages, one checkpoint (:class:`MM2Face` holds both):

1. :class:`~mmface_studio.engine.models.motion_vqvae.MotionVQVAE` compresses face + head-pose motion
   into one token per ``r = 4`` frames (section 4.1).
2. :class:`MM2FaceTransformer`, a decoder-only transformer, predicts the next motion token
   (section 4.2). Its inputs follow the fusion the seed's ablation (table 4) found best:

   - **full text in self-attention**: the concatenated fine-grained text is a prefix of the token
     sequence; text positions attend to each other fully, motion positions attend to the whole
     text and causally to earlier motion (a sliding window of ``self_window`` tokens, so a
     minute-long sample never leaves the context lengths seen in training on short clips);
   - **hierarchical text + audio in cross-attention**: each text level (action, emotion,
     expression, head pose, scenario) is a sequence of token embeddings tagged with a learnt level
     embedding; audio features follow. The **biased alignment mask** (eq. 4) lets the token that
     covers frames ``[4n, 4n+4)`` see only audio frames in that time span (plus ``audio_context_s``
     either side), because "self-attention is difficult to model the dense alignment between
     generated motion tokens and corresponding audio" (section 5.2). Text stays fully visible.

Audio is optional (benchmark II, text-to-facial-motion): without it the memory is text only. A
learnt null memory entry is always visible, so cross-attention is defined even with no text and
no audio. Sampling is stochastic from the predicted likelihoods ("diverse probabilistic facial
motion inference"), reproducible through a seeded ``torch.Generator``, with temperature and top-k;
self-attention keys/values are cached and cross-attention keys/values projected once, so each step
costs one position, not the whole history. Time is a periodic encoding (period ``time_period_s``)
shared by motion tokens and audio frames so that queries can find their frames inside the window.

Text comes as ``{level: (embeddings (B, L, text_dim), mask (B, L))}`` (all-MiniLM-L6-v2 token
embeddings by default); the key ``"full"`` gives the full text, else the levels are concatenated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmface_studio.engine.models.attention import (
    KVCache,
    MultiHeadAttention,
    alignment_mask,
    alignment_windows,
    causal_mask,
    index_encoding,
    periodic_time_encoding,
)
from mmface_studio.engine.models.base import (
    MODEL_SPACES,
    FamilyModel,
    ModelConfigError,
    face_dim,
    pose_dim,
    register_family,
)
from mmface_studio.engine.models.motion_vqvae import MotionVQVAE, vqvae_loss

#: MMHead's hierarchical text levels (seed 001, section 3.2), in the order they enter the memory.
TEXT_LEVELS: tuple[str, ...] = ("action", "emotion", "expression", "head_pose", "scenario")
#: Key of the optional full (concatenated) text in the text mapping.
FULL_TEXT = "full"

TextInput = Mapping[str, tuple[Tensor, "Tensor | None"]]


@dataclass(frozen=True)
class MM2FaceConfig:
    """Sizes of both stages; JSON-able so a checkpoint rebuilds the model without pickles."""

    space: str = "arkit52"
    fps: float = 30.0
    audio_dim: int = 80  # 80-band log-mel; 768 for wav2vec2
    audio_rate: float = 100.0  # audio feature frames per second (50 for wav2vec2)
    text_dim: int = 384  # all-MiniLM-L6-v2 token embeddings
    text_levels: tuple[str, ...] = TEXT_LEVELS
    downsample: int = 4  # r, frames per motion token (seed 001: r = 4)
    codebook_size: int = 512
    code_dim: int = 64
    vq_width: int = 112
    vq_res_blocks: int = 2
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.1
    audio_stride: int = 2  # audio frames merged by the audio encoder (100 Hz mel -> 50 Hz memory)
    audio_context_s: float = 0.1  # extra audio visible either side of a token's own time span
    self_window: int = 30  # motion tokens visible to self-attention (0 = all); 30 tokens = 4 s
    time_period_s: float = 4.0  # period of the time encoding; >= the self window keeps order unambiguous

    def __post_init__(self) -> None:
        if self.space not in MODEL_SPACES:
            raise ModelConfigError(f"Unknown model space {self.space!r}; use one of {', '.join(MODEL_SPACES)}.")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ModelConfigError("d_model must split into n_heads heads of even width.")
        if self.downsample < 1 or self.downsample & (self.downsample - 1):
            raise ModelConfigError(f"downsample must be a power of two, got {self.downsample}.")
        if len(set(self.text_levels)) != len(self.text_levels) or FULL_TEXT in self.text_levels:
            raise ModelConfigError(f"text_levels must be distinct and must not contain {FULL_TEXT!r}.")
        if min(self.fps, self.audio_rate, self.time_period_s) <= 0 or self.audio_stride < 1:
            raise ModelConfigError("fps, audio_rate, time_period_s and audio_stride must be positive.")

    @classmethod
    def tiny(cls, **overrides: object) -> MM2FaceConfig:
        """A ~50k-parameter model for tests (dropout off, so training-mode logits are deterministic)."""
        small = cls(text_dim=16, audio_dim=8, codebook_size=32, code_dim=16, vq_width=16, vq_res_blocks=1,
                    d_model=32, n_heads=2, n_layers=2, d_ff=64, dropout=0.0, self_window=8)
        return replace(small, **overrides)  # type: ignore[arg-type]

    @property
    def motion_dim(self) -> int:
        """Face rows then head-pose rows of ``space`` (MM2Face predicts both)."""
        return face_dim(self.space) + pose_dim(self.space)

    @property
    def audio_frames_per_token(self) -> float:
        """Audio-memory frames (after the encoder's stride) per motion token."""
        return self.downsample / self.fps * self.audio_rate / self.audio_stride

    @property
    def audio_context_frames(self) -> int:
        return int(round(self.audio_context_s * self.audio_rate / self.audio_stride))


def token_cross_entropy(logits: Tensor, tokens: Tensor, mask: Tensor | None = None, *,
                        label_smoothing: float = 0.0) -> Tensor:
    """Seed 001 eq. 5 (teacher forcing): mean negative log-likelihood of ``tokens`` ``(B, N)``.

    ``mask`` ``(B, N)`` marks real tokens of padded batches.
    """
    nll = F.cross_entropy(logits.transpose(1, 2).float(), tokens, reduction="none", label_smoothing=label_smoothing)
    if mask is None:
        return nll.mean()
    m = mask.to(nll.dtype)
    return (nll * m).sum() / m.sum().clamp_min(1.0)


@dataclass
class _Context:
    """Conditioning prepared once per request: self-attention text prefix and cross-attention memory."""

    prefix: Tensor  # (B, Lf, d) full-text embeddings
    prefix_valid: Tensor  # (B, Lf)
    memory_text: Tensor  # (B, 1 + Lh, d) null entry + hierarchical text
    memory_text_valid: Tensor  # (B, 1 + Lh)
    memory_audio: Tensor | None  # (B, Ta, d) at audio_rate / audio_stride
    audio_valid: Tensor | None  # (B, Ta)

    @property
    def batch(self) -> int:
        return self.prefix.shape[0]

    @property
    def n_audio(self) -> int:
        return 0 if self.memory_audio is None else self.memory_audio.shape[1]


class _DecoderLayer(nn.Module):
    """Pre-norm decoder layer: self-attention, cross-attention, feed-forward (seed 001, section 4.2)."""

    def __init__(self, d: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(d)
        self.self_attn = MultiHeadAttention(d, heads, dropout=dropout)
        self.norm_cross = nn.LayerNorm(d)
        self.cross_attn = MultiHeadAttention(d, heads, dropout=dropout)
        self.norm_ff = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, self_mask: Tensor, cross_kv: tuple[Tensor, Tensor], cross_mask: Tensor,
                cache: KVCache | None = None) -> Tensor:
        x = x + self.drop(self.self_attn(self.norm_self(x), mask=self_mask, cache=cache))
        x = x + self.drop(self.cross_attn.attend(self.norm_cross(x), *cross_kv, mask=cross_mask))
        return x + self.drop(self.ff(self.norm_ff(x)))

    def step_weights(self) -> tuple[Tensor, Tensor]:
        """The self-attention's query and key/value projections fused into one (weight, bias)."""
        sa = self.self_attn
        return (torch.cat([sa.q_proj.weight, sa.kv_proj.weight]), torch.cat([sa.q_proj.bias, sa.kv_proj.bias]))

    def step(self, x: Tensor, self_mask: Tensor, cross_kv: tuple[Tensor, Tensor], cross_mask: Tensor,
             cache: KVCache, qkv: tuple[Tensor, Tensor]) -> Tensor:
        """:meth:`forward` for one new position in eval mode, written with few ops.

        Why: sampling a minute runs this ~450 times per layer, and there the cost is per-op
        overhead (module calls, no-op dropouts, separate q and kv projections), not arithmetic.
        ``qkv`` is :meth:`step_weights` (computed once per sample). Equal to :meth:`forward` to
        float rounding (tested through the cached vs uncached sampling test).
        """
        sa, ca = self.self_attn, self.cross_attn
        b, d, heads = x.shape[0], sa.d_model, sa.n_heads

        def split(t: Tensor) -> Tensor:
            return t.view(b, 1, heads, d // heads).transpose(1, 2)

        def norm(t: Tensor, ln: nn.LayerNorm) -> Tensor:
            return F.layer_norm(t, ln.normalized_shape, ln.weight, ln.bias, ln.eps)

        q, k, v = F.linear(norm(x, self.norm_self), *qkv).split(d, dim=-1)
        keys, values = cache.append(split(k), split(v))
        out = F.scaled_dot_product_attention(split(q), keys, values, attn_mask=self_mask.unsqueeze(1))
        x = x + F.linear(out.transpose(1, 2).reshape(b, 1, d), sa.out_proj.weight, sa.out_proj.bias)
        q = split(F.linear(norm(x, self.norm_cross), ca.q_proj.weight, ca.q_proj.bias))
        out = F.scaled_dot_product_attention(q, *cross_kv, attn_mask=cross_mask.unsqueeze(1))
        x = x + F.linear(out.transpose(1, 2).reshape(b, 1, d), ca.out_proj.weight, ca.out_proj.bias)
        up, down = self.ff[0], self.ff[2]
        hidden = F.gelu(F.linear(norm(x, self.norm_ff), up.weight, up.bias))
        return x + F.linear(hidden, down.weight, down.bias)


class MM2FaceTransformer(nn.Module):
    """Stage II: next-motion-token model over full-text prefix, hierarchical text and audio."""

    def __init__(self, config: MM2FaceConfig) -> None:
        super().__init__()
        c = self.config = config
        d = c.d_model
        self.full_proj = nn.Linear(c.text_dim, d)  # T_full
        self.level_proj = nn.Linear(c.text_dim, d)  # T_h1..h5 share it; the level embedding tells them apart
        self.level_emb = nn.Parameter(torch.randn(len(c.text_levels), d) * 0.02)
        self.text_type = nn.Parameter(torch.randn(d) * 0.02)
        self.null_memory = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        s = c.audio_stride
        self.audio_encoder = nn.Sequential(  # local convolutions keep each memory frame tied to its time
            nn.Conv1d(c.audio_dim, d, 2 * s + 1, stride=s, padding=s), nn.GELU(),
            nn.Conv1d(d, d, 3, padding=1), nn.GELU())
        self.memory_norm = nn.LayerNorm(d)
        self.bos = nn.Parameter(torch.randn(d) * 0.02)
        self.token_emb = nn.Embedding(c.codebook_size, d)
        self.layers = nn.ModuleList(_DecoderLayer(d, c.n_heads, c.d_ff, c.dropout) for _ in range(c.n_layers))
        self.out_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.codebook_size)

    # --- conditioning -------------------------------------------------------------------------

    def _param(self) -> Tensor:
        return self.head.weight

    def condition(self, text: TextInput | None, audio_feats: Tensor | None, *, audio_mask: Tensor | None = None,
                  batch: int | None = None) -> _Context:
        """Project text and audio into the prefix and the memory (once per request)."""
        c, w = self.config, self._param()
        text = dict(text or {})
        unknown = sorted(set(text) - set(c.text_levels) - {FULL_TEXT})
        if unknown:
            raise ValueError(f"Unknown text level(s) {', '.join(unknown)}; use {', '.join(c.text_levels)} "
                             f"or {FULL_TEXT!r}.")
        sizes = {t[0].shape[0] for t in text.values()} | ({audio_feats.shape[0]} if audio_feats is not None else set())
        if batch is not None:
            sizes.add(batch)
        if len(sizes) > 1:
            raise ValueError(f"Text and audio disagree on the batch size: {sorted(sizes)}.")
        b = sizes.pop() if sizes else 1
        parts = {k: self._text_part(k, v) for k, v in text.items()}
        levels = [(i, parts[k]) for i, k in enumerate(c.text_levels) if k in parts]
        if FULL_TEXT in parts:
            full, full_valid = parts[FULL_TEXT]
        elif levels:
            full = torch.cat([e for _, (e, _) in levels], dim=1)
            full_valid = torch.cat([m for _, (_, m) in levels], dim=1)
            # Each level arrives padded to the batch's longest; move every row's real tokens to the
            # front (in order) so a token's index encoding is the same as when the text comes
            # alone (inference, batch 1) and does not depend on the other examples' lengths.
            order = torch.sort((~full_valid).to(torch.uint8), dim=1, stable=True).indices
            full = torch.gather(full, 1, order[..., None].expand_as(full))
            full_valid = torch.gather(full_valid, 1, order)
        else:
            full, full_valid = w.new_zeros(b, 0, c.text_dim), torch.zeros(b, 0, dtype=torch.bool, device=w.device)
        prefix = self.full_proj(full) + self.text_type + index_encoding(full.shape[1], c.d_model, device=w.device)
        mem = [self.null_memory.expand(b, 1, -1)]
        mem_valid = [torch.ones(b, 1, dtype=torch.bool, device=w.device)]
        for i, (e, m) in levels:
            mem.append(self.level_proj(e) + self.level_emb[i] + index_encoding(e.shape[1], c.d_model, device=w.device))
            mem_valid.append(m)
        memory_text = self.memory_norm(torch.cat(mem, dim=1))
        memory_audio = audio_valid = None
        if audio_feats is not None and audio_feats.shape[1] > 0:
            if audio_feats.dim() != 3 or audio_feats.shape[2] != c.audio_dim:
                raise ValueError(f"Audio features must be (B, T, {c.audio_dim}), got {tuple(audio_feats.shape)}.")
            a = self.audio_encoder(audio_feats.to(w).transpose(1, 2)).transpose(1, 2)
            times = torch.arange(a.shape[1], device=w.device, dtype=w.dtype) * (c.audio_stride / c.audio_rate)
            memory_audio = self.memory_norm(a + periodic_time_encoding(times, c.d_model, c.time_period_s))
            if audio_mask is None:
                audio_valid = torch.ones(b, a.shape[1], dtype=torch.bool, device=w.device)
            else:  # a memory frame is real when the first input frame it starts at is
                audio_valid = audio_mask.to(w.device, torch.bool)[:, :: c.audio_stride][:, : a.shape[1]]
        return _Context(prefix, full_valid, memory_text, torch.cat(mem_valid, dim=1), memory_audio, audio_valid)

    def _text_part(self, key: str, value: tuple[Tensor, Tensor | None]) -> tuple[Tensor, Tensor]:
        emb, mask = value
        w = self._param()
        if emb.dim() != 3 or emb.shape[2] != self.config.text_dim:
            raise ValueError(f"Text {key!r} must be (B, L, {self.config.text_dim}), got {tuple(emb.shape)}.")
        if mask is None:
            mask = torch.ones(emb.shape[:2], dtype=torch.bool)
        if tuple(mask.shape) != tuple(emb.shape[:2]):
            raise ValueError(f"Text {key!r}: mask {tuple(mask.shape)} does not match {tuple(emb.shape[:2])}.")
        return emb.to(w), mask.to(w.device, torch.bool)

    # --- masks --------------------------------------------------------------------------------

    def self_mask(self, prefix_valid: Tensor, n_tokens: int) -> Tensor:
        """``(B, Lf + N, Lf + N)``: text rows see all text (and themselves, so padding rows stay finite);
        motion rows see the real text, the start token and the last ``self_window`` motion positions."""
        b, lf = prefix_valid.shape
        dev = prefix_valid.device
        mask = torch.zeros(b, lf + n_tokens, lf + n_tokens, dtype=torch.bool, device=dev)
        mask[:, :lf, :lf] = prefix_valid[:, None, :] | torch.eye(lf, dtype=torch.bool, device=dev)
        mask[:, lf:, :lf] = prefix_valid[:, None, :]
        motion = causal_mask(n_tokens, window=self.config.self_window, device=dev)
        motion[:, 0] = True  # the start token stays visible (an anchor for windows far into the clip)
        mask[:, lf:, lf:] = motion
        return mask

    def cross_mask(self, ctx: _Context, n_tokens: int) -> Tensor:
        """``(B, Lf + N, 1 + Lh + Ta)``: text always visible; audio only in each token's aligned window."""
        lf = ctx.prefix.shape[1]
        rows = lf + n_tokens
        text = ctx.memory_text_valid[:, None, :].expand(-1, rows, -1)
        if ctx.memory_audio is None or ctx.audio_valid is None:
            return text
        c = self.config
        audio = torch.zeros(ctx.batch, rows, ctx.n_audio, dtype=torch.bool, device=text.device)
        align = alignment_mask(n_tokens, ctx.n_audio, frames_per_token=c.audio_frames_per_token,
                               context=c.audio_context_frames).to(text.device)
        audio[:, lf:] = align[None] & ctx.audio_valid[:, None, :]
        return torch.cat([text, audio], dim=2)

    # --- teacher forcing ----------------------------------------------------------------------

    def token_time_encoding(self, n_tokens: int) -> Tensor:
        """``(n_tokens, d)`` encodings of each token's time (the centre of its ``r`` frames)."""
        c, w = self.config, self._param()
        n = torch.arange(n_tokens, device=w.device, dtype=w.dtype)
        return periodic_time_encoding((n * c.downsample + (c.downsample - 1) / 2) / c.fps, c.d_model, c.time_period_s)

    def _motion_inputs(self, tokens: Tensor) -> Tensor:
        """Inputs of the rows predicting tokens ``0..N``: the start token, then tokens ``0..N-1``."""
        prev = torch.cat([self.bos.expand(tokens.shape[0], 1, -1), self.token_emb(tokens)], dim=1)
        return prev + self.token_time_encoding(prev.shape[1])

    def logits(self, ctx: _Context, tokens: Tensor) -> Tensor:
        """Logits ``(B, N, K)`` for every position of ``tokens`` ``(B, N)`` at once (no cache)."""
        n = tokens.shape[1]
        lf = ctx.prefix.shape[1]
        x = torch.cat([ctx.prefix, self._motion_inputs(tokens[:, : n - 1])], dim=1)
        memory = ctx.memory_text if ctx.memory_audio is None else torch.cat([ctx.memory_text, ctx.memory_audio], 1)
        self_mask, cross_mask = self.self_mask(ctx.prefix_valid, n), self.cross_mask(ctx, n)
        for layer in self.layers:
            x = layer(x, self_mask, layer.cross_attn.project_kv(memory), cross_mask)
        return self.head(self.out_norm(x[:, lf:]))

    # --- sampling -----------------------------------------------------------------------------

    def generate(self, ctx: _Context, n_tokens: int, generator: torch.Generator, *, temperature: float = 1.0,
                 top_k: int | None = None, return_logits: bool = False) -> tuple[Tensor, Tensor | None]:
        """Sample ``n_tokens`` tokens autoregressively with cached keys/values; logits too if asked.

        Same arithmetic as :meth:`logits`, one row at a time: self-attention keys/values go to a
        :class:`KVCache`; cross-attention keys/values are projected once, and each step attends to
        the text plus only its own audio window (copied into a fixed slot in front of the text),
        which is what the alignment mask allows anyway.
        """
        c, b, lf = self.config, ctx.batch, ctx.prefix.shape[1]
        caches = [KVCache(lf + n_tokens) for _ in self.layers]
        self_mask = self.self_mask(ctx.prefix_valid, n_tokens)
        text_kv = [layer.cross_attn.project_kv(ctx.memory_text) for layer in self.layers]
        text_valid = ctx.memory_text_valid[:, None, :]
        if lf:  # the full-text prefix does not depend on motion: run it once, keep its keys/values
            x = ctx.prefix
            for layer, cache, kv in zip(self.layers, caches, text_kv, strict=True):
                x = layer(x, self_mask[:, :lf, :lf], kv, text_valid, cache=cache)
        kvs, cmask = text_kv, text_valid
        audio_kv: list[tuple[Tensor, Tensor]] = []
        if ctx.memory_audio is not None and ctx.audio_valid is not None:
            audio_kv = [layer.cross_attn.project_kv(ctx.memory_audio) for layer in self.layers]
            starts, ends = alignment_windows(n_tokens, ctx.n_audio, frames_per_token=c.audio_frames_per_token,
                                             context=c.audio_context_frames)
            slot = int((ends - starts).max()) if n_tokens else 0
            kvs = []
            for tk, tv in text_kv:  # [audio slot | text]; stale slot entries stay finite and masked
                kbuf = tk.new_zeros(b, tk.shape[1], slot + tk.shape[2], tk.shape[3])
                vbuf = torch.zeros_like(kbuf)
                kbuf[:, :, slot:], vbuf[:, :, slot:] = tk, tv
                kvs.append((kbuf, vbuf))
            cmask = torch.zeros(b, 1, slot + text_valid.shape[2], dtype=torch.bool, device=text_valid.device)
            cmask[:, :, slot:] = text_valid
        times = self.token_time_encoding(n_tokens)
        tokens = torch.zeros(b, n_tokens, dtype=torch.long, device=ctx.prefix.device)
        all_logits = [] if return_logits else None
        x = self.bos.expand(b, 1, -1)
        fused = [layer.step_weights() for layer in self.layers]
        with _one_cpu_thread(ctx.prefix.device):
            for n in range(n_tokens):
                if n:
                    x = self.token_emb(tokens[:, n - 1 : n])
                x = x + times[n]
                row = self_mask[:, lf + n : lf + n + 1, : lf + n + 1]
                if audio_kv and ctx.audio_valid is not None:
                    a0, a1 = int(starts[n]), int(ends[n])
                    for (kbuf, vbuf), (ak, av) in zip(kvs, audio_kv, strict=True):
                        kbuf[:, :, : a1 - a0] = ak[:, :, a0:a1]
                        vbuf[:, :, : a1 - a0] = av[:, :, a0:a1]
                    cmask[:, 0, : a1 - a0] = ctx.audio_valid[:, a0:a1]
                    cmask[:, 0, a1 - a0 : slot] = False
                for layer, cache, kv, qkv in zip(self.layers, caches, kvs, fused, strict=True):
                    x = layer.step(x, row, kv, cmask, cache, qkv)
                step = self.head(self.out_norm(x[:, 0]))
                tokens[:, n] = pick_token(step, generator, temperature=temperature, top_k=top_k)
                if all_logits is not None:
                    all_logits.append(step)
        return tokens, (torch.stack(all_logits, dim=1) if all_logits is not None else None)


def pick_token(logits: Tensor, generator: torch.Generator | None, *, temperature: float = 1.0,
               top_k: int | None = None) -> Tensor:
    """Draw one token per row of ``logits`` ``(B, K)``: temperature, then top-k; ``temperature <= 0`` is argmax."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    # inverse-CDF draw: one uniform per row (cheaper per step than torch.multinomial on CPU)
    cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_max(cdf.shape[-1] - 1)


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run the token loop on one CPU thread: its matrices are too small to split, and a second
    intra-op thread only adds a barrier per op, which stalls badly whenever the other core is busy
    (measured: 2 threads were 10x slower than 1 on a loaded 2-core machine). Restored afterwards."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    was = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was)


@register_family
class MM2Face(FamilyModel):
    """The MM2Face family: motion VQ-VAE (stage I) + token transformer (stage II) in one checkpoint.

    Output rows: face channels then head-pose channels of ``config.space``.
    """

    family = "mm2face"
    config_class = MM2FaceConfig

    def __init__(self, config: MM2FaceConfig | None = None) -> None:
        super().__init__(config if config is not None else MM2FaceConfig())
        c: MM2FaceConfig = self.config
        self.vqvae = MotionVQVAE(c.motion_dim, downsample=c.downsample, width=c.vq_width, code_dim=c.code_dim,
                                 n_codes=c.codebook_size, res_blocks=c.vq_res_blocks)
        self.transformer = MM2FaceTransformer(c)

    @property
    def motion_dim(self) -> int:
        return self.config.motion_dim

    def n_tokens(self, n_frames: int) -> int:
        return self.vqvae.n_tokens(n_frames)

    # --- training -----------------------------------------------------------------------------

    def forward(self, tokens: Tensor, text: TextInput | None, audio_feats: Tensor | None = None, *,
                audio_mask: Tensor | None = None) -> Tensor:
        """Teacher-forced logits ``(B, N, codebook_size)``; position ``n`` predicts ``tokens[:, n]``."""
        ctx = self.transformer.condition(text, audio_feats, audio_mask=audio_mask, batch=tokens.shape[0])
        return self.transformer.logits(ctx, tokens.to(self.device))

    def tokenize(self, motion: Tensor) -> Tensor:
        """Motion ``(B, T, motion_dim)`` -> tokens ``(B, ceil(T / 4))`` (stage I encoder + quantiser)."""
        return self.vqvae.encode(motion)

    def decode_tokens(self, tokens: Tensor, n_frames: int | None = None) -> Tensor:
        return self.vqvae.decode(tokens, n_frames)

    def vqvae_loss(self, motion: Tensor, *, mask: Tensor | None = None, alpha: float = 0.5,
                   beta: float = 1.0) -> dict[str, Tensor]:
        """Stage I losses (seed eq. 2-3) of one batch; see :func:`motion_vqvae.vqvae_loss`."""
        return vqvae_loss(self.vqvae(motion), mask=mask, alpha=alpha, beta=beta)

    def token_loss(self, tokens: Tensor, text: TextInput | None, audio_feats: Tensor | None = None, *,
                   audio_mask: Tensor | None = None, token_mask: Tensor | None = None,
                   label_smoothing: float = 0.0) -> Tensor:
        """Stage II loss (seed eq. 5): cross-entropy of teacher-forced next-token predictions."""
        logits = self(tokens, text, audio_feats, audio_mask=audio_mask)
        return token_cross_entropy(logits, tokens.to(logits.device), token_mask, label_smoothing=label_smoothing)

    # --- inference ----------------------------------------------------------------------------

    def sample_tokens(self, text: TextInput | None, audio_feats: Tensor | None, n_tokens: int, *, seed: int,
                      temperature: float = 1.0, top_k: int | None = None, audio_mask: Tensor | None = None,
                      use_cache: bool = True, return_logits: bool = False) -> tuple[Tensor, Tensor | None]:
        """Sample motion tokens ``(B, n_tokens)`` (and their step logits when ``return_logits``).

        ``use_cache=False`` re-runs the whole sequence at every step: the slow reference the cached
        path is tested against.
        """
        if n_tokens < 1:
            raise ValueError("n_tokens must be at least 1.")
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed))
        with _eval_mode(self), torch.inference_mode():  # inference mode: less per-op bookkeeping per step
            ctx = self.transformer.condition(text, audio_feats, audio_mask=audio_mask)
            if use_cache:
                tokens, logits = self.transformer.generate(ctx, n_tokens, gen, temperature=temperature,
                                                           top_k=top_k, return_logits=return_logits)
            else:
                tokens = torch.zeros(ctx.batch, n_tokens, dtype=torch.long, device=self.device)
                steps = []
                for n in range(n_tokens):
                    step = self.transformer.logits(ctx, tokens[:, : n + 1])[:, -1]
                    tokens[:, n] = pick_token(step, gen, temperature=temperature, top_k=top_k)
                    steps.append(step)
                logits = torch.stack(steps, dim=1) if return_logits else None
        # clones made outside inference mode are ordinary tensors callers may use with autograd
        return tokens.clone(), (None if logits is None else logits.clone())

    def sample(self, text: TextInput | None, audio_feats: Tensor | None, n_frames: int, *, seed: int,
               temperature: float = 1.0, top_k: int | None = None,
               audio_mask: Tensor | None = None) -> Tensor:
        """A facial performance ``(B, n_frames, motion_dim)``: face rows then head pose, physical units.

        Without audio this is text-to-facial-motion (seed 001 benchmark II). The same ``seed`` gives
        the same motion; another seed another plausible one.
        """
        if n_frames < 1:
            raise ValueError("n_frames must be at least 1.")
        tokens, _ = self.sample_tokens(text, audio_feats, self.n_tokens(n_frames), seed=seed,
                                       temperature=temperature, top_k=top_k, audio_mask=audio_mask)
        with _eval_mode(self), torch.inference_mode():
            motion = self.vqvae.decode(tokens, n_frames)
        return motion.clone()
