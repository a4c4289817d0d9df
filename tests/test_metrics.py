"""dp_pix.metrics against hand-computed values, and the paper's wrapped MSE."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from dp_pix import metrics


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


EXTRA = "needs the eval extra (pip install 'dp-pix[eval]')"
needs_skimage = pytest.mark.skipif(not _has("skimage"), reason=f"scikit-image missing: {EXTRA}")
needs_scipy = pytest.mark.skipif(not _has("scipy"), reason=f"scipy missing: {EXTRA}")

A = np.array([[0, 10], [255, 0]], dtype=np.uint8)
B = np.array([[20, 6], [0, 0]], dtype=np.uint8)


# --- MSE ---------------------------------------------------------------------------


def test_mse_by_hand():
    # differences -20, 4, 255, 0 -> (400 + 16 + 65025 + 0) / 4
    assert metrics.mse(A, B) == 16360.25
    assert metrics.mse(B, A) == 16360.25
    assert isinstance(metrics.mse(A, B), float)


def test_mse_mixes_dtypes_in_float64():
    assert metrics.mse(A, B.astype(np.float32)) == 16360.25
    assert metrics.mse(A.astype(np.int64), B) == 16360.25
    assert metrics.mse(A, A) == 0.0


def test_mse_uint8_wrapped_by_hand():
    # (a - b) mod 256 = 236, 4, 255, 0; squared mod 256 = 144, 16, 1, 0
    assert metrics.mse_uint8_wrapped(A, B) == (144 + 16 + 1 + 0) / 4
    # It is exactly what the paper's code computed: np.mean((a - b) ** 2) on uint8.
    assert metrics.mse_uint8_wrapped(A, B) == float(np.mean((A - B) ** 2))


def test_mse_uint8_wrapped_plateaus_near_105_on_uniform_noise():
    """Why the paper's MSE curves level off near 105: for uniform noise the
    wrapped figure is mean(x² mod 256) = 105.5, while the real MSE is ~10923."""
    assert np.mean((np.arange(256) ** 2) % 256) == 105.5
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(1000, 1000), dtype=np.uint8)
    b = rng.integers(0, 256, size=(1000, 1000), dtype=np.uint8)
    wrapped = metrics.mse_uint8_wrapped(a, b)
    assert abs(wrapped - 105.5) < 0.5  # standard error ≈ 0.074
    true = metrics.mse(a, b)
    assert abs(true - 2 * (256**2 - 1) / 12) < 0.01 * true  # 2·Var(uniform 0..255)


def test_mse_uint8_wrapped_refuses_other_dtypes():
    with pytest.raises(TypeError, match="uint8"):
        metrics.mse_uint8_wrapped(A.astype(np.int16), B)


def test_metrics_refuse_mismatched_or_empty_images():
    with pytest.raises(ValueError, match="shape"):
        metrics.mse(A, B[:1])
    with pytest.raises(ValueError, match="empty"):
        metrics.mse(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(TypeError, match="numbers"):
        metrics.mse(np.array(["a"]), np.array(["b"]))


# --- PSNR --------------------------------------------------------------------------


def test_psnr_by_hand():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, :] = 2  # 4 pixels off by 2 of 16: MSE = 1
    assert metrics.mse(a, b) == 1.0
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2), abs=1e-12)
    assert metrics.psnr(a, b) == pytest.approx(48.1308036, abs=1e-6)
    assert metrics.psnr(a, a) == math.inf


# --- SSIM --------------------------------------------------------------------------


@needs_skimage
def test_ssim_of_identical_images_is_one():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(32, 24), dtype=np.uint8)
    assert metrics.ssim(image, image) == pytest.approx(1.0)


@needs_skimage
def test_ssim_of_flat_images_by_hand():
    """Flat images have no variance, so SSIM is the luminance term alone:
    (2·μa·μb + C1) / (μa² + μb² + C1), C1 = (0.01·255)²."""
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    a = np.full((16, 16), 100, np.uint8)
    b = np.full((16, 16), 110, np.uint8)
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(0.995476, abs=1e-6)


@needs_skimage
def test_ssim_colour_is_the_mean_over_channels():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, size=a.shape), 0, 255).astype(np.uint8)
    per_channel = [metrics.ssim(a[..., c], b[..., c]) for c in range(3)]
    assert metrics.ssim(a, b) == pytest.approx(np.mean(per_channel), abs=1e-12)
    assert 0 < metrics.ssim(a, b) < 1


@needs_skimage
def test_ssim_small_images():
    a = np.arange(25, dtype=np.uint8).reshape(5, 5)
    assert metrics.ssim(a, a) == pytest.approx(1.0)  # a 5x5 window fits
    with pytest.raises(ValueError, match="3x3"):
        metrics.ssim(a[:2, :2], a[:2, :2])
    with pytest.raises(ValueError, match="shape"):
        metrics.ssim(a.ravel(), a.ravel())


# --- intervals ---------------------------------------------------------------------


@needs_scipy
def test_t_interval_by_hand():
    mean, lo, hi = metrics.t_interval([1.0, 2.0, 3.0])
    half = 4.30265273 / math.sqrt(3)  # t(0.975, 2) · s / √n, s = 1
    assert mean == 2.0
    assert lo == pytest.approx(2.0 - half, rel=1e-8)
    assert hi == pytest.approx(2.0 + half, rel=1e-8)
    assert metrics.t_interval([5.0, 5.0]) == (5.0, 5.0, 5.0)
    m, lo, hi = metrics.t_interval([7.0])
    assert m == 7.0 and math.isnan(lo) and math.isnan(hi)


def test_wilson_interval_by_hand():
    lo, hi = metrics.wilson_interval(5, 10)
    assert lo == pytest.approx(0.236593, abs=1e-6)
    assert hi == pytest.approx(0.763407, abs=1e-6)
    lo, hi = metrics.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx(0.277533, abs=1e-6)
    with pytest.raises(ValueError):
        metrics.wilson_interval(11, 10)


# --- the optional extra --------------------------------------------------------------


def test_missing_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # makes `import skimage` fail
    monkeypatch.setitem(sys.modules, "skimage.metrics", None)
    with pytest.raises(ImportError, match=r"pip install 'dp-pix\[eval\]'"):
        metrics.ssim(A, B)
    with pytest.raises(ImportError, match="scikit-image"):
        metrics.import_extra("skimage.metrics")
