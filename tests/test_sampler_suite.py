"""The sampler suite: exactness, tails, independence and streams of the noise.

Extends tests/test_reference.py (goodness of fit at scales 0.5 .. 8160) to the
ends of the range — discrete Laplace at scales 0.3, 10^3 and 10^5, discrete
Gaussian at σ = 0.5, 10^3 and 10^4 — for both cores (Rust ``dp_pix._dp_pix``
and pure-Python ``dp_pix._reference``, same entry points), adds tail-mass and
point-mass tests, the independence of the noise across cells, channels, cell
rows and images of one call, and the separation of seeded streams.

Every test carries a power check: the same test, run on a broken sampler or
mechanism, must reject it — a scale 10 % off, a float inverse-CDF sampler
rounded to integers, a Laplace sampler without the "negative zero" rejection,
a sampler whose far tail is cut off, noise correlated with a neighbour,
streams reused across rows, images or calls. Randomness is seeded, so the
outcomes are deterministic, except where a test uses fresh OS randomness on
purpose (the "os-random" cases and the unseeded calls of the stream test).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable
from fractions import Fraction

import dp_pix
import dp_pix.reference
import numpy as np
import pytest
from dp_pix import _dp_pix as rust
from dp_pix import _reference as ref
from scipy import stats

ALPHA = 1e-4  # a correct sampler fails a test with probability <= 1e-4
KERNELS = [pytest.param(rust, id="rust"), pytest.param(ref, id="reference")]
APIS = [pytest.param(dp_pix, id="rust"), pytest.param(dp_pix.reference, id="reference")]


def n_samples(kernel) -> int:
    return 1_000_000 if kernel is rust else 50_000


def seed(*parts: object) -> bytes:
    return hashlib.sha256(repr(("suite", *parts)).encode()).digest()


def numpy_rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(seed(*parts)[:8], "little"))


# ---------------------------------------------------------------------------
# Exact distributions (floats only to judge samples, never to draw them)
# ---------------------------------------------------------------------------


class Laplace:
    """P(Z = z) = (1 − q)/(1 + q) · q^|z|, q = exp(−1/t)."""

    def __init__(self, t: Fraction) -> None:
        self.t = t
        self.tf = float(t)
        self.q = math.exp(-1.0 / self.tf)
        self.half = math.ceil(60 * self.tf) + 10  # mass beyond: < e^-60

    def cdf(self, k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=np.float64)
        neg = np.exp(np.minimum(k, 0) / self.tf) / (1 + self.q)  # k < 0: q^-k/(1+q)
        pos = -np.expm1(-(np.maximum(k, 0) + 1) / self.tf) + np.exp(
            -(np.maximum(k, 0) + 1) / self.tf) * self.q / (1 + self.q)
        # k >= 0: 1 − q^(k+1)/(1+q) = (1 − q^(k+1)) + q^(k+1)·q/(1+q)
        return np.where(k < 0, neg, pos)

    def p_abs_above(self, k: int) -> float:
        """P(|Z| > k), k >= 0: 2·q^(k+1)/(1+q)."""
        return 2 * math.exp(-(k + 1) / self.tf) / (1 + self.q)

    def p_zero(self) -> float:
        return math.tanh(0.5 / self.tf)

    def scale_unit(self) -> float:
        return self.tf


class Gaussian:
    """P(Z = z) ∝ exp(−z²/(2σ²)), tabulated over ±(14σ + 10)."""

    def __init__(self, sigma2: Fraction) -> None:
        self.sigma2 = sigma2
        s2 = float(sigma2)
        self.sigma = math.sqrt(s2)
        self.half = math.ceil(14 * self.sigma) + 10
        z = np.arange(-self.half, self.half + 1, dtype=np.float64)
        w = np.exp(-z * z / (2 * s2))
        self.pmf = w / w.sum()
        self._cdf = np.cumsum(self.pmf)

    def cdf(self, k: np.ndarray) -> np.ndarray:
        idx = np.clip(np.asarray(k) + self.half, -1, 2 * self.half)
        return np.where(idx < 0, 0.0, self._cdf[np.maximum(idx, 0)])

    def p_abs_above(self, k: int) -> float:
        # Summed from the far end: no cancellation in the tail.
        tail = self.pmf[self.half + k + 1:]
        return float(2 * tail.sum())

    def scale_unit(self) -> float:
        return self.sigma


@functools.cache
def laplace(t: Fraction) -> Laplace:
    return Laplace(t)


@functools.cache
def gaussian(sigma2: Fraction) -> Gaussian:
    return Gaussian(sigma2)


def quantiles(dist, probs: np.ndarray) -> np.ndarray:
    """Smallest integer k with cdf(k) >= p, for every p (vectorised bisection)."""
    lo = np.full(probs.shape, -dist.half - 1, dtype=np.int64)  # cdf(lo) < p
    hi = np.full(probs.shape, dist.half, dtype=np.int64)  # cdf(hi) >= p
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = dist.cdf(mid) >= probs
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


def bin_cuts(dist, n: int, bins: int) -> np.ndarray:
    """Cuts c_0 < c_1 < ...: bins (−inf, c_0], (c_0, c_1], ..., (c_last, inf).

    Equal-mass cuts, plus every integer of the core when the support is small,
    then merged so that every bin expects at least 5 samples (tails included).
    """
    cuts = quantiles(dist, np.arange(1, bins) / bins)
    lo, hi = quantiles(dist, np.array([5 / n, 1 - 5 / n]))
    if hi - lo < 2 * bins:
        cuts = np.union1d(cuts, np.arange(lo, hi + 1))
    cuts = np.unique(cuts)
    mass = np.diff(np.concatenate([[0.0], dist.cdf(cuts), [1.0]]))
    kept, acc = [], 0.0
    for c, m in zip(cuts.tolist(), mass[:-1].tolist()):
        acc += m
        if acc * n >= 5:
            kept.append(c)
            acc = 0.0
    if kept and (1.0 - dist.cdf(np.array([kept[-1]]))[0]) * n < 5:
        kept.pop()
    return np.array(kept, dtype=np.int64)


def gof_pvalue(samples: np.ndarray, dist, bins: int = 100) -> float:
    """Chi-square p-value of integer samples against the exact pmf."""
    n = samples.size
    cuts = bin_cuts(dist, n, bins)
    probs = np.diff(np.concatenate([[0.0], dist.cdf(cuts), [1.0]]))
    observed = np.bincount(np.searchsorted(cuts, samples, side="left"), minlength=cuts.size + 1)
    return float(stats.chisquare(observed, probs / probs.sum() * n).pvalue)


def tail_thresholds(dist, n: int, multiples: tuple[float, ...]) -> list[int]:
    """Integer thresholds floor(k·scale) whose tail expects >= 40 of n samples."""
    ks = sorted({math.floor(k * dist.scale_unit()) for k in multiples})
    ks = [k for k in ks if dist.p_abs_above(k) * n >= 40]
    assert ks, "no tail threshold expects 40 samples: draw more"
    return ks


def tail_pvalue(samples: np.ndarray, dist, multiples: tuple[float, ...]) -> float:
    """Bonferroni-combined binomial p-value of P(|Z| > k·scale) against the exact
    tail mass, over the multiples k whose tail expects >= 40 samples."""
    n = samples.size
    mags = np.abs(samples)
    ks = tail_thresholds(dist, n, multiples)
    pvals = [
        stats.binomtest(int((mags > k).sum()), n, dist.p_abs_above(k)).pvalue for k in ks
    ]
    return min(1.0, min(pvals) * len(pvals))


def zero_pvalue(samples: np.ndarray, dist: Laplace) -> float:
    return float(stats.binomtest(int((samples == 0).sum()), samples.size, dist.p_zero()).pvalue)


# ---------------------------------------------------------------------------
# Samplers under test and broken doubles
# ---------------------------------------------------------------------------


def laplace_samples(kernel, t: Fraction, tag: str, n: int | None = None) -> np.ndarray:
    n = n_samples(kernel) if n is None else n
    return kernel.sample(("laplace", t.numerator, t.denominator), n, seed("lap", tag, t))


def gaussian_samples(kernel, sigma2: Fraction, tag: str, n: int | None = None) -> np.ndarray:
    n = n_samples(kernel) if n is None else n
    return kernel.sample(
        ("gaussian", sigma2.numerator, sigma2.denominator), n, seed("gauss", tag, sigma2)
    )


def truncated(samples: np.ndarray, dist, multiples: tuple[float, ...]) -> np.ndarray:
    """Test double: a sampler right in the bulk whose tail is cut off (clamped) at the
    largest threshold the tail test uses."""
    cut = tail_thresholds(dist, samples.size, multiples)[-1]
    return np.clip(samples, -cut, cut)


def float_laplace_rounded(t: Fraction, n: int) -> np.ndarray:
    """Test double: textbook float inverse-CDF Laplace, rounded to an integer."""
    u = numpy_rng("float-laplace", t).random(n) - 0.5
    x = -float(t) * np.sign(u) * np.log1p(-2 * np.abs(u))
    return np.rint(x).astype(np.int64)


def float_gaussian_rounded(sigma2: Fraction, n: int) -> np.ndarray:
    """Test double: a float normal rounded to an integer."""
    return np.rint(numpy_rng("float-gauss", sigma2).normal(0, math.sqrt(sigma2), n)).astype(
        np.int64)


def laplace_without_negative_zero_rejection(t: Fraction, n: int) -> np.ndarray:
    """Test double: CKS Alg. 2 without rejecting (sign −, |Z| = 0): |Z| ~ Geometric(1 − q)
    and a fair sign, so 0 comes out (1 + q) times too often."""
    gen = numpy_rng("no-negative-zero", t)
    mags = gen.geometric(-math.expm1(-1 / float(t)), n) - 1
    return np.where(gen.integers(0, 2, n) == 1, -mags, mags)


OFF_BY_10_PERCENT = (Fraction(11, 10), Fraction(9, 10))
LAPLACE_SCALES = (Fraction(3, 10), Fraction(1000), Fraction(100_000))
GAUSSIAN_SIGMAS = (Fraction(1, 2), Fraction(1000), Fraction(10_000))


def assert_accepts_and_rejects(test: Callable[[np.ndarray], float], good: np.ndarray,
                               bad: dict[str, np.ndarray]) -> None:
    p = test(good)
    assert p > ALPHA, f"the exact sampler is rejected: p = {p:.3g}"
    for name, samples in bad.items():
        p = test(samples)
        assert p < ALPHA, f"power check: {name} is not rejected, p = {p:.3g}"


# ---------------------------------------------------------------------------
# Discrete Laplace: pmf, tails, the point mass at zero
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("t", LAPLACE_SCALES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_laplace_matches_pmf(kernel, t: Fraction) -> None:
    dist = laplace(t)
    bad = {f"scale x {f}": laplace_samples(kernel, t * f, "off") for f in OFF_BY_10_PERCENT}
    if t < 1:
        n = n_samples(kernel)
        bad["float inverse-CDF, rounded"] = float_laplace_rounded(t, n)
        bad["no negative-zero rejection"] = laplace_without_negative_zero_rejection(t, n)
    assert_accepts_and_rejects(lambda s: gof_pvalue(s, dist), laplace_samples(kernel, t, "fit"),
                               bad)


@pytest.mark.parametrize("t", LAPLACE_SCALES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_laplace_tail_mass(kernel, t: Fraction) -> None:
    # P(|Z| > k·t) ≈ e^-k: out to 9 scales on 10^6 samples.
    dist = laplace(t)
    multiples = (3.0, 6.0, 9.0) if kernel is rust else (2.0, 4.0, 6.0)
    if t < 1:  # |Z| > 0, 1, 2, 3
        multiples = tuple(k / float(t) for k in (0.5, 1.5, 2.5, 3.5))
    good = laplace_samples(kernel, t, "tail")
    bad = {f"scale x {f}": laplace_samples(kernel, t * f, "tail-off") for f in OFF_BY_10_PERCENT}
    bad["tail cut off"] = truncated(good, dist, multiples)
    assert_accepts_and_rejects(lambda s: tail_pvalue(s, dist, multiples), good, bad)


@pytest.mark.parametrize("t", LAPLACE_SCALES[:2], ids=str)
def test_laplace_point_mass_at_zero(t: Fraction) -> None:
    # P(Z = 0) = tanh(1/(2t)). Dropping the negative-zero rejection doubles it at
    # large scales: 500 vs 1000 expected zeros at t = 1000 in 10^6 samples. (At
    # t = 10^5 it would take ~10^8 samples to see.)
    dist = laplace(t)
    n = n_samples(rust)
    bad = {"no negative-zero rejection": laplace_without_negative_zero_rejection(t, n)}
    if t < 1:
        bad["float inverse-CDF, rounded"] = float_laplace_rounded(t, n)
    assert_accepts_and_rejects(lambda s: zero_pvalue(s, dist),
                               laplace_samples(rust, t, "zero"), bad)
    # The reference core, on fewer samples, with the same power check.
    n_ref = 200_000 if t < 1 else n_samples(ref)
    if t < 1:
        assert_accepts_and_rejects(
            lambda s: zero_pvalue(s, dist), laplace_samples(ref, t, "zero", n_ref),
            {"no negative-zero rejection": laplace_without_negative_zero_rejection(t, n_ref)})


# ---------------------------------------------------------------------------
# Discrete Gaussian: pmf and tails
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", GAUSSIAN_SIGMAS, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_gaussian_matches_pmf(kernel, sigma: Fraction) -> None:
    dist = gaussian(sigma**2)
    bad = {f"sigma x {f}": gaussian_samples(kernel, (sigma * f) ** 2, "off")
           for f in OFF_BY_10_PERCENT}
    if sigma < 1:
        bad["float normal, rounded"] = float_gaussian_rounded(sigma**2, n_samples(kernel))
    assert_accepts_and_rejects(lambda s: gof_pvalue(s, dist),
                               gaussian_samples(kernel, sigma**2, "fit"), bad)


@pytest.mark.parametrize("sigma", GAUSSIAN_SIGMAS, ids=str)
@pytest.mark.parametrize("kernel", KERNELS)
def test_gaussian_tail_mass(kernel, sigma: Fraction) -> None:
    # P(|Z| > k·σ): out to 4σ on 10^6 samples.
    dist = gaussian(sigma**2)
    multiples = (2.0, 3.0, 4.0) if kernel is rust else (1.5, 2.5, 3.0)
    if sigma < 1:  # |Z| > 0, 1 (and 2 with enough samples)
        multiples = (1.0, 2.0, 4.0)
    good = gaussian_samples(kernel, sigma**2, "tail")
    bad = {f"sigma x {f}": gaussian_samples(kernel, (sigma * f) ** 2, "tail-off")
           for f in OFF_BY_10_PERCENT}
    bad["tail cut off"] = truncated(good, dist, multiples)
    assert_accepts_and_rejects(lambda s: tail_pvalue(s, dist, multiples), good, bad)


# ---------------------------------------------------------------------------
# The noise of one call: independent across cells, channels, rows, images
# ---------------------------------------------------------------------------

# 1x1 cells on a flat mid-grey colour image: released value − 128 is the noise
# itself. ε = 76.5 with m = 1 and 3 channels gives the scale 255·3/76.5 = 10.
FLAT = 128
EPS_SCALE_10 = 76.5
NOISE_SCALE = Fraction(10)


def noise_of(api, n_images: int, size: int, **kw) -> np.ndarray:
    images = np.full((n_images, size, size, 3), FLAT, dtype=np.uint8)
    out = api.dp_pixelate_batch(images, block=1, epsilon=EPS_SCALE_10, m=1, output="grid", **kw)
    return out.astype(np.int64) - FLAT


def noise_shape(api) -> tuple[int, int]:
    # Large enough that a correlation of 0.05 is caught with a margin of about
    # 5 standard deviations, also on the slow reference core (unseeded noise
    # makes the power check itself random).
    return (40, 64) if api is dp_pix else (16, 48)


def lag_pairs(z: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Neighbouring pairs of noise values in every direction of (N, H, W, C)."""
    n, h, w, c = z.shape
    stream = z.reshape(n * h, w * c)  # the order a cell row's stream is consumed in
    return {
        "cells": (z[:, :, :-1], z[:, :, 1:]),
        "rows": (z[:, :-1], z[:, 1:]),
        "images": (z[:-1], z[1:]),
        "channels 0-1": (z[..., 0], z[..., 1]),
        "channels 1-2": (z[..., 1], z[..., 2]),
        "stream lag 1": (stream[:, :-1], stream[:, 1:]),
        "stream lag 2": (stream[:, :-2], stream[:, 2:]),
    }


def correlation_pvalues(z: np.ndarray) -> dict[str, float]:
    """Two-sided p-values of zero correlation (of Z and of |Z|) per direction,
    Bonferroni-corrected over all of them."""
    raw = {}
    for name, (a, b) in lag_pairs(z).items():
        for what, f in (("Z", lambda x: x), ("|Z|", np.abs)):
            x, y = f(a).ravel().astype(np.float64), f(b).ravel().astype(np.float64)
            r = np.corrcoef(x, y)[0, 1]
            raw[f"{name} {what}"] = math.erfc(abs(r) * math.sqrt(x.size) / math.sqrt(2))
    return {k: min(1.0, p * len(raw)) for k, p in raw.items()}


def correlated_double(z: np.ndarray, direction: str, p: float = 0.05) -> np.ndarray:
    """Test double: each value copies its neighbour in ``direction`` with probability p
    (a partly shared stream), correlation ≈ p there and nowhere else."""
    out = z.copy()
    gen = numpy_rng("correlated", direction)
    n, h, w, c = z.shape
    if direction.startswith("stream"):
        flat = out.reshape(n * h, w * c)
        src = z.reshape(n * h, w * c)
        mask = gen.random(flat[:, 1:].shape) < p
        flat[:, 1:][mask] = src[:, :-1][mask]
        return out
    dst, src = {
        "cells": (out[:, :, 1:], z[:, :, :-1]),
        "rows": (out[:, 1:], z[:, :-1]),
        "images": (out[1:], z[:-1]),
        "channels 0-1": (out[..., 1], z[..., 0]),
    }[direction]
    mask = gen.random(dst.shape) < p
    dst[mask] = src[mask]
    return out


@pytest.mark.parametrize("seeded", [True, False], ids=["seeded", "os-random"])
@pytest.mark.parametrize("api", APIS)
def test_noise_is_uncorrelated_across_cells_rows_images(api, seeded: bool) -> None:
    n_images, size = noise_shape(api)
    z = noise_of(api, n_images, size, seed=7 if seeded else None)
    assert z.shape == (n_images, size, size, 3)
    pvals = correlation_pvalues(z)
    assert min(pvals.values()) > ALPHA, {k: v for k, v in pvals.items() if v <= ALPHA}
    # The pooled noise is DLap(10) (seeded streams included), and a 10 % error shows.
    samples = z.ravel()
    assert gof_pvalue(samples, laplace(NOISE_SCALE), 50) > ALPHA
    assert gof_pvalue(samples, laplace(NOISE_SCALE * Fraction(11, 10)), 50) < ALPHA
    # Power: a correlation of ~0.05 in any one direction is caught there.
    for direction in ("cells", "rows", "images", "channels 0-1", "stream lag 1"):
        p = correlation_pvalues(correlated_double(z, direction))
        assert p[f"{direction} Z"] < ALPHA, (direction, p[f"{direction} Z"])


# ---------------------------------------------------------------------------
# Streams: never repeated, across rows, images and calls
# ---------------------------------------------------------------------------

WINDOW = 12  # samples; two DLap(10) windows coincide by chance with p ≈ 0.025^12


def stream_rows(z: np.ndarray) -> np.ndarray:
    """Every cell row's noise in stream order: (N·H, W·C) uint8 (the released bytes)."""
    n, h, w, c = z.shape
    return (z + FLAT).astype(np.uint8).reshape(n * h, w * c)


def repeated_windows(*rows: np.ndarray) -> int:
    """How many windows of WINDOW consecutive samples occur more than once across
    all rows of all arrays (a shared or shifted stream shows up here)."""
    windows = [np.lib.stride_tricks.sliding_window_view(r, WINDOW, axis=1).reshape(-1, WINDOW)
               for r in rows]
    allw = np.ascontiguousarray(np.concatenate(windows))
    keys = allw.view(np.dtype((np.void, WINDOW))).ravel()
    _, counts = np.unique(keys, return_counts=True)
    return int((counts > 1).sum())


def shifted_stream_double(z: np.ndarray, what: str) -> np.ndarray:
    """Test double: one row's (or image's) noise is another's, shifted by one sample."""
    out = z.copy()
    n, h, w, c = z.shape
    flat_out, flat_in = out.reshape(n, h, w * c), z.reshape(n, h, w * c)
    if what == "rows":
        flat_out[0, 1, 1:] = flat_in[0, 0, :-1]
    else:
        flat_out[1, :, 1:] = flat_in[0, :, :-1]
    return out


@pytest.mark.parametrize("api", APIS)
def test_streams_never_repeat(api) -> None:
    n_images, size = noise_shape(api)
    kw = {"block": 1, "epsilon": EPS_SCALE_10, "m": 1, "output": "grid"}
    images = np.full((n_images, size, size, 3), FLAT, dtype=np.uint8)
    pix = api.Pixelizer(seed=21, **kw)
    first, second = pix.batch(images), pix.batch(images)  # a seeded Pixelizer advances
    other_seed = api.dp_pixelate_batch(images, seed=22, **kw)
    unseeded = [api.dp_pixelate_batch(images, **kw) for _ in range(2)]
    calls = [first, second, other_seed, *unseeded]
    rows = [stream_rows(c.astype(np.int64) - FLAT) for c in calls]
    # Every row of every image of every call is a stream of its own.
    assert repeated_windows(*rows) == 0
    # Reproducible: a fresh Pixelizer with the same seed repeats its first call,
    # and image j of a batch is image index j sent alone.
    repeat = api.Pixelizer(seed=21, **kw).batch(images)
    assert np.array_equal(repeat, first)
    j = n_images // 2
    single = api.Pixelizer(seed=21, **kw)
    single.batch(images[:j])  # use up indices 0 .. j-1
    assert np.array_equal(single.batch(images[j:j + 1]), first[j:j + 1])
    # Power: a Pixelizer that did not advance (its second call repeats the first),
    # a row or an image whose stream is another's shifted by one sample.
    z = first.astype(np.int64) - FLAT
    assert repeated_windows(rows[0], stream_rows(repeat.astype(np.int64) - FLAT)) > 0
    assert repeated_windows(stream_rows(shifted_stream_double(z, "rows"))) > 0
    assert repeated_windows(stream_rows(shifted_stream_double(z, "images"))) > 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_seeded_streams_differ_by_seed_image_and_row(kernel) -> None:
    # The kernel entry point directly: stream (seed, image_offset + j, row).
    images = np.full((3, 4, 200, 1), FLAT, dtype=np.uint8)
    args = (1, 1, "partial", "grid", ("laplace", 10, 1))

    def draw(s: bytes, offset: int) -> np.ndarray:
        return kernel.pixelate(images, *args, s, offset)[..., 0]

    a = draw(seed("k", 1), 0)
    assert np.array_equal(a, draw(seed("k", 1), 0))  # same seed: same bytes
    shifted = draw(seed("k", 1), 1)
    assert np.array_equal(a[1:], shifted[:-1])  # image j at offset o is stream o + j
    different = [a, draw(seed("k", 2), 0), shifted[-1:]]
    rows = [r.reshape(-1, 200) for r in different]
    assert repeated_windows(*rows) == 0  # seeds, images and rows all differ
    # Power: the same check flags a stream used twice.
    assert repeated_windows(a.reshape(-1, 200), draw(seed("k", 1), 2)[:1].reshape(-1, 200)) > 0
