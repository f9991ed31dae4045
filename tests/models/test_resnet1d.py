"""ResNet1D backbone + adaptive modulation (seed 004): shapes, style, sparsity, causality, streaming."""

from __future__ import annotations

import pytest
import torch

from mmface_studio.engine.models.base import ModelConfigError, face_dim, families
from mmface_studio.engine.models.layers import resample_time
from mmface_studio.engine.models.resnet1d import (
    ResNet1DConfig,
    ResNet1DModel,
    regression_loss,
    sparsity_penalty,
)

B, TA, T = 2, 100, 30  # 1 s of 100 Hz features -> 30 frames


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _model(space: str = "arkit52", **overrides) -> ResNet1DModel:
    return ResNet1DModel(ResNet1DConfig.tiny(space, **overrides)).eval()


def _reference(space: str = "arkit52", seed: int = 1, frames: int = 40, batch: int = B) -> torch.Tensor:
    return 0.3 * _randn(batch, frames, face_dim(space), seed=seed)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_forward_shapes(space: str, causal: bool) -> None:
    model = _model(space, causal=causal)
    d = face_dim(space)
    assert model(_randn(B, TA, 12), T, _reference(space)).shape == (B, T, d)
    assert model(_randn(B, TA, 12), T).shape == (B, T, d)  # no reference: the learned default style
    assert model(_randn(B, 7, 12), T).shape == (B, T, d)  # audio shorter than the animation: ends held
    assert model(_randn(1, TA, 12), 1, _reference(space, batch=1, frames=1)).shape == (1, 1, d)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_gradients_reach_every_parameter(space: str, causal: bool) -> None:
    model = ResNet1DModel(ResNet1DConfig.tiny(space, causal=causal)).train()
    target = _randn(B, T, face_dim(space), seed=5)
    audio = _randn(B, TA, 12)
    loss = regression_loss(model(audio, T, _reference(space)), target)
    loss = loss + regression_loss(model(audio, T), target)  # the default style learns from reference-free runs
    loss = loss + 1e-3 * model.sparsity_penalty()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_reference_clip_sets_the_talking_style() -> None:
    model = _model()
    audio = _randn(B, TA, 12)
    a = model(audio, T, _reference(seed=1))
    b = model(audio, T, _reference(seed=2))
    assert (a - b).abs().max() > 1e-4
    torch.testing.assert_close(model(audio, T, _reference(seed=1)), a)
    identity = torch.linspace(-0.5, 0.5, face_dim("arkit52"))  # a constant offset is identity, not style (Eq. 5)
    torch.testing.assert_close(model(audio, T, _reference(seed=1) + identity), a, atol=1e-5, rtol=1e-5)
    code = model.style_code(_reference(seed=1))  # the engine may cache the code of a reference clip
    assert code.shape == (B, 2 * model.config.style_channels)
    torch.testing.assert_close(model(audio, T, style=code), a)


def test_template_reaches_the_output() -> None:
    model = _model()
    audio = _randn(1, TA, 12)
    template = 0.1 * _randn(face_dim("arkit52"), seed=9)
    assert (model(audio, T, template=template) - model(audio, T)).abs().max() > 1e-4


def test_sparsity_penalty() -> None:
    assert sparsity_penalty(torch.zeros(6, 10)) == 0
    disjoint = torch.zeros(3, 9)
    disjoint[0, :3], disjoint[1, 3:6], disjoint[2, 6:] = 1.0, -2.0, 0.5  # each feature owns a region
    assert sparsity_penalty(disjoint) == 0
    w = _randn(4, 10)
    rows = w.abs() / w.norm(dim=1, keepdim=True)
    expected = sum(rows[i] @ rows[j] for i in range(4) for j in range(4) if i != j)
    torch.testing.assert_close(sparsity_penalty(w), expected)
    assert sparsity_penalty(w) > 0
    torch.testing.assert_close(sparsity_penalty(w * torch.tensor([[3.0], [-1.0], [0.1], [7.0]])), expected)
    model = _model()
    torch.testing.assert_close(model.sparsity_penalty(), sparsity_penalty(model.decoding_matrix))


def test_regression_loss_with_mask() -> None:
    pred, target = torch.zeros(1, 3, 2), torch.tensor([[[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]]])
    torch.testing.assert_close(regression_loss(pred, target), torch.tensor(5.0))
    torch.testing.assert_close(regression_loss(pred, target, torch.tensor([[True, True, False]])), torch.tensor(2.5))


def test_frame_features_follow_the_shared_resampling_convention() -> None:
    model = _model(audio_rate=50.0)  # 50 Hz -> 30 fps: no anti-alias box, plain linear interpolation
    audio = _randn(1, 77, 12)
    feats = model._frame_features(audio, 0, torch.arange(T), audio.shape[1])
    torch.testing.assert_close(feats, resample_time(audio, 50.0, 30.0, T))


@pytest.mark.parametrize("lookahead", [0, 2])
def test_causal_output_ignores_audio_past_the_lookahead(lookahead: int) -> None:
    model = _model(causal=True, lookahead_frames=lookahead)
    audio = _randn(1, TA, 12)
    ref = _reference(batch=1)
    base = model(audio, T, ref)
    for t in (0, 7, 19):
        last = model.last_audio_index(t)
        changed = audio.clone()
        changed[:, last + 1 :] = _randn(1, TA - last - 1, 12, seed=t + 10)
        out = model(changed, T, ref)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=0)
        assert (out[:, t + 1 :] - base[:, t + 1 :]).abs().max() > 0  # later frames do see it
    nudged = audio.clone()
    nudged[:, model.last_audio_index(7)] += 1.0  # the last needed feature does matter
    assert (model(nudged, T, ref)[:, 7] - base[:, 7]).abs().max() > 0
    assert model.lookahead_s < (lookahead + 1) / model.config.fps + 0.03


def test_non_causal_model_looks_ahead() -> None:
    model = _model()
    audio = _randn(1, TA, 12)
    changed = audio.clone()
    changed[:, 50:] += 1.0
    assert (model(changed, T)[:, 10] - model(audio, T)[:, 10]).abs().max() > 0
    with pytest.raises(RuntimeError):
        model.last_audio_index(0)
    with pytest.raises(RuntimeError):
        model.start_stream()


@pytest.mark.parametrize("chunks", [[1] * 12 + [7, 30, 50, 1, 3], [TA + 5], [33, 33, 39]])
def test_chunked_streaming_equals_the_full_causal_pass(chunks: list[int]) -> None:
    model = _model(causal=True, lookahead_frames=2)
    audio = _randn(B, sum(chunks), 12)
    ref = _reference()
    template = 0.1 * _randn(face_dim("arkit52"), seed=4)
    n_frames = T + 1  # past the audio's end: the last frames hold the final features, as in forward
    full = model(audio, n_frames, ref, template=template)
    state = model.start_stream(B, ref, template=template)
    pieces, start = [], 0
    for size in chunks:
        pieces.append(model.stream_step(state, audio[:, start : start + size]))
        start += size
        if state.emitted:  # a frame is out as soon as its last needed feature has arrived
            assert model.last_audio_index(state.emitted - 1) < start
    pieces.append(model.stream_finish(state, n_frames))
    streamed = torch.cat(pieces, dim=1)
    assert streamed.shape == full.shape
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=1e-5)
    assert state.audio.shape[1] < 10  # only the features future frames still need are kept
    with pytest.raises(RuntimeError):
        model.stream_step(state, audio[:, :1])


def test_streaming_needs_eval_mode() -> None:
    model = _model(causal=True).train()
    with pytest.raises(RuntimeError):
        model.start_stream()


def test_eval_is_deterministic_and_init_is_seeded() -> None:
    model = _model()
    audio, ref = _randn(B, TA, 12), _reference()
    torch.testing.assert_close(model(audio, T, ref), model(audio, T, ref), rtol=0, atol=0)
    before = torch.random.get_rng_state()
    again = _model()
    assert torch.equal(torch.random.get_rng_state(), before)
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert not torch.equal(_model(seed=3).decoding, model.decoding)


def test_config_round_trip_and_registry() -> None:
    model = _model("flame56", causal=True, lookahead_frames=3)
    assert families()["resnet1d"] is ResNet1DModel
    rebuilt = ResNet1DModel.from_config_dict(model.config_dict())
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    audio = _randn(1, TA, 12)
    torch.testing.assert_close(rebuilt.eval()(audio, T), model(audio, T))
    assert len({p.data_ptr() for p in model.state_dict().values()}) == len(model.state_dict())  # no shared tensors
    with pytest.raises(ModelConfigError):
        ResNet1DConfig(kernel_size=4)
    with pytest.raises(ModelConfigError):
        ResNet1DConfig(space="flame100")
    with pytest.raises(ValueError):
        model(audio, 0)
    with pytest.raises(ValueError):
        model(audio, T, torch.zeros(1, 10, 52))  # a reference in the wrong space


def test_default_config_fits_the_checkpoint_budget() -> None:
    model = ResNet1DModel(ResNet1DConfig())
    assert model.parameter_count() * 4 <= 20e6
