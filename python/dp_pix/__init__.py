"""dp-pix: differentially private image pixelization (DP-Pix, Fan 2018).

Exact noise (integer samplers, CSPRNG), a Rust core; numpy arrays or PIL
images in, the same kind out::

    import dp_pix
    out = dp_pix.dp_pixelate(image, block=16, epsilon=0.5, m=16)

    params = dp_pix.Params(block=16, epsilon=0.5, m=16)   # validated once
    out = dp_pix.dp_pixelate(image, params)
    params.describe(channels=3)["guarantee"]

``BACKEND`` says which core runs: ``"rust"`` (the compiled extension) or
``"reference"`` (the slow pure-Python twin, used only when the extension
cannot be loaded).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from dp_pix.api import Pixelizer, dp_pixelate, dp_pixelate_batch, noisy_pixelate, pixelate
from dp_pix.backend import BACKEND
from dp_pix.params import Params

try:
    __version__ = version("dp-pix")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BACKEND",
    "Params",
    "Pixelizer",
    "__version__",
    "dp_pixelate",
    "dp_pixelate_batch",
    "noisy_pixelate",
    "pixelate",
]
