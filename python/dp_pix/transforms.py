"""Shaping images for the cell grid: pad, crop, resize, and choose a block.

All functions take one uint8 image, ``(H, W)`` or ``(H, W, C)``, and work
without the compiled extension.

How they relate to privacy. They are applied *before* the mechanism, so they
change what the cells cover, never the guarantee: DP-Pix protects any ``m``
pixels of the image it is given, and ``m`` counts pixels of that (padded,
cropped or resized) image. Padding adds pixels that hold no information
(with ``edges="pad"`` in the mechanism you get the paper's zero-padding
without padding yourself). Cropping removes pixels, which are then not
released at all. Resizing changes how many pixels a region occupies: choose
``m`` for the image actually passed to ``dp_pixelate``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from PIL import Image

__all__ = ["PadMode", "block_for_target", "crop_to_multiple", "pad_to_multiple", "resize"]

PadMode = Literal["constant", "edge", "reflect"]
"""How :func:`pad_to_multiple` fills the new pixels."""

_PAD_MODES: tuple[PadMode, ...] = get_args(PadMode)
_ANCHORS = ("center", "top-left")
_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "area": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def pad_to_multiple(
    image: np.ndarray,
    block: int | tuple[int, int],
    *,
    mode: PadMode = "constant",
    value: int | Sequence[int] = 0,
) -> np.ndarray:
    """Pad the bottom and right of ``image`` so ``block`` divides its height
    and width; returns a new array of shape ``(ceil(H/bh)·bh, ceil(W/bw)·bw[, C])``.

    ``block`` is an int or ``(bh, bw)``. ``mode`` is ``"constant"`` (fill
    with ``value``: an int 0..255, or one int per channel), ``"edge"``
    (repeat the last row/column) or ``"reflect"`` (mirror without repeating
    the edge, as ``numpy.pad``; a 1-pixel-wide side then repeats its pixel).
    The image stays at the top-left, where the cell grid starts, so every cell
    of the padded image is full.

    Privacy: the mechanism sees the padded image; ``m`` counts its pixels, and
    the padding pixels are public constants or copies of image pixels (with
    ``"edge"``/``"reflect"`` a changed pixel near the border also changes its
    copies, which is why ``m`` must be counted on the padded image). Constant
    padding with 0 gives the same cells as the mechanism's own
    ``edges="pad"``.
    """
    _check_image(image)
    bh, bw = _as_block(block)
    if mode not in _PAD_MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, _PAD_MODES))}; got {mode!r}")
    h, w = image.shape[:2]
    width = [(0, -h % bh), (0, -w % bw)] + [(0, 0)] * (image.ndim - 2)
    if mode == "constant":
        fill = _check_value(value, image)
        out = np.empty((h + width[0][1], w + width[1][1]) + image.shape[2:], dtype=np.uint8)
        out[...] = fill
        out[:h, :w] = image
        return out
    if not (isinstance(value, numbers.Integral) and value == 0):
        raise ValueError(f"value applies only to mode='constant', not mode={mode!r}; omit it")
    return np.pad(image, width, mode=mode)


def crop_to_multiple(
    image: np.ndarray,
    block: int | tuple[int, int],
    *,
    anchor: str = "center",
) -> np.ndarray:
    """Crop ``image`` so ``block`` divides its height and width: the result
    has shape ``(floor(H/bh)·bh, floor(W/bw)·bw[, C])``.

    ``anchor="center"`` removes the excess evenly from both sides (the odd
    extra row or column from the bottom/right: top offset ``(H mod bh) // 2``);
    ``"top-left"`` keeps the top-left corner and removes from the bottom and
    right, which gives the same cells as the mechanism's ``edges="crop"``.

    Returns a view of ``image`` (no copy); copy it before writing to it.

    Privacy: the removed pixels are not released at all; the mechanism's
    guarantee then covers the cropped image, with ``m`` counting its pixels.

    Raises ``ValueError`` when the image is smaller than one block.
    """
    _check_image(image)
    bh, bw = _as_block(block)
    if anchor not in _ANCHORS:
        raise ValueError(f"anchor must be 'center' or 'top-left'; got {anchor!r}")
    h, w = image.shape[:2]
    if h < bh or w < bw:
        raise ValueError(
            f"image of {h}x{w} pixels is smaller than one {bh}x{bw} block, so cropping "
            "would leave nothing; use pad_to_multiple or a smaller block"
        )
    ch, cw = h - h % bh, w - w % bw
    top, left = ((h - ch) // 2, (w - cw) // 2) if anchor == "center" else (0, 0)
    return image[top : top + ch, left : left + cw]


def resize(
    image: np.ndarray,
    shape: tuple[int, int],
    *,
    filter: str = "box",
) -> np.ndarray:
    """Resize ``image`` to ``shape = (height, width)`` with Pillow.

    Note the order: ``shape`` is numpy's ``(rows, columns)``, not Pillow's
    ``(width, height)``.

    ``filter`` is ``"nearest"``, ``"box"`` (default; ``"area"`` is the same
    filter), ``"bilinear"``, ``"bicubic"`` or ``"lanczos"``. The default
    ``"box"`` averages the source pixels each output pixel covers — the right
    choice for shrinking (at an integer factor it is the block mean; Pillow
    rounds after each of its two passes, rows then columns, so a value can
    differ by 1 from the exactly rounded mean); for enlarging it repeats
    pixels like ``"nearest"``. Each channel
    is resized on its own as 8-bit grey (for RGB that gives the same bytes as
    Pillow's RGB resize; alpha is not premultiplied), so any number of
    channels works.

    Privacy: ``m`` counts pixels of the resized image. After shrinking by a
    factor s per side, an ``m``-pixel region covers about ``m/s²`` pixels,
    but filters with a wider support (``bilinear``, ``bicubic``,
    ``lanczos``) spread every source pixel over more output pixels than
    ``box`` does; choose ``m`` for the image you pass to the mechanism.
    """
    _check_image(image)
    if filter not in _FILTERS:
        raise ValueError(f"filter must be one of {', '.join(map(repr, _FILTERS))}; got {filter!r}")
    oh, ow = _as_pair(shape, "shape")
    resample = _FILTERS[filter]
    if image.ndim == 2:
        return _resize_plane(image, ow, oh, resample)
    out = np.empty((oh, ow, image.shape[2]), dtype=np.uint8)
    for c in range(image.shape[2]):
        out[:, :, c] = _resize_plane(image[:, :, c], ow, oh, resample)
    return out


def _resize_plane(plane: np.ndarray, ow: int, oh: int, resample: int) -> np.ndarray:
    im = Image.fromarray(np.ascontiguousarray(plane))
    return np.asarray(im.resize((ow, oh), resample=resample)).copy()


def block_for_target(
    shape: tuple[int, ...],
    target: int | tuple[int, int],
) -> tuple[int, int]:
    """The block ``(bh, bw)`` that maps an image of ``shape`` onto a grid of
    at most ``target = (gh, gw)`` cells (an int means a square grid).

    Definition: per axis, the smallest block with at most ``g`` cells,
    ``b = ceil(H / g)``, i.e. the smallest ``b ≥ 1`` with ``ceil(H / b) ≤ g``.
    The grid is then ``(ceil(H/bh), ceil(W/bw))`` cells: never more than
    ``target``, exactly ``target`` whenever ``g`` divides the side (and for
    many other sizes), but not always — no block puts a 10-pixel side into
    exactly 6 cells (blocks of 2 give 5, of 1 give 10). Where you need the
    exact grid, pad, crop or resize the image to ``(gh·bh, gw·bw)`` first. A
    target larger than the image gives blocks of 1 (one cell per pixel, no
    pixelization).

    The original research code took such a target size instead of a block;
    this gives the block to pass to ``dp_pixelate`` for it.

    ``shape`` is ``(H, W)`` or ``(H, W, C)`` (the channel count is ignored),
    e.g. ``image.shape``.
    """
    if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 3):
        raise TypeError(
            f"shape must be a tuple (H, W) or (H, W, C) such as image.shape, got {shape!r}"
        )
    h, w = _as_pair(tuple(shape[:2]), "shape")
    gh, gw = _as_pair(target, "target")
    return math.ceil(h / gh), math.ceil(w / gw)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(
            f"image must have dtype uint8, got {image.dtype}; convert explicitly, e.g. "
            "np.clip(a, 0, 255).astype(np.uint8)"
        )
    if image.ndim not in (2, 3):
        raise ValueError(
            f"image must have shape (H, W) or (H, W, C), got {image.ndim} dimensions "
            f"{image.shape}; for a batch, call this on each image"
        )
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")


def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _as_pair(value: object, name: str) -> tuple[int, int]:
    """An int (used for both axes) or a pair of ints, all ≥ 1."""
    if _is_int(value):
        pair = (int(value), int(value))  # type: ignore[call-overload]
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints (rows, columns), got {value!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise ValueError(f"{name} must be at least 1 on both axes, got {value!r}")
    return pair


def _as_block(block: object) -> tuple[int, int]:
    return _as_pair(block, "block")


def _check_value(value: object, image: np.ndarray) -> int | np.ndarray:
    """The fill for constant padding: one int, or one int per channel."""
    channels = image.shape[2] if image.ndim == 3 else None
    if _is_int(value):
        values = [int(value)]  # type: ignore[call-overload]
    elif (
        isinstance(value, (tuple, list, np.ndarray))
        and channels is not None
        and len(value) == channels
        and all(_is_int(v) for v in value)
    ):
        values = [int(v) for v in value]
    else:
        per_channel = f", or {channels} ints (one per channel)" if channels else ""
        raise TypeError(f"value must be an int 0..255{per_channel}; got {value!r}")
    if not all(0 <= v <= 255 for v in values):
        raise ValueError(f"value must be in 0..255 for a uint8 image; got {value!r}")
    return values[0] if _is_int(value) else np.array(values, dtype=np.uint8)
