"""Shared model building blocks: PPE, windowed transformer + KV cache, VQ codebook, sampling."""

from __future__ import annotations

import pytest
import torch

from mmface_studio.engine.models.layers import (
    PeriodicPositionalEncoding,
    TransformerStack,
    VectorQuantizer,
    intra_op_threads,
    resample_time,
    sample_from_logits,
    window_mask,
)


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    # torch.testing.assert_close imports ~500 modules (2 s on CI) on first use; this is all we need
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert torch.allclose(actual, expected, rtol=rtol, atol=atol), (actual - expected).abs().max()


def test_ppe_is_periodic_with_the_configured_period():
    ppe = PeriodicPositionalEncoding(16, period=5)
    positions = torch.arange(40)
    codes = ppe.encoding(positions)
    assert torch.equal(codes[:35], codes[5:40])
    assert not torch.allclose(codes[0], codes[1])  # distinct within a period
    assert len({tuple(c.tolist()) for c in codes[:5]}) == 5
    x = torch.zeros(2, 12, 16)
    assert torch.equal(ppe(x, offset=3), ppe(x, offset=8))
    assert torch.equal(ppe(x)[:, 5:], ppe(x[:, :7], offset=5))
    assert "table" not in ppe.state_dict()  # rebuilt from the config, not stored


def test_window_mask_shapes_attention():
    causal = window_mask(6, 3, causal=True)
    assert causal[4].tolist() == [False, False, True, True, True, False]
    both = window_mask(6, 1, causal=False)
    assert both[2].tolist() == [False, True, True, True, False, False]
    assert window_mask(6, None, causal=False) is None
    assert window_mask(6, 10, causal=False) is None


@pytest.mark.parametrize("window", [None, 3])
def test_kv_cached_steps_match_full_forward(window):
    torch.manual_seed(0)
    stack = TransformerStack(16, layers=2, heads=4, ff_dim=32, causal=True, window=window).eval()
    x = torch.randn(2, 9, 16)
    with torch.no_grad():
        full = stack(x)
        cache = stack.new_cache(2, 9, x.device, x.dtype)
        steps = torch.stack([stack.step(x[:, i], cache) for i in range(9)], dim=1)
    _assert_close(steps, full, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="full"):
        stack.step(x[:, 0], cache)


def test_causal_stack_ignores_the_future():
    torch.manual_seed(1)
    stack = TransformerStack(8, layers=2, heads=2, ff_dim=16, causal=True, window=4).eval()
    x = torch.randn(1, 10, 8)
    y = x.clone()
    y[:, 6:] += 1.0
    with torch.no_grad():
        _assert_close(stack(x)[:, :6], stack(y)[:, :6])


def test_vq_returns_codebook_entries_and_nearest_indices():
    torch.manual_seed(2)
    vq = VectorQuantizer(12, 4).eval()  # eval: the codebook stays as initialised
    z = torch.randn(3, 5, 4)
    before = vq.codebook.detach().clone()
    out = vq(z)
    assert torch.equal(vq.codebook.detach(), before)
    assert out.indices.shape == (3, 5)
    _assert_close(out.quantized, vq.codebook[out.indices].detach())
    brute = torch.cdist(z.reshape(-1, 4), vq.codebook.detach()).argmin(1).view(3, 5)
    assert torch.equal(out.indices, brute)
    e = vq.codebook.detach()[out.indices]
    _assert_close(out.codebook_loss, ((e - z) ** 2).mean())
    _assert_close(out.commitment_loss, ((e - z) ** 2).mean())


def test_vq_straight_through_gradients():
    torch.manual_seed(3)
    vq = VectorQuantizer(8, 3)
    z = torch.randn(2, 4, 3, requires_grad=True)
    out = vq(z)
    _assert_close(out.quantized, vq.codebook[out.indices].detach())  # also in training mode
    upstream = torch.randn_like(z)
    (out.quantized * upstream).sum().backward()
    _assert_close(z.grad, upstream)  # identity through the quantiser
    assert vq.codebook.grad is None or torch.count_nonzero(vq.codebook.grad) == 0
    z.grad = None
    out = vq(z)
    out.codebook_loss.backward()
    assert z.grad is None or torch.count_nonzero(z.grad) == 0  # codebook loss moves only the codes
    assert torch.count_nonzero(vq.codebook.grad) > 0
    vq.codebook.grad = None
    vq(z).commitment_loss.backward()
    assert torch.count_nonzero(z.grad) > 0
    assert vq.codebook.grad is None or torch.count_nonzero(vq.codebook.grad) == 0


def test_vq_initialises_from_data_and_restarts_dead_codes():
    torch.manual_seed(4)
    vq = VectorQuantizer(6, 2, usage_decay=0.5, dead_threshold=0.1)
    z = torch.randn(50, 2) + 10.0  # far from the random initial codes
    vq(z)  # first training batch: every code moves onto the data
    for code in vq.codebook.detach():
        assert (code - z).norm(dim=1).min() < 0.1
    assert vq.usage.sum() > 0
    cluster = torch.full((50, 2), -5.0)  # now all data sits on one point: other codes die
    for _ in range(12):
        vq(cluster)
    # codes the data left behind were restarted onto it
    assert (vq.codebook.detach() - cluster[0]).norm(dim=1).lt(0.1).sum() >= 5
    frozen = vq.codebook.detach().clone()
    vq.eval()
    vq(torch.randn(10, 2) * 100)
    assert torch.equal(vq.codebook.detach(), frozen)


def test_sampling_greedy_ignores_the_uniforms():
    logits = torch.tensor([[0.1, 2.0, 0.3], [1.0, -1.0, 0.5]])
    for u in (0.0, 0.5, 0.999):
        uniform = torch.full((2,), u)
        assert sample_from_logits(logits, uniform, temperature=0.0).tolist() == [1, 0]
        assert sample_from_logits(logits, uniform, temperature=1.3, top_k=1).tolist() == [1, 0]


def test_sampling_inverse_cdf_and_top_k():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    pick = [sample_from_logits(logits, torch.tensor([u])).item() for u in (0.1, 0.49, 0.6, 0.8)]
    assert pick == [0, 0, 1, 2]
    many = torch.rand(4000, generator=torch.Generator().manual_seed(0))
    skewed = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).expand(4000, 3)
    drawn = sample_from_logits(skewed, many, top_k=2)
    assert set(drawn.tolist()) == {0, 1}
    assert (drawn == 0).float().mean().item() == pytest.approx(0.5 / 0.8, abs=0.04)  # renormalised over the 2 kept
    tied = sample_from_logits(logits.expand(4000, 3), many, top_k=2)
    assert set(tied.tolist()) == {0, 1, 2}  # a tie at the k-th value keeps both
    hot = sample_from_logits(logits.expand(4000, 3), many, temperature=100.0)
    assert (hot == 0).float().mean().item() == pytest.approx(1 / 3, abs=0.04)
    with pytest.raises(ValueError):
        sample_from_logits(logits, torch.tensor([0.5]), temperature=-1.0)
    with pytest.raises(ValueError):
        sample_from_logits(logits, torch.tensor([0.5]), top_k=0)


def test_resample_time_aligns_frame_centres():
    x = torch.arange(10.0)[None, :, None]
    _assert_close(resample_time(x, 100.0, 100.0, 10), x)
    half = resample_time(x, 100.0, 50.0, 5)  # 50 Hz frame k covers 100 Hz frames 2k, 2k+1
    _assert_close(half[0, :, 0], torch.tensor([0.5, 2.5, 4.5, 6.5, 8.5]))
    held = resample_time(x, 100.0, 100.0, 14)
    assert held[0, -1, 0] == 9.0  # past the end: hold the last frame
    with pytest.raises(ValueError):
        resample_time(torch.zeros(1, 0, 2), 100.0, 30.0, 3)


def test_intra_op_threads_restores_the_count():
    torch.set_num_threads(2)  # the conftest fixture puts 1 back afterwards
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), intra_op_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
