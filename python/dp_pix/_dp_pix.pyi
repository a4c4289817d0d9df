"""The compiled core. Arguments are validated by dp_pix._api; see docs/kernel-contract.md."""

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "delta_for",
    "dp_pixelate_gaussian",
    "dp_pixelate_laplace",
    "epsilon_for",
    "gaussian_sigma2",
    "l1_sensitivity",
    "l2_sensitivity_sq",
    "laplace_scale",
    "noisy_pixelate",
    "pixelate",
    "pixelate_with_noise",
    "rho_for",
    "sample_discrete_gaussian",
    "sample_discrete_laplace",
]

_U8: TypeAlias = npt.NDArray[np.uint8]
_I64: TypeAlias = npt.NDArray[np.int64]

def pixelate(
    images: _U8, block_h: int, block_w: int, edges: str, output: str
) -> _U8: ...
def pixelate_with_noise(
    images: _U8, block_h: int, block_w: int, edges: str, output: str, noise: _I64
) -> _U8: ...
def dp_pixelate_laplace(
    images: _U8,
    block_h: int,
    block_w: int,
    edges: str,
    output: str,
    scale_num: int,
    scale_den: int,
    seed: bytes | None,
    image_offset: int,
) -> _U8: ...
def dp_pixelate_gaussian(
    images: _U8,
    block_h: int,
    block_w: int,
    edges: str,
    output: str,
    sigma2_num: int,
    sigma2_den: int,
    seed: bytes | None,
    image_offset: int,
) -> _U8: ...
def noisy_pixelate(
    images: _U8,
    block_h: int,
    block_w: int,
    edges: str,
    output: str,
    sigma: float,
    noise: str,
    seed: bytes | None,
    image_offset: int,
) -> _U8: ...
def sample_discrete_laplace(
    scale_num: int, scale_den: int, n: int, seed: bytes | None
) -> _I64: ...
def sample_discrete_gaussian(
    sigma2_num: int, sigma2_den: int, n: int, seed: bytes | None
) -> _I64: ...
def l1_sensitivity(m: int, channels: int) -> int: ...
def l2_sensitivity_sq(m: int, channels: int, block_h: int, block_w: int) -> int: ...
def laplace_scale(epsilon: float, sensitivity: int) -> tuple[int, int]: ...
def gaussian_sigma2(rho: float, l2_sq: int) -> tuple[int, int]: ...
def delta_for(rho: float, epsilon: float) -> float: ...
def rho_for(epsilon: float, delta: float) -> float: ...
def epsilon_for(rho: float, delta: float) -> float: ...
