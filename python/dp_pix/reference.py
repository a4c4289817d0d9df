"""The public API of dp_pix on the pure-Python/numpy reference core.

Same functions, same validation, same guarantee as ``dp_pix`` — computed by
``dp_pix._reference`` (numpy for the pixels, exact samplers on Python integers
for the noise) instead of the Rust extension. It is the cross-check of the
compiled core and imports without it. Slow; seeded output differs from the
Rust core's bytes (different generators), never in distribution.
"""

from __future__ import annotations

from dp_pix import _reference
from dp_pix._api import bind
from dp_pix._reference import bernoulli, bernoulli_exp, discrete_gaussian, discrete_laplace

_api = bind(_reference)
dp_pixelate = _api["dp_pixelate"]
dp_pixelate_batch = _api["dp_pixelate_batch"]
pixelate = _api["pixelate"]
noisy_pixelate = _api["noisy_pixelate"]
Pixelizer = _api["Pixelizer"]

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
