"""Padding and blur: exact adjoints, certified norms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bilevel.operators import GaussianBlur, Identity, gaussian_kernel, make_operator
from bilevel.padding import PADDING_MODES, index_map, pad, pad_adjoint, padding_multiplicities


def _dense(op, shape):
    n = int(np.prod(shape))
    eye = torch.eye(n, dtype=torch.float64).view(n, *shape)
    return op(eye).reshape(n, -1).T  # columns are images of basis vectors


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("p", [1, 3])
def test_pad_adjoint_identity(mode, p):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 8, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 3, 9 + 2 * p, 8 + 2 * p, generator=gen, dtype=torch.float64)
    lhs = (pad(x, p, mode) * g).sum()
    rhs = (x * pad_adjoint(g, p, mode)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_index_map_matches_pad(mode):
    n, p = 7, 3
    x = torch.arange(n, dtype=torch.float64).view(1, 1, 1, n).expand(1, 1, n, n) + 1.0
    padded = pad(x, p, mode)[0, 0, p, :].numpy()
    idx = index_map(n, p, mode)
    expected = np.where(idx >= 0, idx + 1.0, 0.0)
    np.testing.assert_array_equal(padded, expected)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_multiplicities_bound_dense_norms(mode):
    H, W, k = 6, 5, 3
    m = padding_multiplicities(H, W, k, mode)
    P = _dense(lambda v: pad(v.view(-1, 1, H, W), k // 2, mode), (1, H, W))
    assert np.linalg.norm(P.numpy(), 2) ** 2 <= m.pad_norm_sq + 1e-9
    # sum over windows of ||win_k(P w)||^2 <= M_P ||w||^2, tight for some w
    win = []
    for di in range(k):
        for dj in range(k):
            win.append(lambda v, di=di, dj=dj: pad(v.view(-1, 1, H, W), k // 2, mode)[..., di:di + H, dj:dj + W])
    stacked = torch.cat([_dense(f, (1, H, W)) for f in win], dim=0)
    assert np.linalg.norm(stacked.numpy(), 2) ** 2 <= m.window_sum + 1e-9


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("channels", [1, 3])
def test_blur_adjoint(mode, channels):
    op = GaussianBlur(7, 2.0, mode)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, channels, 12, 10, generator=gen, dtype=torch.float64)
    y = torch.randn(2, channels, 12, 10, generator=gen, dtype=torch.float64)
    assert torch.allclose((op.forward(x) * y).sum(), (x * op.adjoint(y)).sum(), rtol=1e-12)
    assert torch.allclose(op.normal(x), op.adjoint(op.forward(x)))


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_blur_norm_bounds_are_certified(mode):
    op = GaussianBlur(5, 1.5, mode)
    H, W = 8, 9
    A = _dense(lambda v: op.forward(v.view(-1, 1, H, W)), (1, H, W)).numpy()
    s = np.linalg.svd(A, compute_uv=False)
    assert s.max() ** 2 <= op.norm_sq_bound(H, W) + 1e-9
    assert s.min() ** 2 >= op.gram_lower_bound(H, W) - 1e-9
    if mode == "circular":  # exact there
        assert op.gram_lower_bound(H, W) == pytest.approx(s.min() ** 2, rel=1e-8)


def test_gaussian_kernel_properties():
    k = gaussian_kernel(7, 2.0)
    assert k.shape == (7, 7)
    assert float(k.sum()) == pytest.approx(1.0)
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0))
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(6, 2.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel(7, -1.0)


def test_identity_and_factory():
    op = Identity()
    x = torch.randn(1, 3, 4, 4)
    assert op.forward(x) is x and op.gram_lower_bound(4, 4) == 1.0
    assert isinstance(make_operator("blur", size=5, sigma=1.0), GaussianBlur)
    with pytest.raises(ValueError, match="unknown operator"):
        make_operator("radon")
    with pytest.raises(ValueError, match="padding"):
        GaussianBlur(7, 2.0, "mirror")
