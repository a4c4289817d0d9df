"""End to end: the released grey levels carry exactly the noise the guarantee implies.

On flat images every cell's output is base + round(Z/n); its exact distribution
follows from the sampler's pmf, so the sample variance is compared with the
exact variance by a z-test. Each test also shows that the same test rejects
the variance of a mechanism whose noise scale is 10 % off.
"""

from __future__ import annotations

import math

import dp_pix
import dp_pix.reference
import numpy as np
import pytest

BACKENDS = [pytest.param(dp_pix, id="rust"), pytest.param(dp_pix.reference, id="reference")]
Z_LIMIT = 5.0  # two-sided p ≈ 6e-7 per test


def laplace_pmf(t: float) -> tuple[np.ndarray, np.ndarray]:
    z = np.arange(-int(60 * t) - 10, int(60 * t) + 11)
    q = math.exp(-1 / t)
    return z, (1 - q) / (1 + q) * q ** np.abs(z)


def gaussian_pmf(sigma2: float) -> tuple[np.ndarray, np.ndarray]:
    s = math.sqrt(sigma2)
    z = np.arange(-int(40 * s) - 10, int(40 * s) + 11)
    w = np.exp(-(z.astype(float) ** 2) / (2 * sigma2))
    return z, w / w.sum()


def released_moments(z, p, base: int, n: int) -> tuple[float, float, float]:
    """Mean, variance and 4th central moment of rint(clip((base·n + Z)/n, 0, 255))."""
    g = np.rint(np.clip((base * n + z) / n, 0, 255))
    mean = float((p * g).sum())
    var = float((p * (g - mean) ** 2).sum())
    m4 = float((p * (g - mean) ** 4).sum())
    return mean, var, m4


def z_score(sample: np.ndarray, var: float, m4: float) -> float:
    se = math.sqrt((m4 - var**2) / sample.size)
    return (float(sample.var()) - var) / se


@pytest.mark.parametrize("api", BACKENDS)
@pytest.mark.parametrize("channels", [1, 3])
def test_laplace_noise_matches_the_guarantee(api, channels):
    m, block, eps = 16, 16, 3.1875  # grey-level scale 5 on an interior grey cell
    extra = (channels,) if channels > 1 else ()
    kw = {"block": block, "epsilon": eps, "m": m, "output": "grid"}
    # All cells interior (16×16), then all cells partial edge cells (16×12).
    interior = api.dp_pixelate_batch(np.full((300, 112, 96) + extra, 128, np.uint8), **kw)
    edge = api.dp_pixelate_batch(np.full((2000, 112, 12) + extra, 128, np.uint8), **kw)
    interior, edge = interior.ravel().astype(float), edge.ravel().astype(float)
    t = 255 * m * channels / eps  # Δ1/ε, exactly representable here
    assert api.Pixelizer(block=block, epsilon=eps, m=m).describe(channels)["scale"] == t

    for sample, n in ((interior, 256), (edge, 16 * 12)):
        z, p = laplace_pmf(t)
        _, var, m4 = released_moments(z, p, 128, n)
        assert abs(z_score(sample, var, m4)) < Z_LIMIT
        # Power: the same test rejects a scale 10 % too small or too large.
        for wrong in (0.9 * t, 1.1 * t):
            zw, pw = laplace_pmf(wrong)
            _, var_w, m4_w = released_moments(zw, pw, 128, n)
            assert abs(z_score(sample, var_w, m4_w)) > Z_LIMIT
    # Partial edge cells (16×12) carry (256/192)² more grey-level variance.
    ratio = edge.var() / interior.var()
    assert 1.5 < ratio < 2.1, ratio


@pytest.mark.parametrize("api", BACKENDS)
def test_gaussian_noise_matches_the_guarantee(api):
    m, block, eps, delta = 16, 16, 2.0, 1e-6
    images = np.full((400, 112, 96), 100, np.uint8)
    p = api.Pixelizer(block=block, epsilon=eps, m=m, mechanism="gaussian", delta=delta)
    out = p.batch(images).reshape(400, 7, 16, 6, 16)[:, :, 0, :, 0].ravel().astype(float)
    sigma2 = p.describe()["scale"] ** 2
    z, pm = gaussian_pmf(sigma2)
    _, var, m4 = released_moments(z, pm, 100, 256)
    assert abs(z_score(out, var, m4)) < Z_LIMIT
    for wrong in (0.9**2 * sigma2, 1.1**2 * sigma2):
        zw, pw = gaussian_pmf(wrong)
        _, var_w, m4_w = released_moments(zw, pw, 100, 256)
        assert abs(z_score(out, var_w, m4_w)) > Z_LIMIT


@pytest.mark.parametrize("api", BACKENDS)
def test_pad_mode_darkens_edge_cells(api):
    images = np.full((200, 20, 20), 160, np.uint8)
    out = api.dp_pixelate_batch(images, block=8, epsilon=4.0, m=1, edges="pad", output="grid")
    # Edge cells 8×4 (and 4×4) of 64: 160·32/64 = 80, 160·16/64 = 40, unbiased noise.
    assert abs(out[:, :2, :2].mean() - 160) < 1
    assert abs(out[:, :2, 2].mean() - 80) < 1
    assert abs(out[:, 2, 2].mean() - 40) < 1


def test_noise_is_per_cell_not_per_pixel():
    """Every pixel of a cell carries the same value in full output."""
    img = np.full((64, 64), 128, np.uint8)
    out = dp_pix.dp_pixelate(img, block=8, epsilon=0.5, m=4).reshape(8, 8, 8, 8)
    assert (out == out[:, :1, :, :1]).all()
    assert len(np.unique(out[:, 0, :, 0])) > 5
