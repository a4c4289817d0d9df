"""The public API: DP-Pix on images, on the core that ``dp_pix.backend`` chose.

:class:`Pixelizer` holds a :class:`~dp_pix.params.Params` (and a seed, if any);
the functions build one per call. Images (numpy arrays, PIL images and other
array-like objects: ``dp_pix.images``) are checked and shaped to
``(N, H, W, C)`` views here (no copy) and handed to the core with the exact
noise the parameters calibrate; the output comes back in the input's kind.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload

import numpy as np
import numpy.typing as npt

from dp_pix import backend
from dp_pix import images as _images
from dp_pix import regions as _regions
from dp_pix.backend import Core
from dp_pix.images import AnyImage
from dp_pix.params import (
    EDGES,
    MAX_INDEX,
    OUTPUTS,
    Edges,
    Output,
    Params,
    ParamsArgs,
    check_block,
    check_choice,
    check_int,
    seed_bytes,
)
from dp_pix.regions import Regions
from dp_pix.seeding import image_keys

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "Image",
    "Pixelizer",
    "dp_pixelate",
    "dp_pixelate_batch",
    "mosaic",
    "noisy_mosaic",
    "noisy_pixelate",
    "pixelate",
]

Image = npt.NDArray[np.uint8]
FLOAT_NOISES = ("gaussian", "laplace")


# --------------------------------------------------------------------- images


def _check_array(image: Any, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy uint8 array or a PIL image, got {type(image).__name__}; "
            "use np.asarray(x, dtype=np.uint8) for 8-bit data"
        )
    if image.dtype != np.uint8:
        raise TypeError(
            f"{name} must have dtype uint8, got {image.dtype}; dp_pix never casts silently: "
            "convert 8-bit data with x.astype(np.uint8), rescale other ranges first"
        )
    return image


def as_image(image: Any, name: str = "image") -> np.ndarray:
    """One image as a ``(1, H, W, C)`` view."""
    image = _check_array(image, name)
    if image.ndim == 2:
        view = image[None, :, :, None]
    elif image.ndim == 3:
        view = image[None]
    else:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got {image.shape}")
    if view.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    return view


def as_batch(images: np.ndarray) -> np.ndarray:
    """A stacked batch as an ``(N, H, W, C)`` view."""
    images = _check_array(images, "images")
    if images.ndim == 3:
        view = images[..., None]
    elif images.ndim == 4:
        view = images
    else:
        raise ValueError(
            f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}; "
            "for one image use dp_pixelate, for images of different sizes pass a list"
        )
    if any(s == 0 for s in view.shape[1:]):
        raise ValueError(f"images are empty (shape {images.shape})")
    return view


def out_shape(h: int, w: int, block: tuple[int, int], edges: str, output: str) -> tuple[int, int]:
    """Height and width of the output for an ``h`` x ``w`` image."""
    bh, bw = block
    if edges == "crop":
        gh, gw = h // bh, w // bw
        if gh == 0 or gw == 0:
            raise ValueError(
                f"edges='crop' with block {bh}x{bw} leaves nothing of a {h}x{w} image; "
                "use a smaller block or edges='partial'"
            )
    else:
        gh, gw = -(-h // bh), -(-w // bw)
    if output == "grid":
        return gh, gw
    return (gh * bh, gw * bw) if edges == "crop" else (h, w)


def _restore(out4: np.ndarray, like: np.ndarray, batch: bool) -> Image:
    """Drop the axes that as_image / as_batch added."""
    if like.ndim == (3 if batch else 2):
        out4 = out4[..., 0]
    return out4 if batch else out4[0]


def _params(params: Params | None, kwargs: ParamsArgs) -> Params:
    """The entry points' parameters: a Params, keywords, or a Params with changes."""
    if params is None:
        if "block" not in kwargs or "m" not in kwargs:
            missing = " and ".join(k + "=" for k in ("block", "m") if k not in kwargs)
            raise TypeError(f"{missing} required, e.g. block=16, epsilon=0.5, m=16 (or a Params)")
        return Params(**kwargs)
    if not isinstance(params, Params):
        raise TypeError(
            f"params must be a dp_pix.Params, got {type(params).__name__}; "
            "pass the parameters as keywords (block=16, epsilon=0.5, m=16) or as Params(...)"
        )
    return params.replace(**kwargs) if kwargs else params


# ------------------------------------------------------------------ Pixelizer


class Pixelizer:
    """DP-Pix with fixed parameters: callable on an image, ``.batch`` on many.

    ``Pixelizer(params)`` or ``Pixelizer(block=16, epsilon=0.5, m=16, ...)``
    (the keywords of :class:`~dp_pix.Params`). The guarantee: for any two
    images of the same shape that differ in at most ``m`` pixel positions
    (every channel of those pixels may change), the output distributions are
    close — ``describe()`` says how.

    With ``seed``, output is reproducible: the seed is a secret key, never for
    published releases (anyone who knows it can subtract the noise). Each image
    then draws noise keyed by the seed, the parameters, its index and its own
    pixels: two different images never share noise, whatever their indices —
    also across copies of a Pixelizer (pickled to worker processes, say) — and
    the same seed, parameters, image and index repeat the same bytes.
    Successive calls use successive indices (under a lock), so one image
    privatized twice gets fresh noise each time.
    """

    core: ClassVar[Core] = backend.CORE

    def __init__(
        self,
        params: Params | None = None,
        /,
        *,
        seed: int | None = None,
        **kwargs: Unpack[ParamsArgs],
    ) -> None:
        self._params = _params(params, kwargs)
        self._seed = seed_bytes(seed)
        self._next_index = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]  # a lock does not travel: each copy gets its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def params(self) -> Params:
        return self._params

    @property
    def seeded(self) -> bool:
        return self._seed is not None

    def __repr__(self) -> str:
        seeded = ", seeded" if self._seed is not None else ""
        return f"{type(self).__name__}({self._params!r}{seeded})"

    def noise(self, channels: int) -> backend.SamplerSpec:
        """The exact noise on the cell sums for ``channels`` channels (see Params.noise)."""
        return self._params.noise(channels, self.core)

    def describe(self, channels: int = 1, *, regions: bool = False) -> dict[str, Any]:
        """The guarantee and the noise scales, for images with ``channels``
        channels; ``regions=True``: of region mode (see ``Params.describe``)."""
        return self._params.describe(channels, self.core, regions=regions)

    def _take_indices(self, n: int) -> int:
        with self._lock:
            first = self._next_index
            if self._seed is not None:
                self._next_index += n
            return first

    def _first_index(self, n: int, index: int | None) -> int:
        """The first image number of ``n`` images: the next unused, or ``index``."""
        if index is None:
            return self._take_indices(n)
        fix = "pass the first image's number, 0, 1, ..."
        first = check_int(index, "index", 0, MAX_INDEX, fix)
        if first + n - 1 > MAX_INDEX:
            raise ValueError(
                f"index {first} + {n} images runs past the last image number 2**63 - 1; {fix}"
            )
        return first

    def _run(self, view: np.ndarray, offset: int) -> np.ndarray:
        p = self._params
        bh, bw = p.block
        noise = self.noise(view.shape[3])
        keys = None if self._seed is None else image_keys(self._seed, noise, p.block, view, offset)
        return self.core.pixelate(view, bh, bw, p.edges, p.output, noise, keys, offset)


    def _run_regions(
        self, view: np.ndarray, like: Image, layout: _regions.Layout, offset: int
    ) -> Image:
        out = _regions.release(view, layout, self._params, self.core, self._seed, offset)
        return out[:, :, 0] if like.ndim == 2 else out

    def __call__(
        self, image: AnyImage, *, index: int | None = None, regions: Regions | None = None
    ) -> AnyImage:
        """Privatize one image: an array in, an array out; a PIL image in, a PIL
        image out (``dp_pix.images`` has the rules for each kind).

        ``regions``: privatize only these boxes ``[(x0, y0, x1, y1), ...]`` or
        this boolean ``(H, W)`` mask and return every other pixel unchanged
        (:mod:`dp_pix.regions`; ``m="region"`` needs them).

        ``index`` (for a seeded Pixelizer): draw the noise of image number
        ``index`` instead of the next unused number, and leave the counter as
        it is. Callers that number their images themselves (e.g. files in a
        sorted order, processed by many threads) get bytes that do not depend
        on the order of the calls. Keeping the numbers distinct is then the
        caller's job: one number on two images reuses the noise. Without a
        seed every call draws fresh randomness and ``index`` has no effect.
        """
        array, back = _images.to_array(image)
        view = as_image(array)
        p = self._params
        layout = None
        if regions is None:
            out_shape(view.shape[1], view.shape[2], p.block, p.edges, p.output)
            p.noise(view.shape[3], self.core)  # m="region" without regions: refused here
        else:
            layout = _regions.layout(regions, (view.shape[1], view.shape[2]))
        if index is None:
            offset = self._take_indices(1)
        else:
            offset = check_int(index, "index", 0, MAX_INDEX, "pass the image's number, 0, 1, ...")
        if layout is not None:
            return back(self._run_regions(view, array, layout, offset))
        return back(_restore(self._run(view, offset), array, batch=False))

    @overload
    def batch(
        self, images: Image, *, index: int | None = None,
        regions: Sequence[Regions] | None = None,
    ) -> Image: ...
    @overload
    def batch(
        self, images: Sequence[AnyImage], *, index: int | None = None,
        regions: Sequence[Regions] | None = None,
    ) -> list[AnyImage]: ...

    def batch(
        self, images: Image | Sequence[AnyImage], *, index: int | None = None,
        regions: Sequence[Regions] | None = None,
    ) -> Image | list[AnyImage]:
        """Privatize a stacked batch (N, H, W[, C]) or a list of images (a list
        back, each in its own kind: PIL images stay PIL images).

        ``index`` (for a seeded Pixelizer): image j draws the noise of image
        number ``index + j`` instead of the next unused numbers, and the counter
        is left as it is — as ``index`` of ``__call__``, for callers that number
        their images themselves (e.g. the frames of a video). ``regions``: one
        entry per image (boxes or a mask, ``[]`` for none), as for a single call.
        """
        p = self._params
        images = _images.to_stack(images)
        if regions is not None:
            return self._batch_regions(images, regions, index)
        if p.m == "region":
            p.noise(1, self.core)  # refused: m="region" needs regions
        if isinstance(images, np.ndarray):
            view = as_batch(images)
            n, h, w, c = view.shape
            oh, ow = out_shape(h, w, p.block, p.edges, p.output)
            if n == 0:
                return _restore(np.empty((0, oh, ow, c), np.uint8), images, batch=True)
            first = self._first_index(n, index)
            return _restore(self._run(view, first), images, batch=True)
        if not isinstance(images, (list, tuple)):
            raise TypeError(
                "images must be a uint8 array (N, H, W[, C]) or a list of uint8 images, "
                f"got {type(images).__name__}"
            )
        arrays = [_images.to_array(im, f"images[{i}]") for i, im in enumerate(images)]
        views = [as_image(a, f"images[{i}]") for i, (a, _) in enumerate(arrays)]
        for v in views:
            out_shape(v.shape[1], v.shape[2], p.block, p.edges, p.output)
        first = self._first_index(len(views), index)
        return [
            back(_restore(self._run(v, first + i), a, batch=False))
            for i, (v, (a, back)) in enumerate(zip(views, arrays))
        ]

    def _batch_regions(
        self, images: Image | Sequence[AnyImage], regions: Sequence[Regions], index: int | None
    ) -> Image | list[AnyImage]:
        backs: list[_images.Back] = []
        if isinstance(images, np.ndarray):
            stack = as_batch(images)
            views = [stack[i : i + 1] for i in range(stack.shape[0])]
            likes: Sequence[Image] = list(images)
        elif isinstance(images, (list, tuple)):
            arrays = [_images.to_array(im, f"images[{i}]") for i, im in enumerate(images)]
            views = [as_image(a, f"images[{i}]") for i, (a, _) in enumerate(arrays)]
            likes = [a for a, _ in arrays]
            backs = [back for _, back in arrays]
        else:
            raise TypeError(
                "images must be a uint8 array (N, H, W[, C]) or a list of uint8 images, "
                f"got {type(images).__name__}"
            )
        if isinstance(regions, (str, bytes, np.ndarray)) or not isinstance(regions, Sequence):
            raise TypeError(
                "regions of a batch must be a list with one entry per image (boxes or a mask)"
            )
        if len(regions) != len(views):
            raise ValueError(
                f"regions must have one entry per image: {len(views)} image(s), "
                f"{len(regions)} entries"
            )
        layouts = [_regions.layout(r, (v.shape[1], v.shape[2])) for r, v in zip(regions, views)]
        first = self._first_index(len(views), index)
        outs = [
            self._run_regions(v, like, lay, first + i)
            for i, (v, like, lay) in enumerate(zip(views, likes, layouts))
        ]
        if isinstance(images, np.ndarray):
            return np.stack(outs) if outs else np.empty_like(images)
        return [back(out) for back, out in zip(backs, outs)]


# ------------------------------------------------------------------ functions


def dp_pixelate(
    image: AnyImage,
    params: Params | None = None,
    /,
    *,
    seed: int | None = None,
    regions: Regions | None = None,
    **kwargs: Unpack[ParamsArgs],
) -> AnyImage:
    """DP-Pix one image: uint8 (H, W) or (H, W, C) in, uint8 out; a PIL image
    in, a PIL image out (``dp_pix.images``: palette → RGB, 16-bit → 8-bit, ...).

    ``dp_pixelate(image, block=16, epsilon=0.5, m=16)`` or
    ``dp_pixelate(image, params)``: cells of ``block`` pixels, one exact noise
    sample per cell and channel on the integer cell sum, calibrated so that any
    change of up to ``m`` pixels is ``epsilon``-DP (see :class:`dp_pix.Params`
    for every parameter). ``seed`` is a secret key for reproducible output,
    never for releases.

    ``regions=[(x0, y0, x1, y1), ...]`` (pixels, right and bottom edges
    excluded) or a boolean ``(H, W)`` mask: region mode (:mod:`dp_pix.regions`)
    — only the regions are privatized, with cells anchored at each region's
    top-left corner, and every other pixel is returned unchanged; ``m="region"``
    protects a whole region.
    """
    return Pixelizer(params, seed=seed, **kwargs)(image, regions=regions)


@overload
def dp_pixelate_batch(
    images: Image,
    params: Params | None = None,
    /,
    *,
    seed: int | None = None,
    regions: Sequence[Regions] | None = None,
    **kwargs: Unpack[ParamsArgs],
) -> Image: ...
@overload
def dp_pixelate_batch(
    images: Sequence[AnyImage],
    params: Params | None = None,
    /,
    *,
    seed: int | None = None,
    regions: Sequence[Regions] | None = None,
    **kwargs: Unpack[ParamsArgs],
) -> list[AnyImage]: ...


def dp_pixelate_batch(
    images: Image | Sequence[AnyImage],
    params: Params | None = None,
    /,
    *,
    seed: int | None = None,
    regions: Sequence[Regions] | None = None,
    **kwargs: Unpack[ParamsArgs],
) -> Image | list[AnyImage]:
    """DP-Pix a batch: uint8 (N, H, W) or (N, H, W, C), or a list of images (a list back).

    Each image gets its own guarantee, as with ``dp_pixelate``; with a seed,
    image i draws from its own streams, so the bytes do not depend on the
    thread count. ``regions``: one entry per image (see ``dp_pixelate``).
    """
    return Pixelizer(params, seed=seed, **kwargs).batch(images, regions=regions)


def mosaic(
    core: Core, image: AnyImage, *, block: int | tuple[int, int], edges: Edges, output: Output
) -> AnyImage:
    """:func:`pixelate` on a given core."""
    array, back = _images.to_array(image)
    view = as_image(array)
    blk = check_block(block)
    check_choice(edges, "edges", EDGES)
    check_choice(output, "output", OUTPUTS)
    out_shape(view.shape[1], view.shape[2], blk, edges, output)
    out = core.pixelate(view, *blk, edges, output, None, None, 0)
    return back(_restore(out, array, batch=False))


def noisy_mosaic(
    core: Core,
    image: AnyImage,
    *,
    block: int | tuple[int, int],
    sigma: float,
    noise: str,
    edges: Edges,
    output: Output,
    seed: int | None,
) -> AnyImage:
    """:func:`noisy_pixelate` on a given core."""
    array, back = _images.to_array(image)
    view = as_image(array)
    blk = check_block(block)
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"sigma must be a real number, got {type(sigma).__name__}")
    s = float(sigma)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    check_choice(noise, "noise", FLOAT_NOISES)
    check_choice(edges, "edges", EDGES)
    check_choice(output, "output", OUTPUTS)
    out_shape(view.shape[1], view.shape[2], blk, edges, output)
    spec: backend.NoiseSpec = ("float-gaussian", s) if noise == "gaussian" else ("float-laplace", s)
    out = core.pixelate(view, *blk, edges, output, spec, seed_bytes(seed), 0)
    return back(_restore(out, array, batch=False))


def pixelate(
    image: AnyImage,
    *,
    block: int | tuple[int, int],
    edges: Edges = "partial",
    output: Output = "full",
) -> AnyImage:
    """The mosaic: each cell replaced by its mean. NOT private."""
    return mosaic(backend.CORE, image, block=block, edges=edges, output=output)


def noisy_pixelate(
    image: AnyImage,
    *,
    block: int | tuple[int, int],
    sigma: float,
    noise: str = "gaussian",
    edges: Edges = "partial",
    output: Output = "full",
    seed: int | None = None,
) -> AnyImage:
    """The mosaic plus i.i.d. float noise of ``sigma`` grey levels per cell.

    NOT private: a baseline for comparisons (the original research code's
    "non-private pixelization"). ``noise``: 'gaussian' (std sigma) or
    'laplace' (scale sigma).
    """
    return noisy_mosaic(
        backend.CORE, image, block=block, sigma=sigma, noise=noise, edges=edges,
        output=output, seed=seed,
    )
