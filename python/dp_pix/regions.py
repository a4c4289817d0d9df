"""Region mode: DP-Pix inside boxes or a mask, every other pixel unchanged.

``dp_pixelate(image, ..., regions=[(x0, y0, x1, y1), ...])`` (or a boolean
mask of the image's height and width) privatizes only the regions. The
guarantee (``Params.describe(regions=True)``; PRIVACY.md, "Regions"): ε-DP
for any change of up to m pixels inside the regions, given the regions; the
regions' positions and sizes are published as they are and were found on the
raw image; a face the detector misses has no protection.

Decisions:

- **Boxes** are ``(x0, y0, x1, y1)`` in pixels, half-open (``x0 <= x < x1``),
  x to the right and y down. Fractional corners are rounded outward; a box is
  clipped to the image, and one that lies wholly outside is an error.
  :func:`grow` pads boxes by a fraction of their size (the CLI's ``--pad``).
  Overlapping boxes are merged into their bounding box, again until no two
  overlap, so that no pixel is released twice (:func:`merge`); boxes that only
  touch stay apart.
- **Cells** are laid on a grid anchored at each merged box's top-left corner:
  a box is released exactly as whole-image DP-Pix would release the crop, its
  partial cells (right and bottom) as ``edges`` says. With ``edges="crop"``
  the partial cells of a region are not released: their pixels become 0.
- **A mask** is one region. Its grid is anchored at the top-left corner of the
  mask's bounding box, and a cell is the grid cell restricted to mask pixels:
  its sum and its pixel count run over mask pixels only (``edges="pad"``
  divides by bh·bw instead). A rectangular mask gives the same distribution
  as the box. Pixels outside the mask are unchanged.
- **m="region"** becomes the pixel count of the image's largest merged box
  (for a mask, of the whole mask), so any content of a whole region is covered.
- **Streams.** Under a seed, box k of image i is numbered
  :func:`stream_index` (i, k), and draws from a key bound to that number and
  to the box's own pixels (:func:`dp_pix.seeding.image_keys`; a mask's key
  also to the mask): two different regions never share noise.

Each box is cropped (a view, no copy) and released by the core on the crop, so
a few faces cost far less than the whole image.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from dp_pix._reference import NOISE_CLAMP, round_cells  # the kernel contract's rounding
from dp_pix.backend import Core
from dp_pix.params import Params
from dp_pix.seeding import image_keys

__all__ = [
    "DEFAULT_PAD",
    "FILE_SCHEMA",
    "Box",
    "Finder",
    "Layout",
    "Regions",
    "describe",
    "grow",
    "layout",
    "merge",
    "read_file",
    "release",
    "resolve",
    "stream_index",
]

#: ``(x0, y0, x1, y1)``: columns x0..x1-1, rows y0..y1-1.
Box = tuple[int, int, int, int]
#: What ``regions=`` takes: boxes, a boolean ``(H, W)`` mask, or a :class:`Layout`.
Regions = Union[Sequence[Sequence[float]], npt.NDArray[Any], "Layout"]

#: The margin ``dp-pix pixelate --pad`` adds around every box by default: a
#: detector's face box is tight (brows to chin), hair and ears lie outside it.
DEFAULT_PAD = 0.2

FILE_SCHEMA = """\
A JSON object with one key per input file: its path relative to the input
folder, "/"-separated, as dp-pix pixelate mirrors it under OUT (for a file
named on the command line, its name). The value is a list of boxes
[x0, y0, x1, y1] in pixels (x to the right, y down, right and bottom edges
excluded), or, for a video, an object mapping frame numbers ("0", "1", ...:
every decoded frame from 0, those --fps drops included) to such lists; a
frame not listed has no region. [] ({} for a video) means no region: the
file is published unchanged (a video re-encoded; --lossless keeps it exact).
  {"a/x.jpg": [[10, 20, 110, 140], [300, 40, 380, 150]],
   "b.png": [],
   "clip.mp4": {"0": [[5, 5, 60, 70]], "1": [[6, 5, 61, 70]]}}
Every input needs an entry unless --detect also runs; a key that names no
input is refused before any work."""



@dataclass(frozen=True, eq=False)
class Layout:
    """The regions of one ``height`` x ``width`` image, ready to release:
    disjoint boxes, sorted, or a mask (then ``boxes`` holds its bounding box,
    or nothing when the mask is empty)."""

    shape: tuple[int, int]
    boxes: tuple[Box, ...]
    mask: npt.NDArray[np.bool_] | None = None

    @property
    def largest(self) -> int:
        """Pixels of the largest region: what ``m="region"`` becomes."""
        if self.mask is not None:
            return int(np.count_nonzero(self.mask))
        return max(((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in self.boxes), default=0)

    @property
    def pixels(self) -> int:
        """Pixels inside the regions."""
        if self.mask is not None:
            return int(np.count_nonzero(self.mask))
        return sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in self.boxes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the boxes used (for a mask, its bounding box and pixel count)."""
        out: dict[str, Any] = {"boxes": [list(b) for b in self.boxes]}
        if self.mask is not None:
            out["mask_pixels"] = self.pixels
        return out


# ------------------------------------------------------------------- boxes


def _corner(value: Any, name: str, up: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        return int(value)
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return math.ceil(x) if up else math.floor(x)


def boxes_of(regions: Any, shape: tuple[int, int], name: str = "regions") -> list[Box]:
    """``regions`` (a sequence of ``(x0, y0, x1, y1)``) as int boxes clipped to
    an image of ``shape`` (height, width); corners rounded outward."""
    h, w = shape
    if isinstance(regions, np.ndarray):
        if regions.ndim != 2 or regions.shape[1] != 4 or regions.dtype.kind not in "iuf":
            raise ValueError(
                f"{name} as an array must be numbers of shape (n, 4), got {regions.dtype} "
                f"{regions.shape}; or pass a boolean mask of the image's height and width"
            )
        regions = regions.tolist()
    if isinstance(regions, (str, bytes)) or not isinstance(regions, Sequence):
        raise TypeError(
            f"{name} must be a list of boxes (x0, y0, x1, y1) or a boolean mask, "
            f"got {type(regions).__name__}"
        )
    if len(regions) and isinstance(regions[0], numbers.Real):
        raise TypeError(
            f"{name} must be a list of boxes, got one box {tuple(regions)!r}; "
            f"write [{tuple(regions)!r}]"
        )
    boxes = []
    for i, box in enumerate(regions):
        where = f"{name}[{i}]"
        if isinstance(box, (str, bytes)) or not isinstance(box, (Sequence, np.ndarray)):
            raise TypeError(f"{where} must be a box (x0, y0, x1, y1), got {type(box).__name__}")
        if len(box) != 4:
            raise ValueError(f"{where} must have 4 numbers (x0, y0, x1, y1), got {len(box)}")
        x0 = _corner(box[0], f"{where}[0]", up=False)
        y0 = _corner(box[1], f"{where}[1]", up=False)
        x1 = _corner(box[2], f"{where}[2]", up=True)
        y1 = _corner(box[3], f"{where}[3]", up=True)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(
                f"{where} = {tuple(box)!r} is empty: boxes are (x0, y0, x1, y1) with x1 > x0 "
                "and y1 > y0 (the right and bottom edges excluded)"
            )
        clipped = (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise ValueError(f"{where} = {tuple(box)!r} lies outside the {w}x{h} image")
        boxes.append(clipped)
    return boxes


def grow(boxes: Sequence[Box], fraction: float, shape: tuple[int, int]) -> list[Box]:
    """Each box grown on every side by ``fraction`` of its width (left and
    right) and height (top and bottom), rounded up, and clipped to ``shape``
    (height, width). ``fraction=0.2`` makes a 100-pixel-wide box 140 wide."""
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"pad must be a number, got {type(fraction).__name__}")
    f = float(fraction)
    if not (math.isfinite(f) and f >= 0):
        raise ValueError(f"pad must be a finite fraction >= 0, got {fraction!r}; e.g. 0.2")
    h, w = shape
    out = []
    for x0, y0, x1, y1 in boxes:
        dx, dy = math.ceil(f * (x1 - x0)), math.ceil(f * (y1 - y0))
        out.append((max(x0 - dx, 0), max(y0 - dy, 0), min(x1 + dx, w), min(y1 + dy, h)))
    return out


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def merge(boxes: Sequence[Box]) -> list[Box]:
    """Disjoint boxes, sorted by (y0, x0): overlapping boxes are replaced by
    their bounding box until no two overlap (boxes that only touch stay apart)."""
    pending = list(boxes)
    done: list[Box] = []
    while pending:
        box = pending.pop()
        grown = True
        while grown:
            grown = False
            for other in [b for b in done if _overlap(box, b)]:
                done.remove(other)
                box = (
                    min(box[0], other[0]), min(box[1], other[1]),
                    max(box[2], other[2]), max(box[3], other[3]),
                )  # fmt: skip
                grown = True
        done.append(box)
    return sorted(done, key=lambda b: (b[1], b[0], b[3], b[2]))


def layout(
    regions: Regions, shape: tuple[int, int], *, pad: float = 0.0, name: str = "regions"
) -> Layout:
    """The regions of an image of ``shape`` (height, width): boxes checked,
    clipped, grown by ``pad``, merged; or a boolean mask checked (``pad``
    does not apply to a mask). ``name`` is used in error messages."""
    if isinstance(regions, Layout):
        if regions.shape != tuple(shape):
            raise ValueError(
                f"regions were laid out for a {regions.shape[1]}x{regions.shape[0]} image, "
                f"not {shape[1]}x{shape[0]}"
            )
        return regions
    if isinstance(regions, np.ndarray) and regions.dtype == np.bool_:
        if regions.shape != tuple(shape):
            raise ValueError(
                f"a regions mask must have the image's height and width {tuple(shape)}, "
                f"got {regions.shape}"
            )
        mask = np.array(regions, dtype=np.bool_, copy=True)
        mask.flags.writeable = False
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            return Layout((shape[0], shape[1]), (), mask)
        bbox = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        return Layout((shape[0], shape[1]), (bbox,), mask)
    boxes = boxes_of(regions, shape, name)
    if pad:
        boxes = grow(boxes, pad, shape)
    return Layout((shape[0], shape[1]), tuple(merge(boxes)))


def resolve(params: Params, regions: Layout) -> Params:
    """``params`` with ``m="region"`` replaced by the largest region's pixel count."""
    if params.m != "region" or regions.largest == 0:
        return params
    return params.replace(m=regions.largest)


def stream_index(index: int, region: int) -> int:
    """The image index whose noise stream region ``region`` of image ``index``
    draws under a seed: SHA-256 of both, first 8 bytes, masked to 63 bits.
    Distinct regions and images never share a stream (but with odds 2^-63 per
    pair), whatever their numbers."""
    data = b"dp-pix region\0" + index.to_bytes(8, "big") + region.to_bytes(8, "big")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") & (2**63 - 1)


def describe(
    params: Params, channels: int, regions: Layout, core: Core | None = None
) -> dict[str, Any]:
    """The guarantee of one image's region release: ``Params.describe`` in
    region mode at the m actually used, plus the boxes (``regions``)."""
    used = resolve(params, regions)
    info = used.describe(channels, core, regions=True)
    info["m_requested"] = params.m
    info["regions"] = regions.to_dict()
    return info


# ------------------------------------------------------------------- files


@dataclass(frozen=True, eq=False)
class Finder:
    """Where the regions of each file of a run come from (``dp-pix pixelate
    --regions FILE --detect faces --pad FRACTION``): the boxes of a regions
    file (:data:`FILE_SCHEMA`, read by :func:`read_file`), those a
    ``detector`` finds on the image, or both; all grown by ``pad`` and merged.
    Called as ``finder(name, image)`` with the file's path relative to its
    input folder; a file that the regions file does not list is an error
    unless a detector runs."""

    boxes: Mapping[str, Any] | None = None
    detector: Callable[[npt.NDArray[np.uint8]], Sequence[Sequence[float]]] | None = None
    pad: float = DEFAULT_PAD
    source: str | None = None  # the regions file, as named
    digest: str | None = None  # SHA-256 of its bytes
    detect: str | None = None  # the detector's name, for the record

    def __post_init__(self) -> None:
        if self.boxes is None and self.detector is None:
            raise ValueError("regions need a regions file, a detector, or both")
        grow([], self.pad, (1, 1))  # checks pad

    def __call__(self, name: str, image: npt.NDArray[np.uint8]) -> Layout:
        shape = (image.shape[0], image.shape[1])
        found: list[Any] = []
        if self.boxes is not None:
            entry = self.boxes.get(name)
            if entry is None and self.detector is None:
                raise ValueError(
                    f"{self.source} has no entry for {name!r}: list it, with [] to publish it "
                    "unchanged"
                )
            if isinstance(entry, Mapping):
                raise ValueError(
                    f"{self.source} gives {name!r} boxes per frame, but it is an image: "
                    "give a list of boxes"
                )
            found += entry or []
        if self.detector is not None:
            found += list(self.detector(image))
        return layout(found, shape, pad=self.pad, name=f"the regions of {name!r}")

    def frames(self, name: str) -> dict[int, list[Any]]:
        """A video's boxes by frame number, as the regions file gives them
        (``[]`` there: no frame has regions). A video that the file does not
        list is an error unless a detector runs, as for an image."""
        entry = (self.boxes or {}).get(name)
        if entry is None:
            if self.boxes is not None and self.detector is None:
                raise ValueError(
                    f"{self.source} has no entry for {name!r}: list it, with {{}} to publish it "
                    "unchanged"
                )
            return {}
        if not isinstance(entry, Mapping):
            if entry:
                raise ValueError(
                    f"{self.source} gives {name!r} one list of boxes, but it is a video: give "
                    'its boxes by frame number, {"0": [[x0, y0, x1, y1]], "1": [...]}'
                )
            return {}
        return {int(k): list(v) for k, v in entry.items()}

    def unknown(self, names: Iterable[str]) -> list[str]:
        """Keys of the regions file that name none of ``names``."""
        return sorted(set(self.boxes or ()) - set(names))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "file_sha256": self.digest,
            "detect": self.detect,
            "detector": None if self.detector is None else repr(self.detector),
            "pad": self.pad,
            "grid": "cells anchored at each merged box's top-left corner",
        }


def read_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """A regions file (:data:`FILE_SCHEMA`): its boxes by file name, and the
    SHA-256 of its bytes. Raises ``ValueError`` naming what is wrong."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        content = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{os.fspath(path)} is not a JSON file: {exc}") from None
    if not isinstance(content, dict):
        # Wrong content in a file is a bad value (ValueError), not a bad argument type.
        raise ValueError(f"{os.fspath(path)} must hold a JSON object: file name -> boxes")  # noqa: TRY004
    for key, value in content.items():
        where = f"{os.fspath(path)}: {key!r}"
        if isinstance(value, dict):
            for frame, boxes in value.items():
                if not frame.isdigit():
                    raise ValueError(f"{where}: frame numbers are whole numbers, got {frame!r}")
                _check_list(boxes, f"{where}, frame {frame}")
        else:
            _check_list(value, where)
    return content, hashlib.sha256(data).hexdigest()


def _check_list(boxes: Any, where: str) -> None:
    if not isinstance(boxes, list):
        raise ValueError(f"{where} must be a list of boxes [x0, y0, x1, y1]")  # noqa: TRY004
    for box in boxes:
        ok = isinstance(box, list) and len(box) == 4
        if not ok or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
            raise ValueError(f"{where}: {box!r} is not a box [x0, y0, x1, y1] of numbers")


# ----------------------------------------------------------------- release


def release(
    image: npt.NDArray[np.uint8],
    regions: Layout,
    params: Params,
    core: Core,
    seed: bytes | None,
    index: int,
) -> npt.NDArray[np.uint8]:
    """Region mode on one image, a ``(1, H, W, C)`` view: a new ``(H, W, C)``
    array equal to the image outside the regions. ``params`` may have
    ``m="region"``; ``index`` is the image's number (for seeded streams)."""
    if params.output != "full":
        raise ValueError(
            "regions need output='full': the pixels outside the regions are returned "
            "as they are, so the output has the image's size"
        )
    out = np.array(image[0], dtype=np.uint8, order="C", copy=True)
    if regions.largest == 0:
        return out
    used = resolve(params, regions)
    spec = used.noise(image.shape[3], core)
    if regions.mask is not None:
        _release_mask(image[0], out, regions, used, spec, core, seed, index)
        return out
    bh, bw = used.block
    for k, (x0, y0, x1, y1) in enumerate(regions.boxes):
        if used.edges == "crop":
            out[y0:y1, x0:x1] = 0  # partial cells are not released
            if (y1 - y0) < bh or (x1 - x0) < bw:
                continue
        crop = image[:, y0:y1, x0:x1, :]
        stream = stream_index(index, k)
        keys = None if seed is None else image_keys(seed, spec, used.block, crop, stream)
        private = core.pixelate(crop, bh, bw, used.edges, "full", spec, keys, stream)
        out[y0 : y0 + private.shape[1], x0 : x0 + private.shape[2]] = private[0]
    return out


def _release_mask(
    image: npt.NDArray[np.uint8],
    out: npt.NDArray[np.uint8],
    regions: Layout,
    params: Params,
    spec: Any,
    core: Core,
    seed: bytes | None,
    index: int,
) -> None:
    """Cells of the grid anchored at the mask's bounding box, restricted to
    mask pixels: sums and counts over mask pixels, one noise sample per cell
    with a mask pixel and channel, integer post-processing as the core's."""
    assert regions.mask is not None
    x0, y0, x1, y1 = regions.boxes[0]
    bh, bw = params.block
    c = image.shape[2]
    if params.edges == "crop":
        out[regions.mask] = 0  # pixels of partial cells are not released
        gh, gw = (y1 - y0) // bh, (x1 - x0) // bw
    else:
        gh, gw = -(-(y1 - y0) // bh), -(-(x1 - x0) // bw)
    hh, ww = min(gh * bh, y1 - y0), min(gw * bw, x1 - x0)  # the part the grid covers
    if gh == 0 or gw == 0:
        return
    inside = np.zeros((gh * bh, gw * bw), dtype=np.bool_)
    inside[:hh, :ww] = regions.mask[y0 : y0 + hh, x0 : x0 + ww]
    pixels = np.zeros((gh * bh, gw * bw, c), dtype=np.int64)
    pixels[:hh, :ww] = image[y0 : y0 + hh, x0 : x0 + ww]
    pixels *= inside[:, :, None]
    sums = pixels.reshape(gh, bh, gw, bw, c).sum(axis=(1, 3))
    counts = inside.reshape(gh, bh, gw, bw).sum(axis=(1, 3))
    live = counts > 0
    n = int(np.count_nonzero(live))
    key = None
    if seed is not None:  # bound to the region's pixels and the mask, as every seeded image
        crop = image[None, y0:y1, x0:x1]
        bits = np.packbits(regions.mask[y0:y1, x0:x1]).tobytes()
        key = image_keys(seed, spec, params.block, crop, stream_index(index, 0), extra=bits)
    noise = core.sample(spec, n * c, key)
    noise = np.clip(np.asarray(noise, dtype=np.int64), -NOISE_CLAMP, NOISE_CLAMP)
    total = sums[live] + noise.reshape(n, c)
    divisor = counts[live][:, None] if params.edges == "partial" else np.int64(bh * bw)
    cells = np.zeros((gh, gw, c), dtype=np.uint8)
    cells[live] = round_cells(total, divisor)
    full = np.repeat(np.repeat(cells, bh, axis=0), bw, axis=1)
    keep = inside[:hh, :ww]
    target = out[y0 : y0 + hh, x0 : x0 + ww]
    target[keep] = full[:hh, :ww][keep]
