"""The public API of dp_pix on the pure-Python/numpy reference core.

Same functions, same parameters (:class:`dp_pix.Params`), same guarantee as
``dp_pix`` — computed by ``dp_pix._reference`` (numpy for the pixels, exact
samplers on Python integers for the noise) instead of the Rust extension. It
is the cross-check of the compiled core and imports without it. Slow; seeded
output differs from the Rust core's bytes (different generators), never in
distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, overload

from dp_pix import _reference, api
from dp_pix._reference import bernoulli, bernoulli_exp, discrete_gaussian, discrete_laplace
from dp_pix.api import Image
from dp_pix.backend import Core
from dp_pix.images import AnyImage
from dp_pix.params import Edges, Output, Params, ParamsArgs
from dp_pix.regions import Regions

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "Pixelizer",
    "bernoulli",
    "bernoulli_exp",
    "discrete_gaussian",
    "discrete_laplace",
    "dp_pixelate",
    "dp_pixelate_batch",
    "noisy_pixelate",
    "pixelate",
]


class Pixelizer(api.Pixelizer):
    __doc__ = api.Pixelizer.__doc__
    core: ClassVar[Core] = _reference


def dp_pixelate(
    image: AnyImage,
    params: Params | None = None,
    /,
    *,
    seed: int | None = None,
    regions: Regions | None = None,
    **kwargs: Unpack[ParamsArgs],
) -> AnyImage:
    """:func:`dp_pix.dp_pixelate` on the reference core."""
    return Pixelizer(params, seed=seed, **kwargs)(image, regions=regions)


@overload
def dp_pixelate_batch(
    images: Image, params: Params | None = None, /, *, seed: int | None = None,
    regions: Sequence[Regions] | None = None, **kwargs: Unpack[ParamsArgs],
) -> Image: ...
@overload
def dp_pixelate_batch(
    images: Sequence[AnyImage], params: Params | None = None, /, *, seed: int | None = None,
    regions: Sequence[Regions] | None = None, **kwargs: Unpack[ParamsArgs],
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
    """:func:`dp_pix.dp_pixelate_batch` on the reference core."""
    return Pixelizer(params, seed=seed, **kwargs).batch(images, regions=regions)


def pixelate(
    image: AnyImage, *, block: int | tuple[int, int], edges: Edges = "partial",
    output: Output = "full",
) -> AnyImage:
    """:func:`dp_pix.pixelate` (the mosaic, NOT private) on the reference core."""
    return api.mosaic(_reference, image, block=block, edges=edges, output=output)


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
    """:func:`dp_pix.noisy_pixelate` (NOT private) on the reference core."""
    return api.noisy_mosaic(
        _reference, image, block=block, sigma=sigma, noise=noise, edges=edges,
        output=output, seed=seed,
    )
