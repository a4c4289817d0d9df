"""The Rust core against the pure-Python reference: identical bytes and parameters.

Seeded noise streams differ between the two by design; everything else —
geometry, sums, post-processing given the same noise, calibration — must agree
exactly.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from dp_pix import _dp_pix as rust
from dp_pix import _reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

LAYOUTS = {
    "c": lambda a: a,
    "fortran": np.asfortranarray,
    "reversed": lambda a: a[:, ::-1, ::-1],
    "sliced": lambda a: np.concatenate([a, a], axis=2)[:, :, ::2],
}
SHAPES = [
    (1, 1, 1, 1),
    (1, 13, 17, 1),  # prime sizes
    (2, 7, 5, 3),
    (1, 31, 29, 4),
    (3, 112, 92, 1),
    (1, 3, 2, 3),  # smaller than the block
]
BLOCKS = [(1, 1), (2, 2), (3, 5), (16, 16), (40, 7)]


def images(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def crop_is_empty(shape, block, edges):
    return edges == "crop" and (shape[1] < block[0] or shape[2] < block[1])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("block", BLOCKS, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_mosaic_bytes_identical(shape, block, layout):
    x = LAYOUTS[layout](images(shape))
    for edges in ("partial", "pad", "crop"):
        if crop_is_empty(shape, block, edges):
            continue
        for output in ("full", "grid"):
            a = rust.pixelate(x, *block, edges, output, None, None, 0)
            b = ref.pixelate(x, *block, edges, output, None, None, 0)
            assert a.dtype == b.dtype == np.uint8
            assert np.array_equal(a, b), (edges, output)


def grid_shape(shape, block, edges):
    n, h, w, c = shape
    if edges == "crop":
        return (n, h // block[0], w // block[1], c)
    return (n, -(-h // block[0]), -(-w // block[1]), c)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_post_processing_identical_given_the_same_noise(shape, block):
    x = LAYOUTS["fortran"](images(shape, seed=1))
    rng = np.random.default_rng(2)
    for edges in ("partial", "pad", "crop"):
        if crop_is_empty(shape, block, edges):
            continue
        gs = grid_shape(shape, block, edges)
        scale = 255 * block[0] * block[1]
        # Noise from tiny to far beyond the clamp, and exact half-way sums.
        noise = rng.integers(-2 * scale, 2 * scale, size=gs, dtype=np.int64)
        noise.flat[::3] = rng.integers(-3, 4, size=noise.flat[::3].shape)
        for output in ("full", "grid"):
            a = rust.pixelate(x, *block, edges, output, ("given", noise), None, 0)
            b = ref.pixelate(x, *block, edges, output, ("given", noise), None, 0)
            assert np.array_equal(a, b), (edges, output)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 40), w=st.integers(1, 40), c=st.sampled_from([1, 2, 3, 4]),
    bh=st.integers(1, 45), bw=st.integers(1, 45),
    edges=st.sampled_from(["partial", "pad", "crop"]),
    output=st.sampled_from(["full", "grid"]), seed=st.integers(0, 2**32 - 1),
)
def test_random_geometry_identical(h, w, c, bh, bw, edges, output, seed):
    shape = (1, h, w, c)
    if crop_is_empty(shape, (bh, bw), edges):
        return
    x = images(shape, seed)
    assert np.array_equal(rust.pixelate(x, bh, bw, edges, output, None, None, 0),
                          ref.pixelate(x, bh, bw, edges, output, None, None, 0))
    noise = np.random.default_rng(seed).integers(
        -300 * bh * bw, 300 * bh * bw, size=grid_shape(shape, (bh, bw), edges), dtype=np.int64)
    given = ("given", noise)
    assert np.array_equal(rust.pixelate(x, bh, bw, edges, output, given, None, 0),
                          ref.pixelate(x, bh, bw, edges, output, given, None, 0))


@settings(max_examples=300, deadline=None)
@given(
    epsilon=st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False),
    m=st.integers(1, 10**6), c=st.integers(1, 4),
)
def test_laplace_calibration_identical(epsilon, m, c):
    sens = rust.l1_sensitivity(m, c)
    assert sens == ref.l1_sensitivity(m, c) == 255 * m * c
    try:
        want = ref.laplace_scale(epsilon, sens)
    except ValueError:
        with pytest.raises(ValueError):
            rust.laplace_scale(epsilon, sens)
        return
    assert tuple(rust.laplace_scale(epsilon, sens)) == tuple(want)
    num, den = want
    # Toward more noise: num/den ≥ sens/ε exactly.
    assert Fraction(num, den) >= Fraction(sens) / Fraction(epsilon)


@settings(max_examples=200, deadline=None)
@given(
    rho=st.floats(1e-6, 1e3), m=st.integers(1, 5000), c=st.integers(1, 4),
    bh=st.integers(1, 32), bw=st.integers(1, 32),
)
def test_gaussian_calibration_identical(rho, m, c, bh, bw):
    l2 = rust.l2_sensitivity_sq(m, c, bh, bw)
    assert l2 == ref.l2_sensitivity_sq(m, c, bh, bw)
    try:
        want = ref.gaussian_sigma2(rho, l2)
    except ValueError:
        with pytest.raises(ValueError):
            rust.gaussian_sigma2(rho, l2)
        return
    assert tuple(rust.gaussian_sigma2(rho, l2)) == tuple(want)


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 1.0, 3.0, 10.0])
@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-10])
def test_zcdp_conversion_agrees(epsilon, delta):
    r_rust, r_ref = rust.rho_for(epsilon, delta), ref.rho_for(epsilon, delta)
    assert r_rust == pytest.approx(r_ref, rel=1e-6)
    for r in (r_rust, r_ref):
        # Both conservative: the δ they imply is at most the δ asked for.
        assert rust.delta_for(r, epsilon) <= delta
        assert ref.delta_for(r, epsilon) <= delta
    assert rust.epsilon_for(r_rust, delta) == pytest.approx(epsilon, rel=1e-5)
    assert ref.epsilon_for(r_ref, delta) == pytest.approx(epsilon, rel=1e-5)


def _true_rho(epsilon: float, delta: float) -> float:
    """The largest ρ with δ(ρ, ε) <= δ·(1 − 1e-6), computed independently of
    both cores: δ(ρ, ε) minimised over α by scipy's bounded Brent search on a
    wide bracket, ρ by bisection."""
    from scipy.optimize import minimize_scalar

    def log_delta(rho: float) -> float:
        def f(log_u: float) -> float:
            u = math.exp(log_u)  # α = 1 + u
            return u * ((u + 1) * rho - epsilon) - u * math.log1p(1 / u) - math.log1p(u)

        best = minimize_scalar(f, bounds=(-60, 60), method="bounded",
                               options={"xatol": 1e-13, "maxiter": 5000})
        return min(float(best.fun), 0.0)

    target = math.log(delta * (1 - 1e-6))
    lo, hi = 0.0, 1.0
    while log_delta(hi) <= target:
        lo, hi = hi, 2 * hi
    for _ in range(100):
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 2
        lo, hi = (mid, hi) if log_delta(mid) <= target else (lo, mid)
    return lo


@pytest.mark.parametrize(
    ("epsilon", "delta"),
    [(0.00236, 0.0316), (0.001, 0.5), (0.01, 0.1), (0.1, 1e-6), (1.0, 1e-6), (8.0, 1e-10)],
)
def test_gaussian_calibration_reaches_the_optimum(epsilon: float, delta: float) -> None:
    """Both cores find the best α of the CKS conversion, also when ε ≲ ρ (where
    a bracket around (ε+ρ)/(2ρ) + 1 missed it: a safe but needless excess of noise)."""
    want = _true_rho(epsilon, delta)
    for core in (rust, ref):
        assert core.rho_for(epsilon, delta) == pytest.approx(want, rel=1e-9), core.__name__
