"""What the API accepts as an image, and how the output goes back.

:func:`to_array` turns an image handed to ``dp_pixelate``, ``Pixelizer``,
``pixelate`` or ``noisy_pixelate`` into the uint8 array the core reads, and
gives a function that returns the output in the input's kind:

- a numpy array is used as it is (any strides, no copy);
- a ``PIL.Image.Image`` is converted by the rules of ``dp_pix.io.read_image``
  (one rule set for files and PIL objects): L and RGB as they are, 1-bit to
  0/255 grey, palette to RGB, 16-bit to its high byte (``v >> 8``), CMYK,
  YCbCr, LAB and HSV to RGB. An image with alpha is refused (see
  ``PRIVACY.md``, "Alpha"), as is 32-bit float (mode F). The output is a new
  PIL image of mode L or RGB, without metadata. The EXIF orientation is not
  applied: the object's pixel grid is what is privatized, and the output has
  its size (``ImageOps.exif_transpose`` first, for a photo as a viewer shows it);
- any other object that exposes ``__array__``, the array interface or the
  buffer protocol is read with ``np.asarray``: no copy where its memory is
  already uint8 (a memoryview, an Arrow or torch uint8 tensor, ...), and a
  ``TypeError`` where it is not — nothing is cast silently. An array comes back.

Importing this module does not import Pillow: an object can only be a PIL
image once ``PIL.Image`` is loaded, so the test looks in ``sys.modules``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt
    from PIL.Image import Image as PILImage

__all__ = ["AnyImage", "from_pil", "is_pil", "to_array", "to_pil", "to_stack"]

#: The image types of the API's signatures: a PIL image in gives a PIL image
#: out, a uint8 array an array. (Other array-like objects are accepted at run
#: time and give an array; type checkers want ``np.asarray(x)`` for them.) A
#: type variable rather than overloads, so that a misspelt or out-of-range
#: keyword is reported by name.
AnyImage = TypeVar("AnyImage", "PILImage", "npt.NDArray[np.uint8]")

Back = Callable[[np.ndarray], Any]

_ALPHA_FIX = (
    "dp_pix does not guess what alpha holds: image.convert({drop!r}) drops it (noise and "
    "guarantee for {c} channel(s)); np.asarray(image.convert({keep!r})) privatizes it as "
    "one more channel (noise for {c1}; PIL.Image.fromarray(out) gives a PIL image back). "
    "See PRIVACY.md, 'Alpha'"
)


def is_pil(obj: object) -> bool:
    """Whether ``obj`` is a ``PIL.Image.Image`` (without importing Pillow)."""
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(obj, module.Image)


def _same(out: np.ndarray) -> np.ndarray:
    return out


def to_array(image: Any, name: str = "image") -> tuple[Any, Back]:
    """``image`` as the array the core reads, and the function that turns an
    output array back into the input's kind (a PIL image for a PIL image).

    Objects that are none of the accepted kinds are returned unchanged, for
    the caller's checks to refuse with their own message."""
    if isinstance(image, np.ndarray):
        return image, _same
    if is_pil(image):
        return from_pil(image, name), to_pil
    if isinstance(image, (bytes, bytearray)):
        raise TypeError(
            f"{name} is {type(image).__name__}: for the bytes of an image file, decode them "
            "first with dp_pix.io.read_image_file(data, name)"
        )
    if _array_like(image):
        try:
            return np.asarray(image), _same
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} cannot be read as an array: {exc}") from None
    return image, _same


def to_stack(images: Any) -> Any:
    """A stacked batch (N, H, W[, C]) as an array: arrays as they are, other
    array-like objects through ``np.asarray`` (no copy where possible). Lists
    and tuples (a batch of separate images) and unknown objects come back
    unchanged."""
    if isinstance(images, (np.ndarray, list, tuple)):
        return images
    if is_pil(images):
        raise TypeError(
            "images is one PIL image: call the Pixelizer (or dp_pixelate) on it, "
            "or pass a list of images"
        )
    return to_array(images, "images")[0]


def _array_like(obj: object) -> bool:
    if (
        hasattr(obj, "__array__")
        or hasattr(obj, "__array_interface__")
        or hasattr(obj, "__array_struct__")
    ):
        return True
    try:
        memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def from_pil(image: PILImage, name: str = "image") -> np.ndarray:
    """A PIL image as a new uint8 array ``(H, W)`` or ``(H, W, 3)`` by the rules
    of ``dp_pix.io.read_image`` (see this module's docstring)."""
    from dp_pix import io  # Pillow is loaded already: the image is one of its objects

    if io.has_alpha(image):
        grey = image.mode in ("LA", "La")
        raise ValueError(
            f"{name} has an alpha channel (PIL mode {image.mode!r}"
            + (", a palette with a transparent entry" if image.mode == "P" else "")
            + "); "
            + _ALPHA_FIX.format(drop="L" if grey else "RGB", keep="LA" if grey else "RGBA",
                                c=1 if grey else 3, c1=2 if grey else 4)
        )
    if image.mode == "F":
        raise TypeError(
            f"{name} is a 32-bit float PIL image (mode 'F'); dp_pix never casts silently: "
            "scale it to 0..255 and convert it to mode 'L' first"
        )
    try:
        converted = io.to_8bit(image, name, want_alpha=False)
    except io.ImageReadError as exc:
        raise ValueError(f"{name}: {exc.reason}") from None
    return np.asarray(converted, dtype=np.uint8)


def to_pil(out: np.ndarray) -> PILImage:
    """An output array as a new PIL image (mode L or RGB), without metadata."""
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(out))
