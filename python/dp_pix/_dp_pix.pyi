"""The compiled core. Arguments are validated by dp_pix.params and dp_pix.api; see docs/kernel-contract.md."""

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "delta_for",
    "epsilon_for",
    "gaussian_sigma2",
    "l1_sensitivity",
    "l2_sensitivity_sq",
    "laplace_scale",
    "pixelate",
    "rho_for",
    "sample",
]

_U8: TypeAlias = npt.NDArray[np.uint8]
_I64: TypeAlias = npt.NDArray[np.int64]

# The exact laws, on the cell sums: scale num/den (Laplace), variance num/den (Gaussian).
_ExactNoise: TypeAlias = (
    tuple[Literal["laplace"], int, int] | tuple[Literal["gaussian"], int, int]
)
# What pixelate adds to the cells; None is the mosaic. The float laws are the
# NOT PRIVATE baseline on the means; "given" adds int64 (N, gh, gw, C) to the sums.
_Noise: TypeAlias = (
    _ExactNoise
    | tuple[Literal["float-gaussian"], float]
    | tuple[Literal["float-laplace"], float]
    | tuple[Literal["given"], _I64]
)

def pixelate(
    images: _U8,
    block_h: int,
    block_w: int,
    edges: str,
    output: str,
    noise: _Noise | None,
    seed: bytes | None,  # one 32-byte key, or 32 bytes per image
    image_offset: int,
) -> _U8: ...
def sample(noise: _ExactNoise, n: int, seed: bytes | None) -> _I64: ...
def l1_sensitivity(m: int, channels: int) -> int: ...
def l2_sensitivity_sq(m: int, channels: int, block_h: int, block_w: int) -> int: ...
def laplace_scale(epsilon: float, sensitivity: int) -> tuple[int, int]: ...
def gaussian_sigma2(rho: float, l2_sq: int) -> tuple[int, int]: ...
def delta_for(rho: float, epsilon: float) -> float: ...
def rho_for(epsilon: float, delta: float) -> float: ...
def epsilon_for(rho: float, delta: float) -> float: ...
