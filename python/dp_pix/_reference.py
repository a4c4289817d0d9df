"""Pure-Python/numpy twin of the Rust kernels of dp-pix (``dp_pix._dp_pix``).

This module implements the kernel contract of ``docs/kernel-contract.md`` with
numpy for the pixel work and exact samplers on Python integers and
:class:`fractions.Fraction` for the noise (Canonne, Kamath, Steinke, "The
Discrete Gaussian for Differential Privacy", 2020, Algorithms 1-3). It has two
jobs:

* the **cross-check** of the compiled core: the cell sums, the integer
  post-processing (clamp, round half to even), the output geometry and the
  noise distributions must agree with the Rust kernels;
* the **fallback** used by ``dp_pix`` when the extension cannot be loaded.

It is slow: the pixel work is vectorised, but every noise sample is drawn by
a Python loop (a few microseconds to a few tens of microseconds each).

Randomness. Unseeded calls draw from :func:`secrets.randbelow` (the operating
system's CSPRNG). A ``seed`` (exactly 32 bytes) makes the output reproducible:
the noise of image ``image_offset + j`` and cell row ``r`` then comes from a
:class:`random.Random` (Mersenne Twister) stream derived from
``(seed, image, r)``. That generator is **for reproducibility of this
reference only, not for security**. The seeded streams of this module differ
from the Rust core's: for the same seed the two back-ends give different bytes;
only the post-processing and the distributions agree.

Nothing here imports the compiled extension.
"""

from __future__ import annotations

import math
import operator
import random
import secrets
from collections.abc import Callable
from fractions import Fraction
from numbers import Integral, Rational, Real
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------
# Randomness
# ---------------------------------------------------------------------------


class _Randomness:
    """Uniform integers for the exact samplers: ``randbelow(n)`` in ``0..n-1``.

    ``seed=None``: :func:`secrets.randbelow` (OS CSPRNG), ``image``/``row``
    ignored. ``seed`` given (32 bytes): a :class:`random.Random` seeded with
    ``int.from_bytes(seed, "little") * 2**128 + image * 2**64 + row``, one
    stream per (image, cell row). Seeded streams exist for reproducibility of
    the reference (tests, papers); they are not cryptographically secure.
    """

    __slots__ = ("randbelow", "seeded")
    randbelow: Callable[[int], int]
    seeded: bool

    def __init__(self, seed: bytes | None = None, image: int = 0, row: int = 0) -> None:
        if seed is None:
            self.randbelow = secrets.randbelow
            self.seeded = False
            return
        seed = bytes(seed)
        if len(seed) != 32:
            raise ValueError(f"seed must be exactly 32 bytes, got {len(seed)}")
        if not (0 <= image < 2**64 and 0 <= row < 2**64):
            raise ValueError("image and row stream indices must be in 0..2**64-1")
        gen = random.Random(int.from_bytes(seed, "little") * 2**128 + image * 2**64 + row)
        getrandbits = gen.getrandbits

        def randbelow(n: int) -> int:
            # Rejection sampling on k-bit integers, like CPython's _randbelow.
            if n <= 0:
                raise ValueError("randbelow needs n >= 1")
            k = n.bit_length()
            x = getrandbits(k)
            while x >= n:
                x = getrandbits(k)
            return x

        self.randbelow = randbelow
        self.seeded = True


# ---------------------------------------------------------------------------
# Exact samplers (integers and rationals only; no floating point)
# ---------------------------------------------------------------------------


def _as_fraction(x: object, name: str) -> Fraction:
    if isinstance(x, bool) or not isinstance(x, Rational):
        raise TypeError(f"{name} must be an int or a fractions.Fraction, got {type(x).__name__}")
    return Fraction(x)


def _bernoulli_ratio(num: int, den: int, rng: _Randomness) -> bool:
    """Bernoulli(num/den) for integers 0 <= num <= den, den >= 1."""
    return rng.randbelow(den) < num


def _bernoulli_exp_le1(num: int, den: int, rng: _Randomness) -> bool:
    """Bernoulli(exp(-num/den)) for 0 <= num <= den (CKS 2020 Alg. 1, gamma in [0, 1])."""
    randbelow = rng.randbelow
    k = 1
    # A ~ Bernoulli(gamma / k) = Bernoulli(num / (den * k)).
    while randbelow(den * k) < num:
        k += 1
    return k % 2 == 1


def _bernoulli_exp_ratio(num: int, den: int, rng: _Randomness) -> bool:
    """Bernoulli(exp(-num/den)) for num >= 0, den >= 1 (any gamma >= 0)."""
    whole, frac = divmod(num, den)
    # exp(-gamma) = exp(-1)**floor(gamma) * exp(-(gamma - floor(gamma))).
    for _ in range(whole):
        if not _bernoulli_exp_le1(1, 1, rng):
            return False
    return _bernoulli_exp_le1(frac, den, rng)


def bernoulli(p: Fraction, rng: _Randomness) -> bool:
    """Exact Bernoulli(p) for a rational ``0 <= p <= 1``."""
    p = _as_fraction(p, "p")
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return _bernoulli_ratio(p.numerator, p.denominator, rng)


def bernoulli_exp(gamma: Fraction, rng: _Randomness) -> bool:
    """Exact Bernoulli(exp(-gamma)) for a rational ``gamma >= 0`` (CKS 2020 Alg. 1).

    For gamma > 1: floor(gamma) Bernoulli(exp(-1)) trials (stopping at the first
    failure), then one Bernoulli(exp(-(gamma - floor(gamma)))).
    """
    gamma = _as_fraction(gamma, "gamma")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    return _bernoulli_exp_ratio(gamma.numerator, gamma.denominator, rng)


def _discrete_laplace_ratio(t: int, s: int, rng: _Randomness) -> int:
    """Discrete Laplace of scale t/s (t, s >= 1 integers), CKS 2020 Alg. 2."""
    randbelow = rng.randbelow
    while True:
        u = randbelow(t)
        if not _bernoulli_exp_le1(u, t, rng):
            continue
        v = 0
        while _bernoulli_exp_le1(1, 1, rng):
            v += 1
        y = (u + t * v) // s
        negative = randbelow(2) == 1
        if negative and y == 0:
            continue  # reject "negative zero", else 0 would be twice as likely
        return -y if negative else y


def discrete_laplace(scale: Fraction, rng: _Randomness) -> int:
    """Exact discrete Laplace sample, ``P(Z = z) ∝ exp(-|z| / scale)`` (CKS 2020 Alg. 2)."""
    scale = _as_fraction(scale, "scale")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return _discrete_laplace_ratio(scale.numerator, scale.denominator, rng)


def _discrete_gaussian_ratio(p: int, q: int, rng: _Randomness) -> int:
    """Discrete Gaussian of variance sigma2 = p/q (p, q >= 1), CKS 2020 Alg. 3."""
    t = math.isqrt(p * q) // q + 1  # floor(sigma) + 1, exactly
    # gamma = (|Y| - sigma2/t)**2 / (2 sigma2) = (|Y| q t - p)**2 / (2 p q t**2)
    gamma_den = 2 * p * q * t * t
    qt = q * t
    while True:
        y = _discrete_laplace_ratio(t, 1, rng)
        d = abs(y) * qt - p
        if _bernoulli_exp_ratio(d * d, gamma_den, rng):
            return y


def discrete_gaussian(sigma2: Fraction, rng: _Randomness) -> int:
    """Exact discrete Gaussian sample, ``P(Z = z) ∝ exp(-z² / (2 sigma2))`` (CKS 2020 Alg. 3)."""
    sigma2 = _as_fraction(sigma2, "sigma2")
    if sigma2 <= 0:
        raise ValueError(f"sigma2 must be > 0, got {sigma2}")
    return _discrete_gaussian_ratio(sigma2.numerator, sigma2.denominator, rng)


# ---------------------------------------------------------------------------
# The noise spec of the entry points (docs/kernel-contract.md)
# ---------------------------------------------------------------------------

_LAWS = "'laplace', 'gaussian', 'float-gaussian', 'float-laplace' or 'given'"
# The items after the name, per law.
_FORMS = {
    "laplace": ("num", "den"),
    "gaussian": ("num", "den"),
    "float-gaussian": ("sigma",),
    "float-laplace": ("scale",),
    "given": ("z",),
}


def _index(value: Any, name: str) -> int:
    """A whole number in 0..2**64 (an int or anything with ``__index__``; not a bool)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if not 0 <= value < 2**64:
        raise ValueError(f"{name} must be an int in 0..2**64, got {value}")
    return value


def _non_negative(value: object, name: str) -> float:
    """A finite real number >= 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}") from None
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x}")
    return x


def _parse_noise(noise: object) -> tuple[str, Any] | None:
    """(law, parameters) of a noise spec, checked; None for the mosaic.

    A malformed spec is a ValueError naming what is wrong, a wrong type a TypeError.
    """
    if noise is None:
        return None
    if not isinstance(noise, tuple):
        raise TypeError(
            "noise must be None or a tuple such as ('laplace', num, den), "
            f"got {type(noise).__name__}"
        )
    if not noise:
        raise ValueError(f"noise must start with the name of its law ({_LAWS}), got ()")
    name = noise[0]
    if not isinstance(name, str):
        raise TypeError(
            f"noise[0] must be a str naming the law ({_LAWS}), got {type(name).__name__}"
        )
    if name not in _FORMS:
        raise ValueError(f"unknown noise {name!r}: expected {_LAWS}")
    items = _FORMS[name]
    if len(noise) != 1 + len(items):
        form = "(" + ", ".join([repr(name), *items]) + ")"
        raise ValueError(f"noise {form} takes {1 + len(items)} items, got {len(noise)}")
    if name in ("laplace", "gaussian"):
        what = "laplace scale" if name == "laplace" else "gaussian variance"
        num, den = _index(noise[1], f"{what} num"), _index(noise[2], f"{what} den")
        if num < 1 or den < 1:
            raise ValueError(
                f"{what} must be a positive ratio num/den with num, den >= 1, got {num}/{den}"
            )
        return name, (num, den)
    if name != "given":
        return name, _non_negative(noise[1], f"{name} {items[0]}")
    z = noise[1]
    if not isinstance(z, np.ndarray):
        raise TypeError(f"given noise must be a numpy int64 array, got {type(z).__name__}")
    if z.dtype != np.dtype(np.int64):
        raise TypeError(f"given noise must have dtype int64, got {z.dtype}")
    if z.ndim != 4:
        raise ValueError(f"given noise must have 4 dimensions (N, gh, gw, C), got shape {z.shape}")
    return name, z


def _check_seed(seed: object) -> None:
    if seed is None:
        return
    if not isinstance(seed, bytes):
        raise TypeError(f"seed must be None or bytes, got {type(seed).__name__}")
    if len(seed) != 32:
        raise ValueError(f"seed must be exactly 32 bytes, got {len(seed)}")


def _seed_keys(seed: object, images: int, draws: bool) -> list[bytes] | None:
    """The keys of ``pixelate``'s seed: None (fresh randomness), one 32-byte
    key for the call, or one per image (32·N bytes)."""
    if seed is None:
        return None
    if not isinstance(seed, bytes):
        raise TypeError(f"seed must be None or bytes, got {type(seed).__name__}")
    if not seed or len(seed) % 32:
        raise ValueError(
            f"seed must be 32 bytes (one key), or 32 bytes per image, got {len(seed)}"
        )
    keys = [seed[i : i + 32] for i in range(0, len(seed), 32)]
    if draws and len(keys) not in (1, images):
        raise ValueError(
            f"a noise that draws needs one key, or one key per image ({images}), got {len(keys)}"
        )
    return keys


def _key_of(keys: list[bytes] | None, j: int) -> bytes | None:
    """Image j's key: its own, or the call's one key."""
    if keys is None:
        return None
    return keys[j] if len(keys) > 1 else keys[0]


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


# ---------------------------------------------------------------------------
# Pixel kernels
# ---------------------------------------------------------------------------

# |noise| is clamped to this before it is added to the sums: every cell sum is
# far below it (255 * H * W), so T <= 0 or T >= 255 n holds before the clamp
# exactly when it holds after, and the output is unchanged, while T can never
# overflow int64.
NOISE_CLAMP = 2**62


def _geometry(shape: tuple[int, ...], bh: int, bw: int, edges: str) -> tuple[int, int]:
    _, h, w, _ = shape
    if edges == "crop":
        return h // bh, w // bw
    return -(-h // bh), -(-w // bw)


def _spans(size: int, block: int, cells: int) -> np.ndarray:
    """Pixel count of each of ``cells`` cells of ``block`` along an axis of ``size``."""
    return np.minimum(block, size - block * np.arange(cells, dtype=np.int64))


def _cell_sums(images: np.ndarray, bh: int, bw: int, edges: str) -> np.ndarray:
    """Exact int64 sums S[n, i, j, c] of every cell; any input strides.

    Summed over each cell's own span (``reduceat``), never over a padded copy:
    a block far larger than the image costs nothing."""
    _, h, w, _ = images.shape
    gh, gw = _geometry(images.shape, bh, bw, edges)
    buf = images[:, : min(h, gh * bh), : min(w, gw * bw), :]
    rows = np.add.reduceat(buf, np.arange(gh) * bh, axis=1, dtype=np.int64)
    return np.add.reduceat(rows, np.arange(gw) * bw, axis=2, dtype=np.int64)


def _cell_counts(h: int, w: int, bh: int, bw: int, edges: str) -> np.ndarray:
    """Divisor n of every cell, shape (1, gh, gw, 1), int64."""
    gh, gw = _geometry((1, h, w, 1), bh, bw, edges)
    if edges == "partial":
        counts = _spans(h, bh, gh)[:, None] * _spans(w, bw, gw)[None, :]
    else:
        counts = np.full((gh, gw), bh * bw, dtype=np.int64)
    return counts.reshape(1, gh, gw, 1)


def round_cells(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Integer post-processing: clamp(T / n, 0, 255), rounded half to even, as uint8."""
    q, r = np.divmod(total, counts)
    twice_r = 2 * r
    up = (twice_r > counts) | ((twice_r == counts) & (q % 2 == 1))
    value = q + up
    value = np.where(total <= 0, 0, value)
    value = np.where(total >= 255 * counts, 255, value)
    return value.astype(np.uint8)


def _write_output(
    values: np.ndarray, shape: tuple[int, ...], bh: int, bw: int, edges: str, output: str
) -> np.ndarray:
    """Grid (N, gh, gw, C) or full-size output, C-contiguous uint8."""
    if output == "grid":
        return np.ascontiguousarray(values, dtype=np.uint8)
    _, h, w, _ = shape
    _, gh, gw, _ = values.shape
    if edges == "crop":
        h, w = gh * bh, gw * bw
    full = np.repeat(values, _spans(h, bh, gh), axis=1)
    return np.ascontiguousarray(np.repeat(full, _spans(w, bw, gw), axis=2), dtype=np.uint8)


def _finish(
    images: np.ndarray, sums: np.ndarray, noise: np.ndarray | None,
    bh: int, bw: int, edges: str, output: str,
) -> np.ndarray:
    _, h, w, _ = images.shape
    counts = _cell_counts(h, w, bh, bw, edges)
    total = sums
    if noise is not None:
        total = sums + np.clip(noise, -NOISE_CLAMP, NOISE_CLAMP)
    return _write_output(round_cells(total, counts), images.shape, bh, bw, edges, output)


def _draw_noise(
    shape: tuple[int, ...], keys: list[bytes] | None, image_offset: int,
    draw: Callable[[_Randomness], int],
) -> np.ndarray:
    """Integer noise (N, gh, gw, C): one stream per (image j's key,
    image_offset + j, cell row).

    Within a row, samples are drawn column by column, channels innermost.
    """
    n_img, gh, gw, c = shape
    noise = np.empty(shape, dtype=np.int64)
    shared = _Randomness(None) if keys is None else None
    lo, hi = -NOISE_CLAMP, NOISE_CLAMP
    for j in range(n_img):
        for i in range(gh):
            rng = shared or _Randomness(_key_of(keys, j), image_offset + j, i)
            row = [min(max(draw(rng), lo), hi) for _ in range(gw * c)]
            noise[j, i] = np.array(row, dtype=np.int64).reshape(gw, c)
    return noise


def _float_baseline(
    images: np.ndarray, sums: np.ndarray, bh: int, bw: int, edges: str, output: str,
    sigma: float, law: str, keys: list[bytes] | None, image_offset: int,
) -> np.ndarray:
    """NOT PRIVATE baseline: rint(clip(S/n + X, 0, 255)), X float noise in grey levels.

    ``law="gaussian"``: X ~ N(0, sigma²); ``law="laplace"``: X ~ Laplace(scale sigma).
    Seeded: image ``image_offset + j`` uses ``numpy.random.default_rng`` on
    ``SeedSequence(int.from_bytes(key, "little"), spawn_key=(image_offset + j,))``
    with image j's key.
    """
    _, h, w, _ = images.shape
    counts = _cell_counts(h, w, bh, bw, edges)
    n_img = sums.shape[0]
    x = np.empty(sums.shape, dtype=np.float64)
    shared = np.random.default_rng() if keys is None else None
    for j in range(n_img):
        key = _key_of(keys, j)
        if shared is not None or key is None:
            gen = shared or np.random.default_rng()
        else:
            gen = np.random.default_rng(
                np.random.SeedSequence(
                    int.from_bytes(key, "little"), spawn_key=(image_offset + j,)
                )
            )
        if law == "gaussian":
            x[j] = gen.normal(0.0, sigma, size=sums.shape[1:])
        else:
            x[j] = gen.laplace(0.0, sigma, size=sums.shape[1:])
    values = np.rint(np.clip(sums / counts + x, 0.0, 255.0)).astype(np.uint8)
    return _write_output(values, images.shape, bh, bw, edges, output)


def _exact_draw(law: str, num: int, den: int) -> Callable[[_Randomness], int]:
    if law == "laplace":
        return lambda rng: _discrete_laplace_ratio(num, den, rng)
    return lambda rng: _discrete_gaussian_ratio(num, den, rng)


def pixelate(
    images: np.ndarray, block_h: int, block_w: int, edges: str, output: str,
    noise: tuple[Any, ...] | None, seed: bytes | None, image_offset: int,
) -> np.ndarray:
    """The one pixel entry point: the cells' sums plus ``noise``, post-processed.

    ``noise``: None (the mosaic, NOT private); ``("laplace", num, den)`` or
    ``("gaussian", num, den)``: exact discrete Laplace of scale num/den or
    discrete Gaussian of variance num/den on every cell sum (DP-Pix);
    ``("float-gaussian", sigma)`` or ``("float-laplace", scale)``: the NOT
    PRIVATE float baseline on the means; ``("given", z)``: int64 ``z`` of shape
    (N, gh, gw, C) added to the sums (tests). ``seed``, used by the laws that
    draw: None (fresh randomness), 32 bytes (one key), or 32 bytes per image
    (image j's own key). Image j draws the streams of image ``image_offset + j``
    under its key.
    """
    spec = _parse_noise(noise)
    draws = spec is not None and spec[0] != "given"
    keys = _seed_keys(seed, images.shape[0], draws)
    image_offset = _index(image_offset, "image_offset")
    _check_choice(edges, "edges", ("partial", "pad", "crop"))
    _check_choice(output, "output", ("full", "grid"))
    sums = _cell_sums(images, block_h, block_w, edges)
    if image_offset + sums.shape[0] > 2**64:
        raise ValueError(f"image_offset {image_offset} + {sums.shape[0]} images pass 2**64")
    if spec is None:
        return _finish(images, sums, None, block_h, block_w, edges, output)
    law, param = spec
    if law == "given":
        z = param
        if z.shape != sums.shape:
            raise ValueError(f"noise must have shape {list(sums.shape)}, got {list(z.shape)}")
        return _finish(images, sums, z, block_h, block_w, edges, output)
    if law in ("float-gaussian", "float-laplace"):
        return _float_baseline(
            images, sums, block_h, block_w, edges, output,
            param, law.removeprefix("float-"), keys, image_offset,
        )
    num, den = param
    z = _draw_noise(sums.shape, keys, image_offset, _exact_draw(law, num, den))
    return _finish(images, sums, z, block_h, block_w, edges, output)


def sample(noise: tuple[Any, ...], n: int, seed: bytes | None) -> np.ndarray:
    """``n`` samples of ``("laplace", num, den)`` or ``("gaussian", num, den)``
    from the stream (seed, image 0, row 0); int64."""
    spec = _parse_noise(noise)
    if spec is None or spec[0] not in ("laplace", "gaussian"):
        got = "None" if spec is None else repr(spec[0])
        raise ValueError(
            "sample draws from an exact law: noise must be ('laplace', num, den) or "
            f"('gaussian', num, den), got {got}"
        )
    _check_seed(seed)
    n = _index(n, "n")
    law, (num, den) = spec
    draw = _exact_draw(law, num, den)
    rng = _Randomness(seed, 0, 0)
    lo, hi = -(2**63), 2**63 - 1  # reached with probability ~exp(-2**14): never in practice
    return np.array([min(max(draw(rng), lo), hi) for _ in range(n)], dtype=np.int64)


# ---------------------------------------------------------------------------
# Calibration (exact rationals; rounding always toward more noise)
# ---------------------------------------------------------------------------

_MAX_NUM = 2**48


def _check_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def round_up_ratio(x: Fraction | int) -> tuple[int, int]:
    """Round a positive rational UP to ``num / 2**j`` with ``num <= 2**48``.

    k = the largest integer in 0..48 with ceil(x * 2**k) <= 2**48; num =
    ceil(x * 2**k), den = 2**k; then both are halved while den > 1 and num is
    even. The result is >= x (more noise), relative error < 2**-46 for x >= 1.
    """
    if isinstance(x, float):
        x = Fraction(x)
    x = _as_fraction(x, "x")
    if x <= 0:
        raise ValueError(f"x must be > 0, got {x}")
    a, b = x.numerator, x.denominator
    if -(-a // b) > _MAX_NUM:
        raise ValueError("noise scale too large: epsilon/rho too small")
    k = 48
    num = -(-(a << k) // b)
    while num > _MAX_NUM:  # k = 0 always fits, by the check above
        k -= 1
        num = -(-(a << k) // b)
    den = 1 << k
    while den > 1 and num % 2 == 0:
        num //= 2
        den //= 2
    return num, den


def laplace_scale(epsilon: float, sensitivity: int) -> tuple[int, int]:
    """Discrete Laplace scale on the sums, ``round_up_ratio(sensitivity / epsilon)``.

    ``epsilon`` is taken as the exact rational value of the float.
    """
    epsilon = _check_positive(epsilon, "epsilon")
    sensitivity = _check_int(sensitivity, "sensitivity")
    return round_up_ratio(Fraction(sensitivity) / Fraction(epsilon))


def gaussian_sigma2(rho: float, l2_sq: int) -> tuple[int, int]:
    """Discrete Gaussian variance on the sums, ``round_up_ratio(l2_sq / (2 rho))`` (CKS Thm 4)."""
    rho = _check_positive(rho, "rho")
    l2_sq = _check_int(l2_sq, "l2_sq")
    return round_up_ratio(Fraction(l2_sq) / (2 * Fraction(rho)))


def _log_delta_at(u: float, rho: float, epsilon: float) -> float:
    """log of the CKS 2020 Cor. 13 bound at alpha = 1 + u, written to be stable for small u:
    (α−1)(αρ−ε) − log(α−1) + α·log(1 − 1/α) = u((u+1)ρ − ε) − u·log1p(1/u) − log1p(u).
    """
    return u * ((u + 1.0) * rho - epsilon) - u * math.log1p(1.0 / u) - math.log1p(u)


def _log_delta(rho: float, epsilon: float) -> float:
    """min over alpha > 1 of the log CKS bound. The objective is convex in alpha
    (second derivative 2ρ + 1/(α(α−1)) > 0), so its minimum is the root of the
    increasing derivative (2α−1)ρ − ε + log(1 − 1/α), found by bisection on
    log(α − 1). Any alpha gives a valid upper bound, so an inexact root is safe.
    """
    def slope(beta: float) -> float:
        u = math.exp(beta)
        return (2.0 * u + 1.0) * rho - epsilon + beta - math.log1p(u)

    lo, hi = -700.0, 700.0
    if slope(lo) >= 0:
        return 0.0  # minimum at alpha -> 1, where the bound tends to delta = 1
    if slope(hi) <= 0:  # rho below ~1e-300: minimum beyond alpha = e**700
        return _log_delta_at(math.exp(hi), rho, epsilon)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if slope(mid) < 0:
            lo = mid
        else:
            hi = mid
    best = min(_log_delta_at(math.exp(lo), rho, epsilon), _log_delta_at(math.exp(hi), rho, epsilon))
    return min(best, 0.0)


def delta_for(rho: float, epsilon: float) -> float:
    """Smallest delta such that rho-zCDP implies (epsilon, delta)-DP by CKS 2020 Cor. 13:

    delta = inf over alpha > 1 of exp((α−1)(αρ−ε)) / (α−1) · (1 − 1/α)**α.
    """
    rho = _check_positive(rho, "rho")
    epsilon = _check_positive(epsilon, "epsilon", allow_zero=True)
    return math.exp(_log_delta(rho, epsilon))


def _check_delta(delta: object) -> float:
    delta = _check_positive(delta, "delta")
    if not delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    return delta


def rho_for(epsilon: float, delta: float) -> float:
    """Largest rho (bisection) with ``delta_for(rho, epsilon) <= delta * (1 - 1e-6)``."""
    epsilon = _check_positive(epsilon, "epsilon")
    delta = _check_delta(delta)
    target = delta * (1.0 - 1e-6)

    def ok(rho: float) -> bool:
        return math.exp(_log_delta(rho, epsilon)) <= target

    lo = hi = max(epsilon, 1e-300)
    while not ok(lo):
        lo /= 2.0
        if lo < 1e-300:
            raise ValueError("no rho > 1e-300 reaches this (epsilon, delta)")
    while ok(hi):
        hi *= 2.0
        if hi > 1e300:
            raise ValueError("(epsilon, delta) allow any rho")
    for _ in range(2000):
        mid = math.sqrt(lo * hi) if hi > 4 * lo else 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def epsilon_for(rho: float, delta: float) -> float:
    """Smallest epsilon (bisection) with ``delta_for(rho, epsilon) <= delta * (1 - 1e-6)``."""
    rho = _check_positive(rho, "rho")
    delta = _check_delta(delta)
    target = delta * (1.0 - 1e-6)

    def ok(epsilon: float) -> bool:
        return math.exp(_log_delta(rho, epsilon)) <= target

    if ok(0.0):
        return 0.0
    lo, hi = 0.0, max(1.0, rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta)))
    while not ok(hi):
        lo, hi = hi, 2.0 * hi
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def l1_sensitivity(m: int, channels: int) -> int:
    """Δ1 = 255·m·C of the vector of cell sums for the m-neighbourhood."""
    return 255 * _check_int(m, "m") * _check_int(channels, "channels")


def l2_sensitivity_sq(m: int, channels: int, block_h: int, block_w: int) -> int:
    """Δ2² = 255²·C·(q·A² + r²), A = block_h·block_w, m = q·A + r (m pixels packed into cells)."""
    m = _check_int(m, "m")
    channels = _check_int(channels, "channels")
    area = _check_int(block_h, "block_h") * _check_int(block_w, "block_w")
    q, r = divmod(m, area)
    return 255 * 255 * channels * (q * area * area + r * r)
