"""Which core computes: the compiled extension, or its pure-Python twin.

``CORE`` is the module that implements the kernel contract
(``docs/kernel-contract.md``): ``dp_pix._dp_pix`` (Rust) when it loads, else
``dp_pix._reference`` (exact, slow), with a ``RuntimeWarning``. ``BACKEND``
names it. :class:`Core` is the contract as a typing protocol; both modules
satisfy it.
"""

from __future__ import annotations

import warnings
from typing import Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["BACKEND", "CORE", "Core", "NoiseSpec", "SamplerSpec"]

U8: TypeAlias = npt.NDArray[np.uint8]
I64: TypeAlias = npt.NDArray[np.int64]

#: Exact noise on the cell sums: scale (Laplace) or variance (Gaussian) num/den.
SamplerSpec: TypeAlias = (
    tuple[Literal["laplace"], int, int] | tuple[Literal["gaussian"], int, int]
)
#: What the core adds to each cell (see the kernel contract); None: the mosaic.
NoiseSpec: TypeAlias = (
    None
    | tuple[Literal["laplace"], int, int]
    | tuple[Literal["gaussian"], int, int]
    | tuple[Literal["float-gaussian"], float]
    | tuple[Literal["float-laplace"], float]
    | tuple[Literal["given"], I64]
)


class Core(Protocol):
    """The kernel contract (``docs/kernel-contract.md``)."""

    def pixelate(
        self,
        images: U8,
        block_h: int,
        block_w: int,
        edges: str,
        output: str,
        noise: NoiseSpec,
        seed: bytes | None,
        image_offset: int,
        /,
    ) -> U8: ...

    def sample(self, noise: SamplerSpec, n: int, seed: bytes | None, /) -> I64: ...

    def l1_sensitivity(self, m: int, channels: int, /) -> int: ...

    def l2_sensitivity_sq(self, m: int, channels: int, block_h: int, block_w: int, /) -> int: ...

    def laplace_scale(self, epsilon: float, sensitivity: int, /) -> tuple[int, int]: ...

    def gaussian_sigma2(self, rho: float, l2_sq: int, /) -> tuple[int, int]: ...

    def delta_for(self, rho: float, epsilon: float, /) -> float: ...

    def rho_for(self, epsilon: float, delta: float, /) -> float: ...

    def epsilon_for(self, rho: float, delta: float, /) -> float: ...


def _load() -> tuple[Core, Literal["rust", "reference"]]:
    try:
        from dp_pix import _dp_pix

        return _dp_pix, "rust"
    except ImportError as exc:
        warnings.warn(
            f"dp_pix: the compiled extension could not be loaded ({exc}); falling back to "
            "the pure-Python reference, which is exact but slow",
            RuntimeWarning,
            stacklevel=4,
        )
        from dp_pix import _reference

        return _reference, "reference"


CORE, BACKEND = _load()

