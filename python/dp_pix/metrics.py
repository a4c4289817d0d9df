"""Utility metrics between an original image and its obfuscated version.

``mse`` and ``psnr`` work in float64 on the grey levels 0..255; ``ssim`` is
scikit-image's ``structural_similarity`` with ``data_range=255``.
``mse_uint8_wrapped`` reproduces the MSE of the paper's figures, which was
computed on uint8 arrays and wraps around: it exists only to show that error.

The summary statistics of the evaluation (``t_interval``, ``wilson_interval``)
live here too.

scikit-image (for ``ssim``) and scipy (for ``t_interval``) come with the
``eval`` extra: ``pip install 'dp-pix[eval]'``. They are imported when first
needed, so ``import dp_pix.metrics`` stays light.
"""

from __future__ import annotations

import importlib
import math
import statistics
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "EVAL_EXTRA_HINT",
    "import_extra",
    "mse",
    "mse_uint8_wrapped",
    "psnr",
    "ssim",
    "t_interval",
    "wilson_interval",
]

DATA_RANGE = 255.0  # 8-bit images

EVAL_EXTRA_HINT = "pip install 'dp-pix[eval]'"

# import name -> distribution name, for the error message
_EXTRA_PACKAGES = {
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib",
    "scipy": "scipy",
    "joblib": "joblib",
}


def import_extra(name: str, feature: str = "the evaluation") -> ModuleType:
    """Import ``name`` (a module of the ``eval`` extra) or raise an ImportError
    that says how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        dist = _EXTRA_PACKAGES.get(top, top)
        raise ImportError(
            f"{feature} needs {dist}, which is not installed ({exc}); "
            f"install the evaluation extra: {EVAL_EXTRA_HINT}"
        ) from exc


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"the images differ in shape: {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("the images are empty")
    for name, x in (("a", a), ("b", b)):
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
    return a, b


def mse(a: Any, b: Any) -> float:
    """Mean squared error in float64: ``mean((a - b)²)`` over all pixels and channels.

    Any numeric dtype; the difference is taken in float64, so uint8 inputs do
    not wrap (compare :func:`mse_uint8_wrapped`).
    """
    a, b = _pair(a, b)
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def mse_uint8_wrapped(a: Any, b: Any) -> float:
    """The paper's MSE, wrong on purpose: ``np.mean((a - b) ** 2)`` on uint8 arrays.

    FOR COMPARISON ONLY. In uint8 arithmetic both the difference and its
    square wrap modulo 256, so what is averaged is ``(a - b)² mod 256``, a
    number in 0..255 that has little to do with the error. For uniform noise
    it averages ``mean(x² mod 256 for x in 0..255) = 105.5``: this is why the
    MSE curves in Fan (2018) level off near 105 however large the noise. Use
    :func:`mse` for the real error.
    """
    a, b = _pair(a, b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise TypeError(
            f"mse_uint8_wrapped reproduces arithmetic on uint8 arrays; got {a.dtype} and "
            f"{b.dtype} (use mse for the real error)"
        )
    d = a - b  # wraps modulo 256, as in the paper's code
    return float(np.mean(d * d))  # the square wraps too; the mean is taken in float64


def psnr(a: Any, b: Any) -> float:
    """Peak signal-to-noise ratio in dB for 8-bit images: ``10·log10(255² / mse)``.

    ``inf`` for identical images.
    """
    e = mse(a, b)
    if e == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / e)


def ssim(a: Any, b: Any) -> float:
    """Structural similarity (Wang et al. 2004) of two 8-bit images, in [-1, 1].

    scikit-image's ``structural_similarity`` with ``data_range=255`` and its
    defaults (7×7 uniform window, K1 = 0.01, K2 = 0.03); for colour images
    ``(H, W, C)`` the mean of the per-channel SSIMs (``channel_axis=-1``).
    Images smaller than 7 pixels on a side use the largest odd window that
    fits; below 3 pixels SSIM is not defined and a ``ValueError`` is raised.
    """
    a, b = _pair(a, b)
    if a.ndim not in (2, 3):
        raise ValueError(f"ssim takes images of shape (H, W) or (H, W, C), got {a.shape}")
    skm = import_extra("skimage.metrics", "ssim")
    side = min(a.shape[:2])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"ssim needs images of at least 3x3 pixels, got {a.shape[:2]}")
    channel_axis = -1 if a.ndim == 3 else None
    return float(
        skm.structural_similarity(
            a.astype(np.float64),
            b.astype(np.float64),
            data_range=DATA_RANGE,
            channel_axis=channel_axis,
            win_size=win,
        )
    )


# ------------------------------------------------------------ summary statistics


def t_interval(values: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the Student-t confidence interval for the mean.

    With fewer than two values, or NaNs among them, the bounds are NaN (an
    interval cannot be estimated); with zero spread they equal the mean.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(np.mean(x))
    if x.size < 2 or not np.all(np.isfinite(x)):
        return (mean, math.nan, math.nan)
    stats = import_extra("scipy.stats", "t_interval")
    quantile = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1))
    half = quantile * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return (mean, mean - half, mean + half)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a proportion of ``successes`` in ``n`` trials."""
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..n={n}, got {successes}")
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
