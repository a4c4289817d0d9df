"""dp-pix: differentially private image pixelization (DP-Pix, Fan 2018).

Exact noise (integer samplers, CSPRNG), a Rust core, numpy in and out::

    import dp_pix
    out = dp_pix.dp_pixelate(image, block=16, epsilon=0.5, m=16)

``BACKEND`` says which core runs: ``"rust"`` (the compiled extension) or
``"reference"`` (the slow pure-Python twin, used only when the extension
cannot be loaded).
"""

from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError, version

from dp_pix._api import bind

try:
    __version__ = version("dp-pix")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

try:
    from dp_pix import _dp_pix as _kernel

    BACKEND = "rust"
except ImportError as _exc:  # pragma: no cover - exercised by a subprocess test
    warnings.warn(
        f"dp_pix: the compiled extension could not be loaded ({_exc}); falling back to "
        "the pure-Python reference, which is exact but slow",
        RuntimeWarning,
        stacklevel=2,
    )
    from dp_pix import _reference as _kernel

    BACKEND = "reference"

_api = bind(_kernel)
dp_pixelate = _api["dp_pixelate"]
dp_pixelate_batch = _api["dp_pixelate_batch"]
pixelate = _api["pixelate"]
noisy_pixelate = _api["noisy_pixelate"]
Pixelizer = _api["Pixelizer"]

__all__ = [
    "BACKEND",
    "Pixelizer",
    "__version__",
    "dp_pixelate",
    "dp_pixelate_batch",
    "noisy_pixelate",
    "pixelate",
]
