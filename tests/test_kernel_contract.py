"""The one pixel entry point and its noise spec, on both cores (docs/kernel-contract.md).

Both kernels must refuse the same malformed calls with the same exception class
(ValueError for a bad value, TypeError for a bad type), with a message that names
what is wrong, and never crash; `sample` must draw what `pixelate` draws.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from dp_pix import _dp_pix as rust
from dp_pix import _reference as ref

KERNELS = [pytest.param(ref, id="reference"), pytest.param(rust, id="rust")]
SEED = bytes(range(32))
IMAGES = np.random.default_rng(0).integers(0, 256, (2, 7, 9, 3), dtype=np.uint8)
GRID = (2, 3, 3, 3)  # (N, gh, gw, C) for blocks 3x3, edges "partial"


def call(kernel, noise, seed=SEED, image_offset=0, images=IMAGES):
    return kernel.pixelate(images, 3, 3, "partial", "grid", noise, seed, image_offset)


BAD_VALUES = [
    # (noise, words the message must contain)
    (("poisson", 1, 1), "poisson"),
    ((), "name"),
    (("laplace", 1), "3 items"),
    (("laplace", 1, 2, 3), "3 items"),
    (("gaussian", 9), "3 items"),
    (("float-gaussian",), "2 items"),
    (("float-laplace", 1.0, 2.0), "2 items"),
    (("given",), "2 items"),
    (("laplace", 0, 1), "0/1"),
    (("laplace", 1, 0), "1/0"),
    (("gaussian", 0, 5), "0/5"),
    (("laplace", -1, 1), "num"),
    (("gaussian", 1, 2**64), "den"),
    (("float-gaussian", -1.0), "sigma"),
    (("float-gaussian", float("nan")), "sigma"),
    (("float-laplace", float("inf")), "scale"),
    (("given", np.zeros((2, 3, 3), np.int64)), "dimensions"),
    (("given", np.zeros((2, 3, 4, 3), np.int64)), "shape"),
    (("given", np.zeros((1, 3, 3, 3), np.int64)), "shape"),
]

BAD_TYPES = [
    (["laplace", 1, 1], "tuple"),
    ("laplace", "tuple"),
    ((7, 1, 1), "str"),
    (("laplace", 1.0, 1), "int"),
    (("laplace", 1, "2"), "int"),
    (("gaussian", True, 1), "bool"),
    (("float-gaussian", "5"), "real"),
    (("float-laplace", True), "bool"),
    (("given", np.zeros(GRID, np.int32)), "int64"),
    (("given", np.zeros(GRID).tolist()), "array"),
]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("noise", "words"), BAD_VALUES, ids=repr)
def test_bad_spec_is_a_value_error(kernel, noise, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        call(kernel, noise)
    assert not isinstance(info.value, TypeError)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("noise", "words"), BAD_TYPES, ids=repr)
def test_wrong_type_is_a_type_error(kernel, noise, words: str) -> None:
    with pytest.raises(TypeError, match=words):
        call(kernel, noise)


@pytest.mark.parametrize("kernel", KERNELS)
def test_seed_and_offset_errors(kernel) -> None:
    for noise in (None, ("laplace", 3, 1), ("given", np.zeros(GRID, np.int64))):
        with pytest.raises(ValueError, match="32 bytes"):
            call(kernel, noise, seed=b"short")
        with pytest.raises(TypeError):
            call(kernel, noise, seed="0" * 32)
        with pytest.raises(ValueError, match="image_offset"):
            call(kernel, noise, image_offset=-1)
        with pytest.raises(TypeError, match="image_offset"):
            call(kernel, noise, image_offset=1.0)
        with pytest.raises(TypeError, match="image_offset"):
            call(kernel, noise, image_offset=True)
    # The last stream index is 2**64 - 1: one image fits there, two do not.
    assert call(kernel, ("laplace", 3, 1), image_offset=2**64 - 1, images=IMAGES[:1]).shape
    with pytest.raises(ValueError, match="image_offset"):
        call(kernel, ("laplace", 3, 1), image_offset=2**64 - 1)
    with pytest.raises(ValueError, match="image_offset"):
        call(kernel, ("laplace", 3, 1), image_offset=2**64)


@pytest.mark.parametrize("kernel", KERNELS)
def test_edges_and_output_are_checked(kernel) -> None:
    with pytest.raises(ValueError, match="edges"):
        kernel.pixelate(IMAGES, 3, 3, "wrap", "grid", None, None, 0)
    with pytest.raises(ValueError, match="output"):
        kernel.pixelate(IMAGES, 3, 3, "pad", "tiles", None, None, 0)


@pytest.mark.parametrize("kernel", KERNELS)
def test_sample_errors(kernel) -> None:
    for noise in (None, ("float-gaussian", 1.0), ("float-laplace", 1.0),
                  ("given", np.zeros(GRID, np.int64))):
        with pytest.raises(ValueError, match="exact law"):
            kernel.sample(noise, 10, SEED)
    with pytest.raises(ValueError, match="0/1"):
        kernel.sample(("laplace", 0, 1), 10, SEED)
    with pytest.raises(ValueError, match="3 items"):
        kernel.sample(("gaussian", 9), 10, SEED)
    with pytest.raises(TypeError, match="tuple"):
        kernel.sample(["laplace", 1, 1], 10, SEED)
    with pytest.raises(ValueError, match="n must"):
        kernel.sample(("laplace", 3, 1), -1, SEED)
    with pytest.raises(TypeError, match="n must"):
        kernel.sample(("laplace", 3, 1), 2.0, SEED)
    with pytest.raises(ValueError, match="32 bytes"):
        kernel.sample(("laplace", 3, 1), 10, b"\0" * 31)
    assert kernel.sample(("laplace", 3, 1), 0, None).shape == (0,)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("noise", [("laplace", 3, 1), ("gaussian", 9, 1)])
def test_sample_draws_what_pixelate_draws(kernel, noise) -> None:
    # 1x1 cells of 128: the first cell row of image 0 shows its noise (|Z| < 128 here),
    # drawn from the stream (seed, image 0, row 0), as `sample` draws.
    flat = np.full((1, 2, 300, 1), 128, dtype=np.uint8)
    out = kernel.pixelate(flat, 1, 1, "partial", "grid", noise, SEED, 0)
    z = out[0, 0, :, 0].astype(np.int64) - 128
    samples = kernel.sample(noise, 300, SEED)
    assert samples.dtype == np.int64 and samples.shape == (300,)
    assert np.array_equal(samples, z)
    assert np.array_equal(samples, kernel.sample(noise, 300, SEED))  # same seed, same bytes
    # Power: the second cell row (its own stream) and another seed differ.
    assert not np.array_equal(samples, out[0, 1, :, 0].astype(np.int64) - 128)
    assert not np.array_equal(samples, kernel.sample(noise, 300, bytes(32)))


@pytest.mark.parametrize("kernel", KERNELS)
def test_unused_seed_changes_nothing(kernel) -> None:
    z = np.random.default_rng(1).integers(-300, 300, GRID)
    for noise in (None, ("given", z)):
        a = call(kernel, noise, seed=None)
        assert np.array_equal(a, call(kernel, noise, seed=SEED))
        assert np.array_equal(a, call(kernel, noise, seed=SEED, image_offset=9))


@pytest.mark.parametrize("kernel", KERNELS)
def test_numpy_integers_and_floats_are_accepted(kernel) -> None:
    a = call(kernel, ("laplace", 30, 1), image_offset=3)
    b = call(kernel, ("laplace", np.int64(30), np.uint8(1)), image_offset=np.int32(3))
    assert np.array_equal(a, b)
    c = call(kernel, ("float-gaussian", 5), image_offset=3)
    d = call(kernel, ("float-gaussian", np.float32(5.0)), image_offset=3)
    assert np.array_equal(c, d)
