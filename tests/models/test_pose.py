"""Diverse head-pose family (seed 002): shapes, losses, seeded sampling, in-filling, FID features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmface_studio.engine.models.base import FAMILIES, ModelConfigError, families
from mmface_studio.engine.models.pose import (
    PoseConfig,
    PoseModel,
    blend_into_locks,
    generator_loss,
    vqvae_losses,
)
from mmface_studio.engine.models.pose_features import PoseFeatureConfig, PoseFeatureExtractor, pose_directions
from mmface_studio.engine.request import POSE_STYLES
from mmface_studio.rig.skinning import euler_yxz, rodrigues

FRAMES = 90  # 3 s at 30 fps
AUDIO = 300  # 3 s of 100 Hz log-mel


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    # torch.testing.assert_close imports ~500 modules (2 s on CI) on first use; this is all we need
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert torch.allclose(actual, expected, rtol=rtol, atol=atol), (actual - expected).abs().max()


def _model(space: str = "arkit52", seed: int = 0, **overrides) -> PoseModel:
    torch.manual_seed(seed)
    return PoseModel(PoseConfig.tiny(space=space, **overrides))


def _audio(batch: int = 2, frames: int = AUDIO, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 80, generator=torch.Generator().manual_seed(seed)) - 8.0


def _pose(batch: int = 2, frames: int = FRAMES) -> torch.Tensor:
    t = torch.arange(frames, dtype=torch.float32) / 30.0
    phase = torch.arange(batch, dtype=torch.float32)[:, None, None]
    return 0.1 * torch.sin(t[None, :, None] * torch.tensor([1.3, 2.1, 0.7]) + phase)


def test_family_is_registered_and_config_round_trips():
    assert families()["pose"] is PoseModel
    model = _model()
    rebuilt = FAMILIES["pose"].from_config_dict(model.config_dict())
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    with pytest.raises(ModelConfigError):
        PoseConfig(d_model=30, vq_heads=4)
    with pytest.raises(ModelConfigError):
        PoseConfig(space="smplx")
    with pytest.raises(ModelConfigError):
        PoseConfig(block_frames=0)


def test_default_config_fits_the_checkpoint_budget():
    model = PoseModel(PoseConfig())
    assert model.config.vq_layers == model.config.gen_layers == 6  # seed 002: 6 layers, 4 heads
    assert model.parameter_count() * 4 <= 20_000_000
    buffers = sum(b.numel() for b in model.state_dict().values()) - model.parameter_count()
    assert buffers <= 2 * 3 + model.config.codebook_size  # pose statistics, code usage; PPE tables are rebuilt


@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_forward_backward_shapes(space):
    model = _model(space)
    audio, pose = _audio(), _pose(frames=FRAMES - 3)  # not a multiple of the block
    reconstruction, logits = model(audio, pose, "animated")
    n_tokens = model.n_tokens(FRAMES - 3)
    assert reconstruction.shape == pose.shape
    assert logits.shape == (2, n_tokens, model.config.codebook_size)
    losses = vqvae_losses(model, pose)
    assert set(losses) >= {"total", "reconstruction", "velocity", "codebook", "commitment", "perplexity"}
    losses["total"].backward()
    assert model.vqvae.enc_embed.weight.grad.abs().sum() > 0
    assert model.vqvae.quantizer.codebook.grad.abs().sum() > 0
    assert model.generator.head.weight.grad is None  # stage 1 does not touch the generator
    model.zero_grad()
    valid = torch.ones(2, FRAMES - 3, dtype=torch.bool)
    valid[1, 40:] = False
    ce = generator_loss(model, audio, pose, torch.tensor([0, 3]), valid)
    assert ce.ndim == 0 and torch.isfinite(ce)
    ce.backward()
    assert model.generator.head.weight.grad.abs().sum() > 0
    assert model.audio_encoder.rhythm[0].weight.grad.abs().sum() > 0
    assert model.vqvae.enc_embed.weight.grad is None  # stage 2 trains on frozen codes


def test_sample_shape_audio_lengths_and_styles():
    model = _model()
    for audio_frames in (37, AUDIO, 2 * AUDIO):  # shorter / matching / longer audio
        out = model.sample(_audio(1, audio_frames), 61, seed=0, style="calm")
        assert out.shape == (1, 61, 3) and torch.isfinite(out).all()
    assert model.training  # sampling restores the mode
    assert torch.equal(model.sample(_audio(), 40, seed=1, style="nodding"),
                       model.sample(_audio(), 40, seed=1, style=POSE_STYLES.index("nodding")))
    with pytest.raises(ValueError, match="Unknown pose style"):
        model.sample(_audio(), 40, seed=0, style="wobbly")
    with pytest.raises(ValueError):
        model.sample(_audio(), 40, seed=0, style=7)


def test_same_seed_same_take_different_seed_different_take():
    model = _model()
    audio = _audio()
    a = model.sample(audio, FRAMES, seed=11, style="calm")
    b = model.sample(audio, FRAMES, seed=11, style="calm")
    c = model.sample(audio, FRAMES, seed=12, style="calm")
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a[0], a[1])  # rows of a batch draw their own numbers


def test_greedy_sampling_does_not_depend_on_the_seed():
    model = _model()
    audio = _audio()
    cold = [model.sample(audio, FRAMES, seed=s, style="calm", temperature=0.0) for s in (0, 1)]
    top1 = [model.sample(audio, FRAMES, seed=s, style="calm", top_k=1) for s in (0, 1)]
    assert torch.equal(cold[0], cold[1])
    assert torch.equal(top1[0], top1[1])
    assert torch.equal(cold[0], top1[0])
    with pytest.raises(ValueError):
        model.sample(audio, FRAMES, seed=0, style="calm", temperature=-0.5)


def test_styles_change_the_take():
    model = _model()
    audio = _audio()
    takes = [model.sample(audio, FRAMES, seed=3, style=s) for s in POSE_STYLES]
    for i in range(len(takes)):
        for j in range(i):
            assert not torch.allclose(takes[i], takes[j])


def test_kv_cached_sampling_equals_uncached():
    model = _model(context_tokens=5)  # the window slides within the take
    audio = _audio()
    cond = model.condition(audio, 24, "animated").detach()
    uniforms = torch.rand(24, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        cached = model.generator.sample(cond, uniforms, temperature=1.0, top_k=None)
        uncached = model.generator.sample(cond, uniforms, temperature=1.0, top_k=None, use_cache=False)
    assert torch.equal(cached, uncached)
    assert len(set(cached.flatten().tolist())) > 2  # not a degenerate take
    slow = model.sample(audio, FRAMES, seed=4, style="shaking", top_k=5, use_cache=False)
    assert torch.equal(model.sample(audio, FRAMES, seed=4, style="shaking", top_k=5), slow)


def _locks(frames: int = 180) -> torch.Tensor:
    mask = torch.zeros(2, frames, dtype=torch.bool)
    mask[:, 60:100] = True
    mask[1, 130:135] = True
    mask[0, 0:10] = True
    return mask


def test_infilling_keeps_locked_frames_bit_exact():
    model = _model()
    audio = _audio(frames=600)
    old = model.sample(audio, 180, seed=1, style="calm") + 0.1  # an offset the new take must meet
    mask = _locks()
    takes = [model.sample(audio, 180, seed=s, style="calm", locked_pose=old, lock_mask=mask) for s in (2, 3)]
    for take in takes:
        assert torch.equal(take[mask], old[mask])
    assert not torch.allclose(takes[0][~mask], takes[1][~mask])
    # a mask with no locked frame is a plain sample
    free = torch.zeros_like(mask)
    assert torch.equal(model.sample(audio, 180, seed=2, style="calm", locked_pose=old, lock_mask=free),
                       model.sample(audio, 180, seed=2, style="calm"))
    with pytest.raises(ValueError, match="both"):
        model.sample(audio, 180, seed=2, style="calm", locked_pose=old)


def test_infilling_joins_locks_without_a_jump():
    model = _model()
    audio = _audio(frames=600)
    old = model.sample(audio, 180, seed=1, style="calm") + 0.1
    mask = _locks()
    free = model.sample(audio, 180, seed=2, style="calm")
    take = model.sample(audio, 180, seed=2, style="calm", locked_pose=old, lock_mask=mask)
    step = take.diff(dim=1).norm(dim=-1)
    typical = free.diff(dim=1).norm(dim=-1).median()
    for row, last_locked in ((0, 9), (0, 99), (1, 99)):
        lock_step = (old[row, last_locked] - old[row, last_locked - 1]).norm()
        jump = step[row, last_locked]  # last locked -> first free frame
        assert jump == pytest.approx(lock_step.item(), abs=1e-5)  # continues the lock's own motion
    first_locked = 60
    for row in (0, 1):
        lock_step = (old[row, first_locked + 1] - old[row, first_locked]).norm()
        assert step[row, first_locked - 1] == pytest.approx(lock_step.item(), abs=1e-5)
    for row, edge in ((0, 9), (0, 99), (0, 59), (1, 59), (1, 99)):
        assert step[row, edge] <= 2.0 * typical  # as smooth as the takes themselves
        naive = (free[row, edge + 1] - old[row, edge]).norm() if edge != 59 else (old[row, 60] - free[row, 59]).norm()
        assert naive > 4.0 * step[row, edge]  # a plain paste would snap


def test_blend_only_reads_locked_frames_of_the_old_take():
    new = torch.cumsum(torch.full((1, 40, 3), 0.01), dim=1)
    old = torch.full((1, 40, 3), 0.5)
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[0, 15:25] = True
    a = blend_into_locks(new, old, mask, 4, 12)
    garbage = old.clone()
    garbage[~mask] = 123.0
    assert torch.equal(a, blend_into_locks(new, garbage, mask, 4, 12))
    assert torch.equal(a[0, :2], new[0, :2]) and torch.equal(a[0, -2:], new[0, -2:])  # far frames untouched
    assert torch.isfinite(blend_into_locks(new[:, :1], old[:, :1], mask[:, :1], 4, 12)).all()


def _features(**overrides) -> PoseFeatureExtractor:
    torch.manual_seed(0)
    return PoseFeatureExtractor(PoseFeatureConfig.tiny(**overrides))


@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_directions_follow_the_rigs_conventions(space):
    pose = torch.tensor([[[0.3, -0.2, 0.4], [0.0, 0.0, 0.0], [-1.0, 0.5, 0.05]]], dtype=torch.float64)
    d = pose_directions(pose, space).numpy()[0]
    for i, p in enumerate(pose[0].numpy()):
        r = euler_yxz(*p) if space == "arkit52" else rodrigues(p)
        np.testing.assert_allclose(d[i, :3], r @ np.array([0.0, 0.0, 1.0]), atol=1e-9)
        np.testing.assert_allclose(d[i, 3:], r @ np.array([0.0, 1.0, 0.0]), atol=1e-9)


def test_fid_features_are_deterministic_and_batch_independent():
    extractor = _features()
    pose = _pose(3, 50)
    f1, f2 = extractor.features(pose), extractor.features(pose.clone())
    assert f1.shape == (3, extractor.config.feature_dim)
    assert torch.equal(f1, f2)
    assert extractor.training  # restored
    _assert_close(extractor.features(pose[1:2]), f1[1:2], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(f1[0], f1[1])
    assert extractor.features(_pose(1, 5)).shape == (1, extractor.config.feature_dim)  # shorter than a clip
    with pytest.raises(ValueError):
        extractor.features(torch.zeros(1, 10, 2))


@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_fid_reconstruction_loss_trains(space):
    extractor = _features(space=space)
    pose = _pose(4, 16)
    params = [p for p in extractor.parameters() if p.requires_grad]
    first = None
    for _ in range(40):  # plain gradient descent: torch.optim's first step imports torch._dynamo (2 s)
        loss = extractor.reconstruction_loss(pose)
        first = loss.item() if first is None else first
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= 0.05 * g
    assert loss.item() < 0.5 * first
