"""Statistical and unit tests of ``dp_pix._reference``, the pure-Python twin of the Rust core.

Samplers are tested against their exact probability mass functions (chi-square
goodness of fit), and every such test has a power check: the same test, on
samples whose scale is 10 % off (or from a Laplace sampler without the
negative-zero rejection), must reject. All randomness is seeded, so the
outcome is deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import math
from fractions import Fraction

import numpy as np
import pytest
from dp_pix import _dp_pix as rust
from dp_pix import _reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

ALPHA = 1e-4  # p-value threshold: a correct sampler fails with probability 1e-4
N_SAMPLES = 40_000
MAX_BINS = 50

HYPOTHESIS = settings(max_examples=150, deadline=None, database=None)


def _seed(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


# ---------------------------------------------------------------------------
# Goodness of fit machinery
# ---------------------------------------------------------------------------


@functools.cache
def _pmf(kind: str, param: Fraction) -> tuple[int, np.ndarray]:
    """(lowest support value L0, pmf over L0..-L0), tails beyond negligible (< 1e-18)."""
    if kind == "laplace":
        t = float(param)
        half = math.ceil(45 * t) + 10
        z = np.arange(-half, half + 1, dtype=np.float64)
        w = np.exp(-np.abs(z) / t)
    elif kind == "gaussian":
        s2 = float(param)
        half = math.ceil(14 * math.sqrt(s2)) + 10
        z = np.arange(-half, half + 1, dtype=np.float64)
        w = np.exp(-z * z / (2 * s2))
    else:
        raise AssertionError(kind)
    return -half, w / w.sum()


@functools.cache
def _bins(kind: str, param: Fraction, n: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Bin start indices into the pmf array and the bin masses.

    Small supports: one bin per value. Large ones: ~MAX_BINS equal-mass bins.
    Then bins are merged left to right until every expected count is >= 5
    (so the tails are merged).
    """
    low, pmf = _pmf(kind, param)
    # Values that hold 99.9 % of the mass, most likely first.
    core = np.searchsorted(np.cumsum(np.sort(pmf)[::-1]), 0.999) + 1
    if core <= MAX_BINS:
        starts = np.arange(pmf.size)
    else:
        cdf = np.cumsum(pmf)
        cuts = np.searchsorted(cdf, np.arange(1, MAX_BINS) / MAX_BINS)
        starts = np.unique(np.concatenate([[0], cuts + 1]))
        starts = starts[starts < pmf.size]
    masses = np.add.reduceat(pmf, starts)
    merged_starts: list[int] = []
    merged_masses: list[float] = []
    acc_start, acc = None, 0.0
    for s, m in zip(starts.tolist(), masses.tolist()):
        if acc_start is None:
            acc_start = s
        acc += m
        if acc * n >= 5:
            merged_starts.append(acc_start)
            merged_masses.append(acc)
            acc_start, acc = None, 0.0
    if acc_start is not None:  # right tail: merge into the last bin
        merged_masses[-1] += acc
    return low, np.array(merged_starts), np.array(merged_masses)


def _gof_pvalue(samples: np.ndarray, kind: str, param: Fraction) -> float:
    """Chi-square p-value of integer samples against the exact pmf of (kind, param)."""
    n = samples.size
    low, starts, masses = _bins(kind, param, n)
    _, pmf = _pmf(kind, param)
    idx = np.clip(samples - low, 0, pmf.size - 1)
    which = np.searchsorted(starts, idx, side="right") - 1
    observed = np.bincount(which, minlength=starts.size)
    expected = masses / masses.sum() * n
    return float(stats.chisquare(observed, expected).pvalue)


def _bernoulli_pvalue(successes: int, n: int, p: float) -> float:
    expected = np.array([n * p, n * (1 - p)])
    return float(stats.chisquare([successes, n - successes], expected).pvalue)


# ---------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------

LAPLACE_SCALES = [Fraction(1, 2), Fraction(3, 2), Fraction(40), Fraction(8160)]
GAUSSIAN_SIGMAS = [Fraction(4, 5), Fraction(3), Fraction(200)]
OFF_BY_10_PERCENT = [Fraction(11, 10), Fraction(9, 10)]
GAMMAS = [Fraction(1, 3), Fraction(1), Fraction(5, 2)]


# The same sampler tests run on the Rust core's samplers (same entry points).
KERNELS = [pytest.param(ref, id="reference"), pytest.param(rust, id="rust")]


def _laplace_samples(scale: Fraction, tag: str, kernel=ref) -> np.ndarray:
    return kernel.sample(
        ("laplace", scale.numerator, scale.denominator), N_SAMPLES, _seed("laplace", tag, scale)
    )


def _gaussian_samples(sigma2: Fraction, tag: str, kernel=ref) -> np.ndarray:
    return kernel.sample(
        ("gaussian", sigma2.numerator, sigma2.denominator), N_SAMPLES,
        _seed("gaussian", tag, sigma2),
    )


@pytest.mark.parametrize("scale", LAPLACE_SCALES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_discrete_laplace_matches_pmf(scale: Fraction, kernel) -> None:
    p = _gof_pvalue(_laplace_samples(scale, "fit", kernel), "laplace", scale)
    assert p > ALPHA, f"DLap({scale}) rejected against its own pmf, p = {p:.3g}"


@pytest.mark.parametrize("factor", OFF_BY_10_PERCENT, ids=str)
@pytest.mark.parametrize("scale", LAPLACE_SCALES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_discrete_laplace_power(scale: Fraction, factor: Fraction, kernel) -> None:
    # Power check: a scale 10 % off must be rejected by the same test.
    p = _gof_pvalue(_laplace_samples(scale * factor, "power", kernel), "laplace", scale)
    assert p < ALPHA, f"DLap({scale * factor}) not told apart from DLap({scale}), p = {p:.3g}"


def _laplace_without_negative_zero_rejection(scale: Fraction, rng: ref._Randomness) -> int:
    """Test double: CKS Alg. 2 with the "B = 1 and Y = 0" rejection left out (0 too likely)."""
    t, s = scale.numerator, scale.denominator
    while True:
        u = rng.randbelow(t)
        if not ref.bernoulli_exp(Fraction(u, t), rng):
            continue
        v = 0
        while ref.bernoulli_exp(Fraction(1), rng):
            v += 1
        y = (u + t * v) // s
        return -y if rng.randbelow(2) == 1 else y


def test_discrete_laplace_power_negative_zero() -> None:
    scale = Fraction(3, 2)
    rng = ref._Randomness(_seed("negative-zero"))
    samples = np.array(
        [_laplace_without_negative_zero_rejection(scale, rng) for _ in range(N_SAMPLES)]
    )
    p = _gof_pvalue(samples, "laplace", scale)
    assert p < ALPHA, f"Laplace without negative-zero rejection not rejected, p = {p:.3g}"


def test_discrete_laplace_public_sampler_on_fraction() -> None:
    # discrete_laplace(Fraction, rng) is the same algorithm as the batch sampler.
    scale = Fraction(3, 2)
    rng = ref._Randomness(_seed("fraction-api"))
    samples = np.array([ref.discrete_laplace(scale, rng) for _ in range(N_SAMPLES // 2)])
    assert _gof_pvalue(samples, "laplace", scale) > ALPHA


@pytest.mark.parametrize("sigma", GAUSSIAN_SIGMAS, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_discrete_gaussian_matches_pmf(sigma: Fraction, kernel) -> None:
    p = _gof_pvalue(_gaussian_samples(sigma**2, "fit", kernel), "gaussian", sigma**2)
    assert p > ALPHA, f"N_Z(0, {sigma}²) rejected against its own pmf, p = {p:.3g}"


@pytest.mark.parametrize("factor", OFF_BY_10_PERCENT, ids=str)
@pytest.mark.parametrize("sigma", GAUSSIAN_SIGMAS, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_discrete_gaussian_power(sigma: Fraction, factor: Fraction, kernel) -> None:
    # Power check: sigma 10 % off must be rejected by the same test.
    off = (sigma * factor) ** 2
    p = _gof_pvalue(_gaussian_samples(off, "power", kernel), "gaussian", sigma**2)
    assert p < ALPHA, f"N_Z(0, {sigma * factor}²) not told apart from sigma {sigma}, p = {p:.3g}"


def test_discrete_gaussian_public_sampler_on_fraction() -> None:
    sigma2 = Fraction(16, 25)
    rng = ref._Randomness(_seed("fraction-api-gauss"))
    samples = np.array([ref.discrete_gaussian(sigma2, rng) for _ in range(N_SAMPLES // 2)])
    assert _gof_pvalue(samples, "gaussian", sigma2) > ALPHA


def _bernoulli_exp_successes(gamma: Fraction, tag: str) -> int:
    rng = ref._Randomness(_seed("bernoulli_exp", tag, gamma))
    return sum(ref.bernoulli_exp(gamma, rng) for _ in range(N_SAMPLES))


@pytest.mark.parametrize("gamma", GAMMAS, ids=str)
def test_bernoulli_exp_matches(gamma: Fraction) -> None:
    k = _bernoulli_exp_successes(gamma, "fit")
    p = _bernoulli_pvalue(k, N_SAMPLES, math.exp(-gamma))
    assert p > ALPHA, f"Bernoulli(exp(-{gamma})): {k}/{N_SAMPLES}, p = {p:.3g}"


@pytest.mark.parametrize("factor", OFF_BY_10_PERCENT, ids=str)
@pytest.mark.parametrize("gamma", GAMMAS, ids=str)
def test_bernoulli_exp_power(gamma: Fraction, factor: Fraction) -> None:
    k = _bernoulli_exp_successes(gamma * factor, "power")
    p = _bernoulli_pvalue(k, N_SAMPLES, math.exp(-gamma))
    assert p < ALPHA, f"Bernoulli(exp(-{gamma * factor})) passed as exp(-{gamma}), p = {p:.3g}"


def test_bernoulli_exact_rational() -> None:
    rng = ref._Randomness(_seed("bernoulli"))
    k = sum(ref.bernoulli(Fraction(1, 3), rng) for _ in range(N_SAMPLES))
    assert _bernoulli_pvalue(k, N_SAMPLES, 1 / 3) > ALPHA
    assert _bernoulli_pvalue(k, N_SAMPLES, 1.1 / 3) < ALPHA  # power
    assert not any(ref.bernoulli(Fraction(0), rng) for _ in range(100))
    assert all(ref.bernoulli(Fraction(1), rng) for _ in range(100))
    assert all(ref.bernoulli_exp(Fraction(0), rng) for _ in range(100))


def test_sampler_argument_errors() -> None:
    rng = ref._Randomness(_seed("errors"))
    with pytest.raises(ValueError):
        ref.bernoulli(Fraction(3, 2), rng)
    with pytest.raises(ValueError):
        ref.bernoulli_exp(Fraction(-1), rng)
    with pytest.raises(ValueError):
        ref.discrete_laplace(Fraction(0), rng)
    with pytest.raises(ValueError):
        ref.discrete_gaussian(Fraction(-1, 2), rng)
    with pytest.raises(TypeError):
        ref.discrete_laplace(1.5, rng)  # floats are not allowed in the sampling path
    with pytest.raises(ValueError):
        ref._Randomness(b"short")


def test_seeded_samplers_reproducible() -> None:
    a = ref.sample(("laplace", 3, 2), 500, _seed("repro"))
    b = ref.sample(("laplace", 3, 2), 500, _seed("repro"))
    c = ref.sample(("laplace", 3, 2), 500, _seed("repro", 2))
    assert a.dtype == np.int64 and a.shape == (500,)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    g = ref.sample(("gaussian", 9, 1), 500, None)  # unseeded: OS CSPRNG
    assert g.dtype == np.int64 and g.shape == (500,)
    assert ref.sample(("laplace", 1, 1), 0, None).shape == (0,)


# ---------------------------------------------------------------------------
# The kernels draw the right distribution on the sums
# ---------------------------------------------------------------------------


def test_laplace_kernel_noise_distribution() -> None:
    # 1x1 cells on a constant 128 image: value - 128 is the noise itself (|Z| << 127).
    scale = Fraction(3, 1)
    images = np.full((20, 40, 50, 1), 128, dtype=np.uint8)
    out = ref.pixelate(images, 1, 1, "partial", "grid", ("laplace", 3, 1), _seed("k-lap"), 0)
    z = out.astype(np.int64).ravel() - 128
    assert _gof_pvalue(z, "laplace", scale) > ALPHA
    assert _gof_pvalue(z, "laplace", scale * Fraction(11, 10)) < ALPHA


def test_gaussian_kernel_noise_distribution() -> None:
    sigma2 = Fraction(9)
    images = np.full((20, 40, 50, 1), 128, dtype=np.uint8)
    out = ref.pixelate(images, 1, 1, "partial", "grid", ("gaussian", 9, 1), _seed("k-gauss"), 0)
    z = out.astype(np.int64).ravel() - 128
    assert _gof_pvalue(z, "gaussian", sigma2) > ALPHA
    assert _gof_pvalue(z, "gaussian", sigma2 * Fraction(121, 100)) < ALPHA


def test_noise_is_on_the_sums() -> None:
    # 4x4 cells of constant 100: value = rint((1600 + Z) / 16), so Var(value) ~ Var(Z) / 256.
    images = np.full((40, 64, 64, 1), 100, dtype=np.uint8)
    out = ref.pixelate(images, 4, 4, "pad", "grid", ("laplace", 160, 1), _seed("sums"), 0)
    t = 160.0
    var_z = 2 * math.exp(-1 / t) / (1 - math.exp(-1 / t)) ** 2
    expected = var_z / 256 + 1 / 12  # + rounding
    assert abs(out.astype(np.float64).var() / expected - 1) < 0.1


# ---------------------------------------------------------------------------
# Post-processing
# ---------------------------------------------------------------------------


def _post(total: int, n: int) -> int:
    """Post-process one T with divisor n through the kernel: a zero 1 x n cell plus noise T."""
    images = np.zeros((1, 1, n, 1), dtype=np.uint8)
    noise = np.array([[[[total]]]], dtype=np.int64)
    return int(ref.pixelate(images, 1, n, "partial", "grid", ("given", noise), None, 0)[0, 0, 0, 0])


@pytest.mark.parametrize(
    ("total", "n", "expected"),
    [
        (5, 2, 2),  # 2.5 -> 2 (even)
        (7, 2, 4),  # 3.5 -> 4 (even)
        (3, 2, 2),  # 1.5 -> 2
        (1, 2, 0),  # 0.5 -> 0
        (15, 6, 2),  # 2.5 -> 2
        (21, 6, 4),  # 3.5 -> 4
        (1, 3, 0),
        (2, 3, 1),
        (-3, 2, 0),
        (-3, 1, 0),
        (0, 5, 0),
        (255 * 2, 2, 255),
        (255 * 2 - 1, 2, 254),  # 254.5 -> 254 (even)
        (255 * 2 - 3, 2, 254),  # 253.5 -> 254 (even)
        (255 * 3 + 100, 3, 255),
        (10**18, 7, 255),
        (-(10**18), 7, 0),
        (2**63 - 1, 2, 255),  # no int64 overflow in S + Z
        (-(2**63), 2, 0),
    ],
)
def test_round_half_to_even(total: int, n: int, expected: int) -> None:
    assert _post(total, n) == expected


@HYPOTHESIS
@given(
    bh=st.integers(1, 16),
    bw=st.integers(1, 16),
    data=st.data(),
)
def test_rounding_equals_numpy_rint(bh: int, bw: int, data: st.DataObject) -> None:
    n = bh * bw
    k = data.draw(st.integers(1, 12))
    totals = data.draw(st.lists(st.integers(-3 * n, 258 * n), min_size=k, max_size=k))
    images = np.zeros((1, bh, bw * k, 1), dtype=np.uint8)
    noise = np.array(totals, dtype=np.int64).reshape(1, 1, k, 1)
    got = ref.pixelate(images, bh, bw, "pad", "grid", ("given", noise), None, 0)
    want = np.rint(np.clip(noise / n, 0, 255)).astype(np.uint8)
    assert np.array_equal(got, want)


@HYPOTHESIS
@given(
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    bh=st.integers(1, 7),
    bw=st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
)
def test_mosaic_equals_numpy_rint_of_mean(h: int, w: int, bh: int, bw: int, seed: int) -> None:
    gen = np.random.default_rng(seed)
    images = gen.integers(0, 256, (2, h, w, 2), dtype=np.uint8)
    noise_scale = int(gen.integers(0, 3000))
    gh, gw = -(-h // bh), -(-w // bw)
    noise = gen.integers(-noise_scale, noise_scale + 1, (2, gh, gw, 2))
    got = ref.pixelate(images, bh, bw, "partial", "grid", ("given", noise), None, 0)
    sums = np.zeros((2, gh, gw, 2))
    counts = np.zeros((1, gh, gw, 1))
    for i in range(gh):
        for j in range(gw):
            cell = images[:, i * bh : (i + 1) * bh, j * bw : (j + 1) * bw, :]
            sums[:, i, j, :] = cell.sum(axis=(1, 2))
            counts[0, i, j, 0] = cell.shape[1] * cell.shape[2]
    want = np.rint(np.clip((sums + noise) / counts, 0, 255)).astype(np.uint8)
    assert np.array_equal(got, want)


def _naive(images, bh, bw, edges, output, noise):
    """Per-cell Python loop with exact Fraction arithmetic: the oracle for the geometry."""
    n_img, h, w, c = images.shape
    if edges == "crop":
        gh, gw = h // bh, w // bw
    else:
        gh, gw = -(-h // bh), -(-w // bw)
    grid = np.zeros((n_img, gh, gw, c), dtype=np.uint8)
    for k in range(n_img):
        for i in range(gh):
            for j in range(gw):
                r0, r1 = i * bh, min((i + 1) * bh, h)
                c0, c1 = j * bw, min((j + 1) * bw, w)
                count = (r1 - r0) * (c1 - c0) if edges == "partial" else bh * bw
                for ch in range(c):
                    s = sum(int(v) for v in images[k, r0:r1, c0:c1, ch].ravel())
                    x = Fraction(s + int(noise[k, i, j, ch]), count)
                    grid[k, i, j, ch] = round(min(max(x, Fraction(0)), Fraction(255)))
    if output == "grid":
        return grid
    ho, wo = (gh * bh, gw * bw) if edges == "crop" else (h, w)
    full = np.zeros((n_img, ho, wo, c), dtype=np.uint8)
    for y in range(ho):
        for x in range(wo):
            full[:, y, x, :] = grid[:, y // bh, x // bw, :]
    return full


GEOMETRIES = [
    # (N, H, W, C, bh, bw)
    (1, 5, 7, 1, 2, 3),
    (2, 4, 4, 3, 2, 2),
    (1, 1, 1, 1, 1, 1),
    (1, 3, 2, 2, 5, 4),  # block larger than the image (not for crop)
    (3, 9, 10, 1, 4, 3),
    (1, 6, 1, 4, 1, 1),
    (2, 11, 13, 3, 5, 6),
]


@pytest.mark.parametrize("output", ["grid", "full"])
@pytest.mark.parametrize("edges", ["partial", "pad", "crop"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_geometry_matches_naive_loop(geometry, edges: str, output: str) -> None:
    n_img, h, w, c, bh, bw = geometry
    if edges == "crop" and (h < bh or w < bw):
        pytest.skip("the API refuses a crop that leaves nothing")
    gen = np.random.default_rng(sum(geometry))
    images = gen.integers(0, 256, (n_img, h, w, c), dtype=np.uint8)
    gh, gw = (h // bh, w // bw) if edges == "crop" else (-(-h // bh), -(-w // bw))
    for noise in (np.zeros((n_img, gh, gw, c), np.int64),
                  gen.integers(-40 * bh * bw, 40 * bh * bw, (n_img, gh, gw, c))):
        got = ref.pixelate(images, bh, bw, edges, output, ("given", noise), None, 0)
        want = _naive(images, bh, bw, edges, output, noise)
        assert got.dtype == np.uint8 and got.flags.c_contiguous
        assert got.shape == want.shape
        assert np.array_equal(got, want)
    assert np.array_equal(
        ref.pixelate(images, bh, bw, edges, output, None, None, 0),
        _naive(images, bh, bw, edges, output, np.zeros((n_img, gh, gw, c), np.int64)),
    )


def test_partial_edges_are_unbiased_and_pad_is_darker() -> None:
    images = np.full((1, 5, 5, 1), 200, dtype=np.uint8)
    partial = ref.pixelate(images, 4, 4, "partial", "grid", None, None, 0)
    pad = ref.pixelate(images, 4, 4, "pad", "grid", None, None, 0)
    crop = ref.pixelate(images, 4, 4, "crop", "full", None, None, 0)
    assert np.all(partial == 200)
    assert pad[0, :, :, 0].tolist() == [[200, 50], [50, 12]]  # 800/16, 200/16 = 12.5 -> 12
    assert crop.shape == (1, 4, 4, 1) and np.all(crop == 200)


def _strided_variants(base: np.ndarray) -> list[np.ndarray]:
    n_img, h, w, c = base.shape
    rev = np.ascontiguousarray(base[:, ::-1, ::-1, ::-1])
    big = np.zeros((n_img, 2 * h, 3 * w, c + 1), dtype=np.uint8)
    big[:, ::2, ::3, :c] = base
    channels_first = np.ascontiguousarray(base.transpose(0, 3, 1, 2))
    return [
        np.asfortranarray(base),
        rev[:, ::-1, ::-1, ::-1],  # negative strides everywhere
        big[:, ::2, ::3, :c],  # non-unit positive strides
        channels_first.transpose(0, 2, 3, 1),  # a transposed view
        np.asfortranarray(base)[::-1][::-1],
    ]


@pytest.mark.parametrize("edges", ["partial", "pad", "crop"])
def test_any_strides(edges: str) -> None:
    gen = np.random.default_rng(7)
    base = gen.integers(0, 256, (3, 13, 11, 3), dtype=np.uint8)
    seed = _seed("strides")
    gh, gw = (13 // 4, 11 // 3) if edges == "crop" else (4, 4)
    noise = gen.integers(-500, 500, (3, gh, gw, 3))
    kernels = [
        lambda x: ref.pixelate(x, 4, 3, edges, "full", None, None, 0),
        lambda x: ref.pixelate(x, 4, 3, edges, "grid", ("given", noise), None, 0),
        lambda x: ref.pixelate(x, 4, 3, edges, "full", ("laplace", 765, 2), seed, 5),
        lambda x: ref.pixelate(x, 4, 3, edges, "grid", ("gaussian", 9000, 7), seed, 5),
        lambda x: ref.pixelate(x, 4, 3, edges, "full", ("float-laplace", 12.5), seed, 5),
    ]
    for kernel in kernels:
        want = kernel(base)
        for view in _strided_variants(base):
            assert np.array_equal(view, base)
            got = kernel(view)
            assert got.flags.c_contiguous and got.dtype == np.uint8
            assert np.array_equal(got, want)


# ---------------------------------------------------------------------------
# Streams, seeds, baselines
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
def test_seeded_streams_and_image_offset(mechanism: str) -> None:
    def run(images, seed, offset, output="grid"):
        if mechanism == "laplace":
            return ref.pixelate(images, 2, 2, "partial", output, ("laplace", 40, 1), seed, offset)
        return ref.pixelate(images, 2, 2, "partial", output, ("gaussian", 1600, 1), seed, offset)

    images = np.full((4, 7, 9, 2), 128, dtype=np.uint8)
    seed = _seed("streams", mechanism)
    a = run(images, seed, 0)
    assert a.shape == (4, 4, 5, 2)
    assert np.array_equal(a, run(images, seed, 0))
    assert not np.array_equal(a, run(images, _seed("other"), 0))
    # Image j of a batch uses stream image_offset + j: a slice sent alone with its
    # index as offset gives the same bytes.
    for j in range(4):
        assert np.array_equal(run(images[j : j + 1], seed, j), a[j : j + 1])
    assert np.array_equal(run(images[2:], seed, 2), a[2:])
    # Every (image, row) gets its own noise.
    rows = {a[j, i].tobytes() for j in range(4) for i in range(4)}
    assert len(rows) == 16
    # Full output: each cell's value on all of its pixels.
    full = run(images, seed, 0, "full")
    expanded = np.repeat(np.repeat(a, 2, axis=1), 2, axis=2)[:, :7, :9]
    assert np.array_equal(full, expanded)
    # numpy integers as parameters behave like Python ints (no int64 overflow inside).
    if mechanism == "laplace":
        numpy_args = ref.pixelate(
            images, 2, 2, "partial", "grid", ("laplace", np.int64(40), np.int64(1)), seed,
            np.int64(0),
        )
        assert np.array_equal(numpy_args, a)
    # Unseeded: fresh OS randomness, two calls differ.
    assert not np.array_equal(run(images, None, 0), run(images, None, 0))


def test_noisy_pixelate_baseline() -> None:
    gen = np.random.default_rng(3)
    images = gen.integers(0, 256, (5, 20, 30, 1), dtype=np.uint8)
    seed = _seed("noisy")
    for edges in ("partial", "pad", "crop"):
        mosaic = ref.pixelate(images, 3, 4, edges, "full", None, None, 0)
        for noise in ("gaussian", "laplace"):
            zero = ref.pixelate(images, 3, 4, edges, "full", ("float-" + noise, 0.0), seed, 0)
            assert np.array_equal(zero, mosaic)
    a = ref.pixelate(images, 3, 4, "partial", "grid", ("float-gaussian", 5.0), seed, 0)
    assert np.array_equal(a, ref.pixelate(images, 3, 4, "partial", "grid",
                                          ("float-gaussian", 5.0), seed, 0))
    assert np.array_equal(a[3:], ref.pixelate(images[3:], 3, 4, "partial", "grid",
                                              ("float-gaussian", 5.0), seed, 3))
    # Noise in grey levels: std of (noisy - mosaic) close to sigma on mid-grey cells.
    flat = np.full((50, 60, 60, 1), 128, dtype=np.uint8)
    for noise, sigma, std in (("gaussian", 10.0, 10.0), ("laplace", 6.0, 6.0 * math.sqrt(2))):
        out = ref.pixelate(flat, 4, 4, "pad", "grid", ("float-" + noise, sigma), None, 0)
        assert abs(out.astype(np.float64).std() / math.hypot(std, 12**-0.5) - 1) < 0.05


# ---------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------


def _spec_round_up(x: Fraction) -> Fraction:
    """KERNEL_SPEC's definition, written out independently."""
    k = max(k for k in range(49) if math.ceil(x * 2**k) <= 2**48)
    return Fraction(math.ceil(x * 2**k), 2**k)


@HYPOTHESIS
@given(a=st.integers(1, 2**70), b=st.integers(1, 2**70))
def test_round_up_ratio_properties(a: int, b: int) -> None:
    x = Fraction(a, b)
    if math.ceil(x) > 2**48:
        with pytest.raises(ValueError, match="too large"):
            ref.round_up_ratio(x)
        return
    num, den = ref.round_up_ratio(x)
    assert isinstance(num, int) and isinstance(den, int)
    r = Fraction(num, den)
    assert r >= x  # rounds toward more noise
    assert 1 <= num <= 2**48
    assert den & (den - 1) == 0 and den <= 2**48  # a power of two
    assert den == 1 or num % 2 == 1  # halved as far as possible
    assert r == _spec_round_up(x)
    if x >= 1:
        assert (r - x) / x <= Fraction(1, 2**40)


def test_round_up_ratio_cases() -> None:
    assert ref.round_up_ratio(Fraction(8160)) == (8160, 1)
    assert ref.round_up_ratio(Fraction(6, 4)) == (3, 2)
    assert ref.round_up_ratio(Fraction(3, 8)) == (3, 8)
    assert ref.round_up_ratio(2**48) == (2**48, 1)
    # ceil(2**48 / 3) is even: halved once.
    assert ref.round_up_ratio(Fraction(1, 3)) == (math.ceil(Fraction(2**48, 3)) // 2, 2**47)
    assert ref.round_up_ratio(Fraction(1, 10**30)) == (1, 2**48)
    with pytest.raises(ValueError, match="too large"):
        ref.round_up_ratio(Fraction(2**49 + 1, 2))
    for bad in (Fraction(0), Fraction(-1, 2), -3):
        with pytest.raises(ValueError):
            ref.round_up_ratio(bad)


def test_laplace_scale_and_gaussian_sigma2() -> None:
    assert ref.laplace_scale(0.5, 4080) == (8160, 1)
    assert ref.laplace_scale(1.0, 255) == (255, 1)
    num, den = ref.laplace_scale(0.1, 4080)  # 0.1 is not exact: rounded up, never down
    assert Fraction(num, den) >= Fraction(4080) / Fraction(0.1)
    assert Fraction(num, den) - Fraction(4080) / Fraction(0.1) <= Fraction(1, 2**30)
    assert ref.gaussian_sigma2(0.5, 65025) == (65025, 1)
    num, den = ref.gaussian_sigma2(0.3, 65025 * 256)
    assert Fraction(num, den) >= Fraction(65025 * 256) / (2 * Fraction(0.3))
    with pytest.raises(ValueError, match="too large"):
        ref.laplace_scale(1e-20, 4080)
    for eps in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            ref.laplace_scale(eps, 4080)
        with pytest.raises(ValueError):
            ref.gaussian_sigma2(eps, 4080)
    with pytest.raises(ValueError):
        ref.laplace_scale(0.5, 0)
    with pytest.raises(TypeError):
        ref.laplace_scale(0.5, 4080.0)


def test_sensitivities() -> None:
    assert ref.l1_sensitivity(16, 1) == 4080
    assert ref.l1_sensitivity(16, 3) == 3 * 4080
    assert ref.l2_sensitivity_sq(16, 1, 16, 16) == (255 * 16) ** 2  # m <= A: (255 m)² C
    assert ref.l2_sensitivity_sq(16, 3, 4, 4) == 3 * (255 * 16) ** 2
    assert ref.l2_sensitivity_sq(300, 1, 16, 16) == 255**2 * (256**2 + 44**2)
    assert ref.l2_sensitivity_sq(5, 2, 1, 1) == 255**2 * 2 * 5  # 1x1 cells: 255² C m
    with pytest.raises(ValueError):
        ref.l1_sensitivity(0, 1)
    with pytest.raises(ValueError):
        ref.l2_sensitivity_sq(16, 1, 0, 4)


@HYPOTHESIS
@given(m=st.integers(1, 5000), c=st.integers(1, 4), bh=st.integers(1, 20), bw=st.integers(1, 20))
def test_l2_sensitivity_bounds(m: int, c: int, bh: int, bw: int) -> None:
    l2 = ref.l2_sensitivity_sq(m, c, bh, bw)
    assert 255**2 * c * m <= l2 <= ref.l1_sensitivity(m, c) ** 2
    assert l2 <= 255**2 * c * m**2  # never worse than all m pixels in one cell


def test_delta_for_monotone_and_tight() -> None:
    rhos = [1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0, 5.0]
    epsilons = [0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0]
    table = np.array([[ref.delta_for(r, e) for e in epsilons] for r in rhos])
    assert np.all((table >= 0) & (table <= 1))  # 0.0 where delta underflows (< 1e-308)
    assert np.all(np.diff(table, axis=1) <= 0)  # decreasing in epsilon
    assert np.all(np.diff(table, axis=0) >= 0)  # increasing in rho
    for r in rhos:
        for e in epsilons:
            d = ref.delta_for(r, e)
            # The search finds the minimum over alpha: no alpha on a fine grid does better.
            alphas = 1 + np.logspace(-6, 6, 4001)
            log_bound = ((alphas - 1) * (alphas * r - e) - np.log(alphas - 1)
                         + alphas * np.log1p(-1 / alphas))
            if d > 0:
                assert math.log(d) <= min(log_bound.min(), 0.0) + 1e-9
            else:
                assert log_bound.min() < -700
            # CKS is never worse than the standard bound exp(-(eps - rho)² / (4 rho)).
            if e > r:
                assert d <= math.exp(-((e - r) ** 2) / (4 * r)) * (1 + 1e-9)
    assert ref.delta_for(0.5, 0.0) <= 1.0
    for bad in ((0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0), (1.0, -1.0), (1.0, math.inf)):
        with pytest.raises(ValueError):
            ref.delta_for(*bad)


@pytest.mark.parametrize("delta", [1e-3, 1e-5, 1e-9])
@pytest.mark.parametrize("epsilon", [0.1, 0.5, 1.0, 3.0, 10.0])
def test_rho_epsilon_round_trips_are_conservative(epsilon: float, delta: float) -> None:
    rho = ref.rho_for(epsilon, delta)
    assert 0 < rho and ref.delta_for(rho, epsilon) <= delta * (1 - 1e-6)
    assert ref.delta_for(rho * (1 + 1e-9), epsilon) > delta * (1 - 1e-6) * (1 - 1e-6)
    eps_back = ref.epsilon_for(rho, delta)
    assert ref.delta_for(rho, eps_back) <= delta * (1 - 1e-6)
    assert eps_back <= epsilon * (1 + 1e-12)
    assert eps_back >= epsilon * (1 - 1e-6)
    rho_back = ref.rho_for(eps_back, delta)
    assert rho_back >= rho * (1 - 1e-12)
    assert ref.delta_for(rho_back, eps_back) <= delta


def test_calibration_argument_errors() -> None:
    for bad in (0.0, 1.0, -0.5, math.nan):
        with pytest.raises(ValueError):
            ref.rho_for(1.0, bad)
        with pytest.raises(ValueError):
            ref.epsilon_for(0.1, bad)
    with pytest.raises(ValueError):
        ref.rho_for(0.0, 1e-5)
    with pytest.raises(ValueError):
        ref.epsilon_for(-1.0, 1e-5)
