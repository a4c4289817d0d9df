"""dp_pix.transforms: pad, crop, resize, block_for_target."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dp_pix.transforms import block_for_target, crop_to_multiple, pad_to_multiple, resize
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

RNG = np.random.default_rng(2018)


def _image(h: int, w: int, c: int | None = None) -> np.ndarray:
    shape = (h, w) if c is None else (h, w, c)
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


# ---------------------------------------------------------------- pad

SIZES = [(1, 1), (7, 5), (16, 16), (17, 33), (112, 92)]
BLOCKS = [1, 3, 8, 16, (4, 7), (5, 2)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("channels", [None, 1, 3])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_matches_numpy_pad(size, block, channels, mode):
    image = _image(*size, channels)
    bh, bw = (block, block) if isinstance(block, int) else block
    out = pad_to_multiple(image, block, mode=mode)
    h, w = size
    ph, pw = math.ceil(h / bh) * bh, math.ceil(w / bw) * bw
    assert out.shape[:2] == (ph, pw) and out.shape[2:] == image.shape[2:]
    assert out.dtype == np.uint8
    width = [(0, ph - h), (0, pw - w)] + [(0, 0)] * (image.ndim - 2)
    np.testing.assert_array_equal(out, np.pad(image, width, mode=mode))
    assert not np.shares_memory(out, image)


def test_pad_values_by_hand():
    image = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    np.testing.assert_array_equal(
        pad_to_multiple(image, (3, 2), value=9),
        [[1, 2, 3, 9], [4, 5, 6, 9], [9, 9, 9, 9]],
    )
    np.testing.assert_array_equal(
        pad_to_multiple(image, (3, 2), mode="edge"),
        [[1, 2, 3, 3], [4, 5, 6, 6], [4, 5, 6, 6]],
    )
    np.testing.assert_array_equal(
        pad_to_multiple(image, (4, 5), mode="reflect"),
        [[1, 2, 3, 2, 1], [4, 5, 6, 5, 4], [1, 2, 3, 2, 1], [4, 5, 6, 5, 4]],
    )


def test_pad_per_channel_value():
    image = _image(3, 3, 3)
    out = pad_to_multiple(image, 4, value=(10, 20, 30))
    np.testing.assert_array_equal(out[:3, :3], image)
    np.testing.assert_array_equal(out[3, 0], (10, 20, 30))
    np.testing.assert_array_equal(out[:, 3], np.tile([10, 20, 30], (4, 1)))
    out = pad_to_multiple(image, 4, value=np.array([1, 2, 3]))
    np.testing.assert_array_equal(out[3, 3], (1, 2, 3))


def test_pad_accepts_any_strides():
    base = _image(20, 30, 3)
    view = base[::3, ::-2]
    np.testing.assert_array_equal(
        pad_to_multiple(view, 4, mode="edge"),
        np.pad(view, [(0, -view.shape[0] % 4), (0, -view.shape[1] % 4), (0, 0)], mode="edge"),
    )


def test_pad_errors():
    image = _image(5, 5)
    cases = [
        (ValueError, "mode", {"mode": "wrap"}),
        (ValueError, "value applies only", {"mode": "edge", "value": 3}),
        (ValueError, "0..255", {"value": 256}),
        (ValueError, "0..255", {"value": -1}),
        (TypeError, "value must be an int", {"value": 1.5}),
        (TypeError, "value must be an int", {"value": (1, 2, 3)}),  # grey image
        (ValueError, "block must be at least 1", {"block": 0}),
        (ValueError, "block must be at least 1", {"block": (2, -1)}),
        (TypeError, "block must be an int", {"block": 2.0}),
        (TypeError, "block must be an int", {"block": True}),
        (TypeError, "block must be an int", {"block": (2,)}),
        (TypeError, "block must be an int", {"block": "8"}),
    ]
    for error, message, kwargs in cases:
        args = {"image": image, "block": 4, **kwargs}
        with pytest.raises(error, match=message):
            pad_to_multiple(**args)
    with pytest.raises(TypeError, match=r"3 ints \(one per channel\)"):
        pad_to_multiple(_image(2, 2, 3), 4, value=(1, 2))


@pytest.mark.parametrize("func", [pad_to_multiple, crop_to_multiple])
def test_image_errors(func):
    with pytest.raises(TypeError, match="dtype uint8"):
        func(np.zeros((4, 4), dtype=np.float32), 2)
    with pytest.raises(TypeError, match="dtype uint8"):
        func(np.zeros((4, 4), dtype=bool), 2)
    with pytest.raises(TypeError, match="ndarray"):
        func([[1, 2], [3, 4]], 2)
    with pytest.raises(ValueError, match="shape"):
        func(np.zeros((2, 4, 4, 3), dtype=np.uint8), 2)
    with pytest.raises(ValueError, match="empty"):
        func(np.zeros((0, 4), dtype=np.uint8), 2)
    assert func(np.zeros((4, 4), dtype=np.uint8), np.int64(2)).shape == (4, 4)


# ---------------------------------------------------------------- crop


@pytest.mark.parametrize("size", [(7, 5), (16, 16), (17, 33), (112, 92), (9, 100)])
@pytest.mark.parametrize("block", [1, 3, 4, (5, 2), (7, 5)])
@pytest.mark.parametrize("channels", [None, 3])
def test_crop_matches_slicing(size, block, channels):
    image = _image(*size, channels)
    bh, bw = (block, block) if isinstance(block, int) else block
    h, w = size
    ch, cw = h // bh * bh, w // bw * bw
    corner = crop_to_multiple(image, block, anchor="top-left")
    np.testing.assert_array_equal(corner, image[:ch, :cw])
    top, left = (h - ch) // 2, (w - cw) // 2
    centre = crop_to_multiple(image, block)
    np.testing.assert_array_equal(centre, image[top : top + ch, left : left + cw])
    assert centre.shape[2:] == image.shape[2:]
    assert np.shares_memory(centre, image)


def test_crop_centre_by_hand():
    image = np.arange(7 * 6, dtype=np.uint8).reshape(7, 6)
    # 7 rows, block 2: drop 1 row, at the bottom (top offset 1 // 2 = 0);
    # 6 columns, block 4: drop 2, one each side.
    np.testing.assert_array_equal(crop_to_multiple(image, (2, 4)), image[0:6, 1:5])
    np.testing.assert_array_equal(crop_to_multiple(image, 3), image[0:6, 0:6])
    np.testing.assert_array_equal(crop_to_multiple(image, 5), image[1:6, 0:5])


def test_crop_errors():
    with pytest.raises(ValueError, match="smaller than one 8x8 block"):
        crop_to_multiple(_image(7, 20), 8)
    with pytest.raises(ValueError, match="anchor"):
        crop_to_multiple(_image(8, 8), 4, anchor="bottom")
    with pytest.raises(ValueError, match="block must be at least 1"):
        crop_to_multiple(_image(8, 8), 0)


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    c=st.sampled_from([None, 1, 2, 3, 4]),
    bh=st.integers(1, 50),
    bw=st.integers(1, 50),
    mode=st.sampled_from(["constant", "edge", "reflect"]),
)
def test_pad_and_crop_shapes(h, w, c, bh, bw, mode):
    image = _image(h, w, c)
    padded = pad_to_multiple(image, (bh, bw), mode=mode)
    ph, pw = padded.shape[:2]
    assert ph % bh == 0 and pw % bw == 0
    assert h <= ph < h + bh and w <= pw < w + bw  # smallest multiple
    np.testing.assert_array_equal(padded[:h, :w], image)  # image stays top-left
    assert crop_to_multiple(padded, (bh, bw), anchor="top-left").shape == padded.shape
    if h >= bh and w >= bw:
        for anchor in ("center", "top-left"):
            cropped = crop_to_multiple(image, (bh, bw), anchor=anchor)
            ch, cw = cropped.shape[:2]
            assert ch % bh == 0 and cw % bw == 0
            assert h - bh < ch <= h and w - bw < cw <= w  # largest multiple
            assert cropped.shape[2:] == image.shape[2:]
    else:
        with pytest.raises(ValueError):
            crop_to_multiple(image, (bh, bw))


# ---------------------------------------------------------------- resize


def test_resize_box_is_the_block_mean():
    flat = RNG.integers(0, 256, size=(5, 7))
    image = np.repeat(np.repeat(flat, 2, 0), 3, 1).astype(np.uint8)  # uniform 2x3 blocks
    for name in ("box", "area"):
        np.testing.assert_array_equal(resize(image, (5, 7), filter=name), flat)
    image = _image(10, 21)
    exact = image.reshape(5, 2, 7, 3).mean(axis=(1, 3))
    out = resize(image, (5, 7))  # the default is box
    # Pillow rounds after each pass: within 1 of the exact mean, not always equal.
    assert np.abs(out - exact).max() <= 1
    assert np.abs(out - exact).mean() < 0.5


def test_resize_nearest_upsampling_repeats_pixels():
    image = _image(3, 4, 3)
    out = resize(image, (6, 12), filter="nearest")
    np.testing.assert_array_equal(out, np.repeat(np.repeat(image, 2, 0), 3, 1))


@pytest.mark.parametrize("name", ["nearest", "box", "bilinear", "bicubic", "lanczos"])
def test_resize_rgb_equals_pillow(name):
    image = _image(33, 47, 3)
    expected = Image.fromarray(image).resize(
        (20, 15), resample=getattr(Image.Resampling, name.upper())
    )
    out = resize(image, (15, 20), filter=name)
    assert out.shape == (15, 20, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.asarray(expected))


def test_resize_any_channel_count_and_strides():
    image = _image(10, 12, 5)
    out = resize(image[::-1, ::2], (4, 3), filter="bilinear")
    assert out.shape == (4, 3, 5)
    single = resize(np.ascontiguousarray(image[::-1, ::2, 2]), (4, 3), filter="bilinear")
    np.testing.assert_array_equal(out[..., 2], single)
    assert resize(_image(9, 9), (9, 9), filter="bicubic").shape == (9, 9)


def test_resize_errors():
    image = _image(8, 8)
    with pytest.raises(ValueError, match="filter"):
        resize(image, (4, 4), filter="cubic")
    with pytest.raises(ValueError, match="shape must be at least 1"):
        resize(image, (0, 4))
    with pytest.raises(TypeError, match="shape must be an int or a pair"):
        resize(image, (4.0, 4))
    with pytest.raises(TypeError, match="dtype uint8"):
        resize(image.astype(np.int16), (4, 4))
    assert resize(image, 4).shape == (4, 4)


# ---------------------------------------------------------------- block_for_target


@pytest.mark.parametrize(
    ("shape", "target", "block"),
    [
        ((112, 92), (7, 6), (16, 16)),
        ((112, 92), 8, (14, 12)),
        ((112, 92, 3), (112, 92), (1, 1)),
        ((10, 10), 6, (2, 2)),  # 5 cells: no block gives 6
        ((10, 10), 4, (3, 3)),
        ((5, 5), 50, (1, 1)),
        ((105, 105), 1, (105, 105)),
    ],
)
def test_block_for_target_examples(shape, target, block):
    assert block_for_target(shape, target) == block


@settings(max_examples=300, deadline=None)
@given(
    h=st.integers(1, 3000), w=st.integers(1, 3000), gh=st.integers(1, 400), gw=st.integers(1, 400)
)
def test_block_for_target_is_the_smallest_block_within_the_target(h, w, gh, gw):
    bh, bw = block_for_target((h, w), (gh, gw))
    for size, g, b in ((h, gh, bh), (w, gw, bw)):
        assert math.ceil(size / b) <= g
        assert b == 1 or math.ceil(size / (b - 1)) > g
        if size % g == 0:
            assert math.ceil(size / b) == g


def test_block_for_target_errors():
    with pytest.raises(ValueError, match="target must be at least 1"):
        block_for_target((10, 10), 0)
    with pytest.raises(TypeError, match="target"):
        block_for_target((10, 10), 2.5)
    with pytest.raises(TypeError, match="shape"):
        block_for_target((10,), 2)
    with pytest.raises(ValueError, match="shape must be at least 1"):
        block_for_target((0, 10), 2)
