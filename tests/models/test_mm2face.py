"""MM2Face (seed 001): VQ-VAE tokenizer, biased alignment mask, text/audio conditioning, seeded cached sampling."""

from __future__ import annotations

import pytest
import torch

from mmface_studio.engine.models.base import ModelConfigError, families
from mmface_studio.engine.models.mm2face import (
    MM2Face,
    MM2FaceConfig,
    alignment_mask,
    alignment_windows,
    pick_token,
    token_cross_entropy,
)
from mmface_studio.engine.models.motion_vqvae import MotionVQVAE, vqvae_loss

TEXT_DIM, AUDIO_DIM = 16, 8


def _model(**overrides: object) -> MM2Face:
    torch.manual_seed(0)
    return MM2Face(MM2FaceConfig.tiny(**overrides)).eval()


def _text(batch: int = 2, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, 5, dtype=torch.bool)
    mask[0, 3:] = False  # padding in the first item
    return {
        "action": (torch.randn(batch, 5, TEXT_DIM, generator=g), mask),
        "emotion": (torch.randn(batch, 3, TEXT_DIM, generator=g), None),
        "head_pose": (torch.randn(batch, 4, TEXT_DIM, generator=g), None),
    }


def _audio(batch: int = 2, frames: int = 120, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, frames, AUDIO_DIM, generator=torch.Generator().manual_seed(seed))


# --- configuration and family contract ----------------------------------------------------------


def test_registered_family_and_config_round_trip() -> None:
    assert families()["mm2face"] is MM2Face
    model = _model(space="flame56")
    rebuilt = MM2Face.from_config_dict(model.config_dict())
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    a = model.sample(_text(), _audio(), 20, seed=3)
    torch.testing.assert_close(rebuilt.eval().sample(_text(), _audio(), 20, seed=3), a)
    with pytest.raises(ModelConfigError):
        MM2FaceConfig(space="rgb")
    with pytest.raises(ModelConfigError):
        MM2FaceConfig(downsample=3)


def test_default_config_fits_checkpoint_budget() -> None:
    model = MM2Face()
    assert model.config.downsample == 4
    assert model.parameter_count() * 4 <= 20_000_000


# --- stage I: motion VQ-VAE ---------------------------------------------------------------------


@pytest.mark.parametrize(("space", "dim"), [("arkit52", 55), ("flame56", 56)])
@pytest.mark.parametrize("frames", [16, 17, 30])
def test_vqvae_downsamples_by_four_and_restores_length(space: str, dim: int, frames: int) -> None:
    model = _model(space=space)
    motion = torch.randn(2, frames, dim)
    tokens = model.tokenize(motion)
    assert tokens.shape == (2, -(-frames // 4)) and tokens.dtype == torch.long
    assert model.decode_tokens(tokens, frames).shape == (2, frames, dim)
    assert model.decode_tokens(tokens).shape == (2, 4 * tokens.shape[1], dim)


def test_vqvae_losses_train_every_part() -> None:
    model = _model().train()
    motion = torch.randn(2, 24, model.motion_dim)
    losses = model.vqvae_loss(motion, alpha=0.5, beta=1.0)
    assert set(losses) == {"total", "recon", "velocity", "commit", "codebook"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    vq = model.vqvae
    for p in (vq.encoder[0].weight, vq.decoder[-1].weight, vq.quantiser.codebook):
        assert p.grad is not None and p.grad.abs().sum() > 0
    out = vq(motion)
    full = vqvae_loss(out, mask=torch.ones(2, 24, dtype=torch.bool))
    torch.testing.assert_close(full["total"], vqvae_loss(out)["total"])
    masked = vqvae_loss(out, mask=torch.arange(24).expand(2, 24) < 10)
    assert not torch.allclose(masked["recon"], full["recon"])


def test_vqvae_normalisation_and_code_revival() -> None:
    vq = MotionVQVAE(5, width=8, code_dim=4, n_codes=16, res_blocks=1)
    vq.set_normalization(torch.arange(5.0), torch.tensor([1.0, 2.0, 0.0, 4.0, 5.0]))
    assert vq.std[2] > 0  # constant channel floored
    x = torch.randn(1, 8, 5)
    torch.testing.assert_close(vq.denormalize(vq.normalize(x)), x)
    out = vq(x)
    moved = vq.revive_codes(out.z, out.tokens, generator=torch.Generator().manual_seed(0))
    assert 0 < moved <= 16
    with pytest.raises(ValueError):
        MotionVQVAE(5, downsample=6)


# --- biased alignment mask ----------------------------------------------------------------------


def test_alignment_mask_exact_values() -> None:
    mask = alignment_mask(4, 12, frames_per_token=2.5, context=1).int().tolist()
    assert mask == [
        [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0],  # token 0 owns frames 0-2, +1 context
        [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],  # token 1 owns 3-4
        [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0],  # token 2 owns 5-7
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0],  # token 3 owns 8-9
    ]
    # Without context the windows partition the audio; tokens past its end see no audio.
    plain = alignment_mask(5, 7, frames_per_token=2.0)
    assert plain.sum(0).tolist() == [1] * 7
    assert plain.sum(1).tolist() == [2, 2, 2, 1, 0]
    start, end = alignment_windows(3, 100, frames_per_token=20 / 3)  # 4 frames at 30 fps, 50 Hz memory
    assert start.tolist() == [0, 7, 14] and end.tolist() == [7, 14, 20]


def test_model_cross_mask_uses_alignment() -> None:
    model = _model()
    cfg = model.config
    assert cfg.audio_frames_per_token == pytest.approx(4 / 30 * 50)
    ctx = model.transformer.condition(_text(), _audio())
    cross = model.transformer.cross_mask(ctx, 6)
    lf, mt = ctx.prefix.shape[1], ctx.memory_text.shape[1]
    expected = alignment_mask(6, ctx.n_audio, frames_per_token=cfg.audio_frames_per_token,
                              context=cfg.audio_context_frames)
    assert torch.equal(cross[0, lf:, mt:], expected)
    assert not cross[:, :lf, mt:].any()  # text rows see no audio
    assert torch.equal(cross[0, lf:, :mt], ctx.memory_text_valid[0].expand(6, -1))


def test_audio_outside_the_window_cannot_influence_earlier_tokens() -> None:
    model = _model()
    text, audio = _text(), _audio(frames=160)
    tokens = torch.randint(0, model.config.codebook_size, (2, 10))
    base = model(tokens, text, audio)
    cfg = model.config
    n = 4
    _, end = alignment_windows(10, 80, frames_per_token=cfg.audio_frames_per_token, context=cfg.audio_context_frames)
    # memory frame j (stride 2, kernels 5 then 3) reads input frames 2j-4 .. 2j+4
    first_unseen = 2 * int(end[n]) + 4
    perturbed = audio.clone()
    perturbed[:, first_unseen:] += 10.0 * torch.randn_like(perturbed[:, first_unseen:])
    moved = model(tokens, text, perturbed)
    torch.testing.assert_close(moved[:, : n + 1], base[:, : n + 1])
    assert not torch.allclose(moved[:, n + 1 :], base[:, n + 1 :])


# --- stage II: conditioning ---------------------------------------------------------------------


@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_forward_backward_shapes(space: str) -> None:
    model = _model(space=space).train()
    tokens = torch.randint(0, 32, (2, 7))
    logits = model(tokens, _text(), _audio())
    assert logits.shape == (2, 7, 32)
    loss = model.token_loss(tokens, _text(), _audio(), token_mask=torch.ones(2, 7, dtype=torch.bool))
    torch.testing.assert_close(loss, token_cross_entropy(logits, tokens), rtol=1e-4, atol=1e-4)  # dropout is 0
    loss.backward()
    tr = model.transformer
    for p in (tr.full_proj.weight, tr.level_proj.weight, tr.level_emb, tr.audio_encoder[0].weight, tr.bos):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert model.vqvae.encoder[0].weight.grad is None  # stage II leaves the tokenizer alone


def test_text_changes_logits_and_padding_does_not() -> None:
    model = _model()
    tokens = torch.randint(0, 32, (2, 6))
    base = model(tokens, _text(), _audio())
    for level in ("action", "emotion", "head_pose"):
        text = _text()
        emb, mask = text[level]
        text[level] = (emb + 1.0, mask)
        assert not torch.allclose(model(tokens, text, _audio()), base), level
    other = model(tokens, _text(seed=5), _audio())
    assert not torch.allclose(other, base)
    with_full = _text()
    with_full["full"] = (torch.randn(2, 4, TEXT_DIM), None)
    assert not torch.allclose(model(tokens, with_full, _audio()), base)
    padded = _text()
    emb, mask = padded["action"]
    padded["action"] = (torch.where(mask[..., None], emb, emb + 50.0), mask)  # only padded positions move
    torch.testing.assert_close(model(tokens, padded, _audio()), base)
    with pytest.raises(ValueError):
        model(tokens, {"mood": (torch.randn(2, 3, TEXT_DIM), None)})


def test_audio_is_optional_and_matters() -> None:
    model = _model()
    tokens = torch.randint(0, 32, (2, 6))
    with_audio = model(tokens, _text(), _audio())
    without = model(tokens, _text(), None)
    assert without.shape == with_audio.shape and not torch.allclose(without, with_audio)
    assert model.sample(_text(), None, 25, seed=0).shape == (2, 25, model.motion_dim)
    assert model.sample(_text(), _audio(), 25, seed=0).shape == (2, 25, model.motion_dim)
    assert model.sample({}, None, 9, seed=0).shape == (1, 9, model.motion_dim)  # unconditional
    assert model.sample({}, _audio(batch=3), 9, seed=0).shape == (3, 9, model.motion_dim)


# --- sampling -----------------------------------------------------------------------------------


def test_same_seed_same_sample_different_seed_different_sample() -> None:
    model = _model()
    a = model.sample(_text(), _audio(), 40, seed=7)
    torch.testing.assert_close(model.sample(_text(), _audio(), 40, seed=7), a)
    assert not torch.allclose(model.sample(_text(), _audio(), 40, seed=8), a)
    ta, _ = model.sample_tokens(_text(), None, 12, seed=1)
    tb, _ = model.sample_tokens(_text(), None, 12, seed=2)
    assert not torch.equal(ta, tb)


@pytest.mark.parametrize("with_audio", [True, False])
def test_cached_decoding_equals_uncached_forward(with_audio: bool) -> None:
    model = _model()  # self_window=8 < 14 tokens: the sliding window is exercised
    audio = _audio(frames=70) if with_audio else None  # shorter than the motion: late tokens see no audio
    audio_mask = torch.ones(2, 70, dtype=torch.bool) if with_audio else None
    if audio_mask is not None:
        audio_mask[1, 50:] = False
    tokens, logits = model.sample_tokens(_text(), audio, 14, seed=3, audio_mask=audio_mask, return_logits=True)
    assert logits is not None and logits.shape == (2, 14, 32)
    full = model(tokens, _text(), audio, audio_mask=audio_mask)
    torch.testing.assert_close(logits, full, atol=1e-5, rtol=1e-5)
    slow, slow_logits = model.sample_tokens(_text(), audio, 14, seed=3, audio_mask=audio_mask, use_cache=False,
                                            return_logits=True)
    assert torch.equal(slow, tokens)
    torch.testing.assert_close(slow_logits, logits, atol=1e-5, rtol=1e-5)


def test_temperature_and_top_k() -> None:
    model = _model()
    greedy, _ = model.sample_tokens(_text(), _audio(), 10, seed=0, temperature=0.0)
    top1, _ = model.sample_tokens(_text(), _audio(), 10, seed=5, top_k=1)
    assert torch.equal(greedy, top1)
    tokens, logits = model.sample_tokens(_text(), _audio(), 10, seed=0, top_k=3, return_logits=True)
    assert logits is not None
    allowed = logits.topk(3, dim=-1).indices
    assert (allowed == tokens[..., None]).any(-1).all()
    peaked = torch.tensor([[0.0, 1.0, 0.5]])
    picks = {int(pick_token(peaked, torch.Generator().manual_seed(s), temperature=0.01)) for s in range(20)}
    assert picks == {1}
    logits = torch.tensor([0.0, 1.0, 2.0, float("-inf")]).expand(20000, 4)
    counts = torch.bincount(pick_token(logits, torch.Generator().manual_seed(0)), minlength=4) / 20000
    torch.testing.assert_close(counts, torch.softmax(logits[0], -1), atol=0.015, rtol=0)


def test_sampling_leaves_training_mode_and_threads_alone() -> None:
    model = _model(dropout=0.1).train()
    torch.set_num_threads(2)  # the token loop runs on one thread and must give the second one back
    model.sample(_text(), None, 8, seed=0)
    assert model.training and torch.get_num_threads() == 2
