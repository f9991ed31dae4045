"""Multi-head attention: matches the textbook formula, honours masks, and cached decoding equals the full pass."""

from __future__ import annotations

import pytest
import torch

from mmface_studio.engine.models.attention import KVCache, MultiHeadAttention, causal_mask, reference_attention


def _attention(d: int = 16, heads: int = 4, kv_dim: int | None = None) -> MultiHeadAttention:
    torch.manual_seed(0)
    return MultiHeadAttention(d, heads, kv_dim=kv_dim).eval()


def test_matches_reference_formula_with_mask() -> None:
    attn = _attention(kv_dim=12)
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 12)
    mask = torch.rand(2, 5, 7) > 0.4
    mask[..., 0] = True
    out = attn(x, memory, mask=mask)
    q = attn._heads(attn.q_proj(x))
    k, v = attn.project_kv(memory)
    ref = reference_attention(q, k, v, mask[:, None])
    ref = attn.out_proj(ref.transpose(1, 2).reshape(2, 5, 16))
    assert out.shape == (2, 5, 16)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_masked_keys_cannot_influence_output() -> None:
    attn = _attention()
    x, memory = torch.randn(1, 3, 16), torch.randn(1, 6, 16)
    mask = torch.tensor([True, True, False, True, False, False]).expand(3, 6)
    base = attn(x, memory, mask=mask)
    perturbed = memory.clone()
    perturbed[:, ~mask[0]] += 100.0 * torch.randn(1, 3, 16)
    torch.testing.assert_close(attn(x, perturbed, mask=mask), base)
    visible = memory.clone()
    visible[:, 1] += 5.0
    assert not torch.allclose(attn(x, visible, mask=mask), base)


def test_causal_mask_values() -> None:
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    windowed = causal_mask(4, window=2).int().tolist()
    assert windowed == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]


@pytest.mark.parametrize("capacity", [0, 3, 32])
def test_cached_self_attention_equals_full_pass(capacity: int) -> None:
    attn = _attention()
    x = torch.randn(2, 11, 16)
    mask = causal_mask(11, window=4)
    full = attn(x, mask=mask)
    cache = KVCache(capacity)
    steps = [attn(x[:, :3], mask=mask[:3, :3], cache=cache)]  # a prefix in one go, then one at a time
    for i in range(3, 11):
        steps.append(attn(x[:, i : i + 1], mask=mask[i : i + 1, : i + 1], cache=cache))
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 11
    k, v = cache.keys_values()
    assert k.shape == v.shape == (2, 4, 11, 4)


def test_cache_reset_and_empty() -> None:
    cache = KVCache()
    with pytest.raises(RuntimeError):
        cache.keys_values()
    cache.append(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    cache.reset()
    assert cache.length == 0


def test_per_batch_masks_and_mask_type() -> None:
    attn = _attention()
    x = torch.randn(2, 4, 16)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[1, :, 2:] = False
    out = attn(x, mask=mask)
    torch.testing.assert_close(out[0], attn(x[:1])[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out[1], attn(x[1:], x[1:, :2])[0], atol=1e-6, rtol=1e-5)  # keys 2.. hidden
    with pytest.raises(TypeError):
        attn(x, mask=mask.float())
    with pytest.raises(ValueError):
        MultiHeadAttention(10, 3)
