"""Audio2FLAME + emotion control module (seed 003): shapes, gradients, the emotion maths, losses."""

from __future__ import annotations

import pytest
import torch

from mmface_studio.engine.models.audio2flame import (
    Audio2FlameConfig,
    Audio2FlameModel,
    audio2flame_loss,
    linear_vertices,
    mouth_shape_loss,
    parameter_loss,
    vertex_loss,
)
from mmface_studio.engine.models.base import ModelConfigError, face_dim, families
from mmface_studio.engine.models.emotion_control import effective_gamma, emotion_prior_loss, smooth_priors

B, TA, T = 2, 50, 16  # 0.5 s of 100 Hz features -> 16 frames at 30 fps (a little past the audio)


def _audio(seed: int = 0, batch: int = B, length: int = TA, dim: int = 12) -> torch.Tensor:
    return torch.randn(batch, length, dim, generator=torch.Generator().manual_seed(seed))


def _model(space: str = "arkit52", **overrides) -> Audio2FlameModel:
    return Audio2FlameModel(Audio2FlameConfig.tiny(space, **overrides)).eval()


@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_forward_shapes_in_both_spaces(space: str) -> None:
    model = _model(space)
    d = face_dim(space)
    out = model(_audio(), T, torch.rand(7), prior_weight=1.0)
    assert out["face"].shape == (B, T, d) and out["base"].shape == (B, T, d)
    for key in ("emotion_logits", "emotion_prior", "gamma"):
        assert out[key].shape == (B, T, 7)
    assert model.content(_audio(), T).shape == (B, T, d)
    assert model.emotion_prior(_audio(), T).shape == (B, T, 7)
    for length in (3, 400):  # audio much shorter or longer than the animation: always n_frames out
        assert model(_audio(length=length), T)["face"].shape == (B, T, d)


@pytest.mark.parametrize("space", ["arkit52", "flame56"])
def test_gradients_reach_every_parameter(space: str) -> None:
    model = Audio2FlameModel(Audio2FlameConfig.tiny(space)).train()
    out = model(_audio(), T, torch.rand(B, T, 7), prior_weight=0.5)
    target = torch.randn(B, T, face_dim(space))
    loss = parameter_loss(out["face"], target) + emotion_prior_loss(out["emotion_logits"], torch.randn(B, T, 7))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_stages_compose_to_forward() -> None:
    model = _model()
    audio, gamma_u = _audio(), torch.rand(B, 7)
    out = model(audio, T, gamma_u, prior_weight=0.7)
    enc = model.encode(audio, T)
    base = model.content(audio, T, enc)
    prior = model.emotion_prior(audio, T, enc)
    face = model.augment(base, model.effective_gamma(gamma_u, prior, 0.7))
    torch.testing.assert_close(out["base"], base)
    torch.testing.assert_close(out["emotion_prior"], prior)
    torch.testing.assert_close(out["face"], face)


def test_effective_gamma_is_user_plus_mean_centred_prior() -> None:
    g = torch.Generator().manual_seed(3)
    gamma_u, prior = torch.rand(B, T, 7, generator=g), torch.rand(B, T, 7, generator=g)
    torch.testing.assert_close(effective_gamma(gamma_u, prior, 0.0), gamma_u)  # w = 0: the animator's values
    constant = torch.rand(B, 1, 7, generator=g).expand(B, T, 7)
    torch.testing.assert_close(effective_gamma(gamma_u, constant, 1.0), gamma_u)  # a constant prior adds nothing
    gamma = effective_gamma(gamma_u, prior, 0.5)
    torch.testing.assert_close(gamma, gamma_u + 0.5 * (prior - prior.mean(1, keepdim=True)))
    torch.testing.assert_close(gamma.mean(1), gamma_u.mean(1))  # the prior only adds dynamics
    per_sequence = effective_gamma(gamma_u, prior, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(per_sequence[0], gamma_u[0])
    held = effective_gamma(gamma_u[:, 0], prior, 0.0)  # (B, E) is held over time
    torch.testing.assert_close(held, gamma_u[:, :1].expand(B, T, 7))
    assert effective_gamma(torch.rand(7), prior, 1.0).shape == (B, T, 7)


def test_prior_weight_zero_means_the_audio_prior_is_ignored() -> None:
    model = _model()
    audio, gamma_u = _audio(), torch.rand(B, T, 7)
    out = model(audio, T, gamma_u, prior_weight=0.0)
    torch.testing.assert_close(out["face"], model.augment(model.content(audio, T), gamma_u))


def test_emotion_changes_the_face_but_not_the_base() -> None:
    model = _model()
    audio = _audio()
    happy, angry = torch.zeros(7), torch.zeros(7)
    happy[1], angry[6] = 1.0, 1.0
    a, b = model(audio, T, happy), model(audio, T, angry)
    torch.testing.assert_close(a["base"], b["base"])
    assert (a["face"] - b["face"]).abs().max() > 1e-4
    half, full = model(audio, T, 0.5 * happy), model(audio, T, happy)
    assert (half["face"] - full["face"]).abs().max() > 1e-5  # intensity matters, not only the type


def test_augment_is_residual_and_local_in_time() -> None:
    model = _model()
    base = torch.randn(1, T, face_dim("arkit52"))
    gamma = torch.rand(1, T, 7)
    edited = gamma.clone()
    edited[0, 8] += torch.rand(7)  # one keyframe changes
    delta = (model.augment(base, edited) - model.augment(base, gamma)).abs().amax(-1)[0]
    k = model.config.context_frames
    assert delta[8 - k : 9 + k].min() > 0  # the edited frame and its neighbours move...
    assert delta[: 8 - k].max() == 0 and delta[9 + k :].max() == 0  # ...nothing else: emotion edits stay local
    with torch.no_grad():  # Eq. 3: the augment network adds a correction to the base face
        last = model.emotion_augment.net[-1]
        last.weight.zero_()
        last.bias.zero_()
    torch.testing.assert_close(model.augment(base, gamma), base)


def test_emotion_prior_is_min_max_normalised_logits() -> None:
    model = _model()
    audio = _audio()
    logits = model.emotion_logits(audio, T)
    low, high = torch.full((7,), -2.0), torch.linspace(1.0, 4.0, 7)
    model.emotion_predictor.set_logit_range(low, high)
    torch.testing.assert_close(model.emotion_prior(audio, T), (logits - low) / (high - low))
    with pytest.raises(ValueError):
        model.emotion_predictor.set_logit_range(high, low)
    with pytest.raises(ValueError):
        model.emotion_predictor.set_logit_range(torch.zeros(6), torch.ones(6))
    state = model.state_dict()  # the range travels with the weights
    assert torch.equal(state["emotion_predictor.logit_high"], high)


def test_eval_is_deterministic_and_init_is_seeded() -> None:
    model = _model()
    audio = _audio()
    torch.testing.assert_close(model(audio, T)["face"], model(audio, T)["face"], rtol=0, atol=0)
    before = torch.random.get_rng_state()
    again = _model()
    assert torch.equal(torch.random.get_rng_state(), before)  # building a model leaves the global RNG alone
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    other = _model(seed=1)
    assert not torch.equal(other.decoder[0].weight, model.decoder[0].weight)


def test_config_round_trip_and_registry() -> None:
    model = _model("flame56", context_frames=2)
    assert families()["audio2flame"] is Audio2FlameModel
    rebuilt = Audio2FlameModel.from_config_dict(model.config_dict())
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    audio = _audio()
    torch.testing.assert_close(rebuilt.eval()(audio, T)["face"], model(audio, T)["face"])
    with pytest.raises(ModelConfigError):
        Audio2FlameConfig(space="mesh")
    with pytest.raises(ModelConfigError):
        Audio2FlameConfig(style_dim=10, style_heads=4)
    with pytest.raises(ValueError):
        model(torch.randn(1, 20, 7), T)  # wrong feature size
    with pytest.raises(ValueError):
        model(_audio(), 0)


def test_more_style_tokens_per_frame() -> None:
    model = _model(style_tokens_per_frame=3)
    assert model(_audio(), T)["face"].shape == (B, T, 52)


def test_default_config_fits_the_checkpoint_budget() -> None:
    model = Audio2FlameModel(Audio2FlameConfig())
    assert model.parameter_count() * 4 <= 20e6


# -- losses -----------------------------------------------------------------------------------


def _mouth_mesh() -> tuple[torch.Tensor, list[int]]:
    # top, bottom, left, right lip vertices of a toy rest mesh (metres)
    rest = torch.tensor([[0.0, 0.01, 0.0], [0.0, -0.01, 0.0], [-0.025, 0.0, 0.0], [0.025, 0.0, 0.0], [0.0, 0.05, 0.0]])
    return rest, [0, 1, 2, 3]


def test_vertex_and_mouth_losses() -> None:
    rest, mouth = _mouth_mesh()
    gt = rest.expand(1, 4, 5, 3).clone()
    assert vertex_loss(gt, gt) == 0 and mouth_shape_loss(gt, gt, mouth) == 0
    wider = gt.clone()
    wider[..., 2, 0] -= 0.0476  # mouth width grows by the seed's normaliser d1^-1: L_lm = 1
    torch.testing.assert_close(mouth_shape_loss(wider, gt, mouth), torch.tensor(1.0))
    opened = gt.clone()
    opened[..., 1, 1] -= 0.017  # height grows by d2^-1: L_lm = 1
    torch.testing.assert_close(mouth_shape_loss(opened, gt, mouth), torch.tensor(1.0))
    shifted = gt + torch.tensor([0.0, 0.0, 0.003])
    torch.testing.assert_close(vertex_loss(shifted, gt), torch.tensor(0.003))
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(vertex_loss(wider, gt, mask), torch.tensor(0.0))  # masked-out vertices don't count


def test_audio2flame_loss_through_a_linear_basis_has_gradients() -> None:
    rest, mouth = _mouth_mesh()
    d = face_dim("flame56")
    basis = torch.randn(d, 5, 3, generator=torch.Generator().manual_seed(0)) * 1e-3
    target = torch.randn(B, T, d)
    pred = torch.zeros(B, T, d, requires_grad=True)
    terms = audio2flame_loss(pred, target, basis, mouth, template=rest, w1=1.0, w2=0.5)
    assert set(terms) == {"loss", "vertex", "mouth"}
    torch.testing.assert_close(terms["loss"], terms["vertex"] + 0.5 * terms["mouth"])
    terms["loss"].backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert audio2flame_loss(target, target, basis, mouth, template=rest)["loss"] == 0
    assert linear_vertices(target, basis, rest).shape == (B, T, 5, 3)


def test_emotion_prior_loss() -> None:
    target = torch.randn(B, T, 7)
    logits = target.clone().requires_grad_(True)
    emotion_prior_loss(logits, target).backward()  # matching the recogniser's distribution is the optimum
    assert logits.grad.abs().max() < 1e-6
    labels = torch.randint(0, 7, (B, T), generator=torch.Generator().manual_seed(0))
    labels[0, :4] = -1  # ignored frames
    hard = emotion_prior_loss(target, labels)
    keep = labels >= 0
    expected = torch.nn.functional.cross_entropy(target[keep], labels[keep])
    torch.testing.assert_close(hard, expected)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1] = False
    torch.testing.assert_close(emotion_prior_loss(target, labels, mask),
                               torch.nn.functional.cross_entropy(target[0][keep[0]], labels[0][keep[0]]))


def test_smooth_priors_is_a_low_pass() -> None:
    x = torch.zeros(1, 9, 7)
    x[0, 4] = 5.0
    y = smooth_priors(x, 5)
    assert y.shape == x.shape
    torch.testing.assert_close(y.sum(1), x.sum(1))  # mass kept away from the edges
    assert y.max() == 1.0
    torch.testing.assert_close(smooth_priors(x, 1), x)
