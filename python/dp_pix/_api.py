"""The public API, written once and bound to a kernel backend.

A backend is a module with the functions of the kernel contract (the Rust
extension ``dp_pix._dp_pix`` or the pure-Python ``dp_pix._reference``). This
module validates every argument once, shapes images to ``(N, H, W, C)`` views
(no copy), calibrates the noise and calls the backend.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

EDGES = ("partial", "pad", "crop")
OUTPUTS = ("full", "grid")
MECHANISMS = ("laplace", "gaussian")
FLOAT_NOISES = ("gaussian", "laplace")


# --------------------------------------------------------------------- checks


def _int(value: Any, name: str, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}; {fix}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}; {fix}")
    return value


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def check_block(block: Any) -> tuple[int, int]:
    fix = "pass block=16 or block=(bh, bw) with positive ints"
    if isinstance(block, (tuple, list)):
        if len(block) != 2:
            raise ValueError(f"block must be an int or a pair (bh, bw), got {block!r}")
        return (_int(block[0], "block[0]", 1, fix), _int(block[1], "block[1]", 1, fix))
    b = _int(block, "block", 1, fix)
    return (b, b)


def check_epsilon(epsilon: Any, name: str = "epsilon") -> float:
    e = _real(epsilon, name)
    if not (math.isfinite(e) and e > 0):
        raise ValueError(f"{name} must be finite and > 0, got {epsilon!r}; e.g. {name}=0.5")
    return e


def check_delta(delta: Any) -> float:
    d = _real(delta, "delta")
    if not (0.0 < d < 1.0):
        raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}; e.g. 1e-6")
    return d


def check_m(m: Any) -> int:
    return _int(m, "m", 1, "m is the number of pixels protected, e.g. m=16")


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def seed_bytes(seed: Any) -> bytes | None:
    """The 32-byte generator key for an int seed (a secret key, not for releases)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or an int, got {type(seed).__name__}")
    seed = operator.index(seed)
    if not 0 <= seed < 2**256:
        raise ValueError(f"seed must lie in [0, 2**256), got {seed}")
    return seed.to_bytes(32, "little")


def _check_array(image: Any, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy uint8 array, got {type(image).__name__}; "
            "use np.asarray(x, dtype=np.uint8) for 8-bit data"
        )
    if image.dtype != np.uint8:
        raise TypeError(
            f"{name} must have dtype uint8, got {image.dtype}; dp_pix never casts silently: "
            "convert 8-bit data with x.astype(np.uint8), rescale other ranges first"
        )
    return image


def as_image(image: Any, name: str = "image") -> np.ndarray:
    """A single image as an (1, H, W, C) view."""
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
    """A stacked batch as an (N, H, W, C) view."""
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


def _restore(out4: np.ndarray, like: np.ndarray, batch: bool) -> np.ndarray:
    """Drop the axes that as_image / as_batch added."""
    grey = like.ndim == (3 if batch else 2)
    if grey:
        out4 = out4[..., 0]
    return out4 if batch else out4[0]


# ---------------------------------------------------------------- calibration


def discrete_laplace_variance(t: float) -> float:
    """Variance of P(z) ∝ exp(-|z|/t): 2q/(1-q)² with q = exp(-1/t)."""
    q = math.exp(-1.0 / t)
    return 2.0 * q / (1.0 - q) ** 2


class Pixelizer:
    """DP-Pix with fixed parameters: callable on an image, ``.batch`` on many.

    The guarantee: for any two images of the same shape that differ in at most
    ``m`` pixel positions (every channel of those pixels may change), the output
    distributions are epsilon-close (Laplace: pure ε-DP; Gaussian: ρ-zCDP and
    (ε, δ)-DP). ε is shared by all channels of a pixel.

    With ``seed``, output is reproducible: the seed is a secret key, never for
    published releases (anyone who knows it can subtract the noise). Successive
    calls on one seeded Pixelizer use successive image indices, so they never
    reuse noise; a fresh Pixelizer with the same seed repeats the same noise.
    """

    _kernel: Any = None  # set by bind()

    def __init__(
        self,
        *,
        block: Any,
        epsilon: Any = None,
        m: Any,
        mechanism: str = "laplace",
        delta: Any = None,
        rho: Any = None,
        edges: str = "partial",
        output: str = "full",
        seed: Any = None,
    ) -> None:
        self.block = check_block(block)
        self.m = check_m(m)
        self.mechanism = check_choice(mechanism, "mechanism", MECHANISMS)
        self.edges = check_choice(edges, "edges", EDGES)
        self.output = check_choice(output, "output", OUTPUTS)
        self._seed = seed_bytes(seed)
        self._next_index = 0
        self._noise_cache: dict[int, tuple[int, int]] = {}
        if self.mechanism == "laplace":
            if delta is not None or rho is not None:
                raise ValueError(
                    "delta and rho apply to mechanism='gaussian'; the Laplace mechanism "
                    "is pure epsilon-DP: drop them or pass mechanism='gaussian'"
                )
            if epsilon is None:
                raise TypeError("epsilon is required, e.g. epsilon=0.5")
            self.epsilon: float | None = check_epsilon(epsilon)
            self.delta: float | None = None
            self.rho: float | None = None
        else:
            if rho is not None:
                if epsilon is not None:
                    raise ValueError("give either rho, or epsilon with delta, not both")
                self.rho = check_epsilon(rho, "rho")
                self.delta = None if delta is None else check_delta(delta)
                self.epsilon = None
            else:
                if epsilon is None or delta is None:
                    raise ValueError(
                        "mechanism='gaussian' needs epsilon and delta (e.g. delta=1e-6), "
                        "or rho for zCDP"
                    )
                self.epsilon = check_epsilon(epsilon)
                self.delta = check_delta(delta)
                self.rho = float(self._kernel.rho_for(self.epsilon, self.delta))

    def __repr__(self) -> str:
        return (
            f"Pixelizer(block={self.block}, epsilon={self.epsilon}, m={self.m}, "
            f"mechanism={self.mechanism!r}, delta={self.delta}, rho={self.rho}, "
            f"edges={self.edges!r}, output={self.output!r})"
        )

    # The exact noise parameter on the cell sums for C channels, rounded up.
    def _noise(self, channels: int) -> tuple[int, int]:
        if channels not in self._noise_cache:
            k = self._kernel
            if self.mechanism == "laplace":
                sens = k.l1_sensitivity(self.m, channels)
                ratio = k.laplace_scale(self.epsilon, sens)
            else:
                l2_sq = k.l2_sensitivity_sq(self.m, channels, *self.block)
                ratio = k.gaussian_sigma2(self.rho, l2_sq)
            self._noise_cache[channels] = tuple(ratio)
        return self._noise_cache[channels]

    def _take_indices(self, n: int) -> int:
        first = self._next_index
        if self._seed is not None:
            self._next_index += n
        return first

    def _run(self, view: np.ndarray, offset: int) -> np.ndarray:
        num, den = self._noise(view.shape[3])
        noise = (self.mechanism, num, den)
        bh, bw = self.block
        return self._kernel.pixelate(
            view, bh, bw, self.edges, self.output, noise, self._seed, offset
        )

    def __call__(self, image: np.ndarray, *, index: Any = None) -> np.ndarray:
        """Privatize one image.

        ``index`` (for a seeded Pixelizer): draw the noise of image number
        ``index`` instead of the next unused number, and leave the counter as
        it is. Callers that number their images themselves (e.g. files in a
        sorted order, processed by many threads) get bytes that do not depend
        on the order of the calls. Keeping the numbers distinct is then the
        caller's job: one number on two images reuses the noise. Without a
        seed every call draws fresh randomness and ``index`` has no effect.
        """
        view = as_image(image)
        out_shape(view.shape[1], view.shape[2], self.block, self.edges, self.output)
        if index is None:
            offset = self._take_indices(1)
        else:
            offset = _int(index, "index", 0, "pass the image's number, 0, 1, 2, ...")
            if offset >= 2**63:
                raise ValueError(f"index must be < 2**63, got {offset}")
        return _restore(self._run(view, offset), image, batch=False)

    def batch(self, images: np.ndarray | Sequence[np.ndarray]) -> Any:
        """Privatize a stacked batch (N, H, W[, C]) or a list of images (a list back)."""
        if isinstance(images, np.ndarray):
            view = as_batch(images)
            n, h, w, c = view.shape
            oh, ow = out_shape(h, w, self.block, self.edges, self.output)
            if n == 0:
                return _restore(np.empty((0, oh, ow, c), np.uint8), images, batch=True)
            return _restore(self._run(view, self._take_indices(n)), images, batch=True)
        if not isinstance(images, (list, tuple)):
            raise TypeError(
                "images must be a uint8 array (N, H, W[, C]) or a list of uint8 images, "
                f"got {type(images).__name__}"
            )
        views = [as_image(im, f"images[{i}]") for i, im in enumerate(images)]
        for v in views:
            out_shape(v.shape[1], v.shape[2], self.block, self.edges, self.output)
        first = self._take_indices(len(views))
        return [
            _restore(self._run(v, first + i), im, batch=False)
            for i, (v, im) in enumerate(zip(views, images))
        ]

    def describe(self, channels: int = 1) -> dict[str, Any]:
        """The guarantee and the noise scales, for images with ``channels`` channels."""
        channels = _int(channels, "channels", 1, "e.g. channels=3 for RGB")
        k = self._kernel
        num, den = self._noise(channels)
        area = self.block[0] * self.block[1]
        bh, bw = self.block
        info: dict[str, Any] = {
            "mechanism": self.mechanism,
            "m": self.m,
            "block": self.block,
            "channels": channels,
            "edges": self.edges,
            "output": self.output,
            "noise_exact": f"{num}/{den}",
        }
        if self.mechanism == "laplace":
            sens = k.l1_sensitivity(self.m, channels)
            t = num / den
            epsilon = sens * den / num  # the ε the rounded-up scale achieves, ≤ requested
            std = math.sqrt(discrete_laplace_variance(t))
            info.update(
                epsilon=epsilon,
                epsilon_requested=self.epsilon,
                delta=0.0,
                rho=None,
                sensitivity_l1=sens,
                scale=t,
                grey_scale_interior=t / area,
                grey_std_interior=std / area,
            )
            guarantee = (
                f"{epsilon:.6g}-DP for any change of up to m={self.m} pixels "
                f"(all {channels} channel(s)); discrete Laplace noise of scale {t:.6g} on "
                f"each {bh}x{bw} cell sum, {t / area:.3g} grey levels on an interior cell"
            )
        else:
            l2_sq = k.l2_sensitivity_sq(self.m, channels, bh, bw)
            sigma2 = num / den
            rho = l2_sq * den / (2 * num)  # the ρ the rounded-up variance achieves
            if self.delta is not None:
                eps = self.epsilon
                if eps is None:
                    eps = float(k.epsilon_for(rho, self.delta))
            else:
                eps = None
            sigma = math.sqrt(sigma2)
            info.update(
                epsilon=eps,
                epsilon_requested=self.epsilon,
                delta=self.delta,
                rho=rho,
                sensitivity_l2=math.sqrt(l2_sq),
                scale=sigma,
                grey_scale_interior=sigma / area,
                # The discrete Gaussian's variance is below σ² (CKS 2020, Cor. 9).
                grey_std_interior=sigma / area,
            )
            dp = f"({eps:.6g}, {self.delta:.3g})-DP and " if eps is not None else ""
            guarantee = (
                f"{dp}{rho:.6g}-zCDP for any change of up to m={self.m} pixels "
                f"(all {channels} channel(s)); discrete Gaussian noise of sigma {sigma:.6g} "
                f"on each {bh}x{bw} cell sum, {sigma / area:.3g} grey levels on an interior cell"
            )
        info["guarantee"] = guarantee
        return info


# ------------------------------------------------------------------- binding


def bind(kernel: Any) -> dict[str, Any]:
    """The public API (functions and Pixelizer) on ``kernel``."""
    Bound = type(
        "Pixelizer",
        (Pixelizer,),
        {"_kernel": kernel, "__module__": "dp_pix", "__doc__": Pixelizer.__doc__},
    )

    def dp_pixelate(
        image: np.ndarray,
        *,
        block: Any,
        epsilon: Any = None,
        m: Any,
        mechanism: str = "laplace",
        delta: Any = None,
        rho: Any = None,
        edges: str = "partial",
        output: str = "full",
        seed: Any = None,
    ) -> np.ndarray:
        """DP-Pix one image: uint8 (H, W) or (H, W, C) in, uint8 out.

        Cells of ``block`` (int or (bh, bw)) pixels; one exact noise sample per
        cell and channel on the integer cell sum, calibrated so that any change
        of up to ``m`` pixels is ``epsilon``-DP (Laplace) or (epsilon, delta)-DP
        / rho-zCDP (Gaussian). ``edges``: 'partial' (default, unbiased edge
        cells), 'pad' (the paper's formula) or 'crop'. ``output``: 'full' (the
        image size) or 'grid' (one pixel per cell). ``seed`` is a secret key for
        reproducible output, never for releases.
        """
        return Bound(
            block=block, epsilon=epsilon, m=m, mechanism=mechanism, delta=delta,
            rho=rho, edges=edges, output=output, seed=seed,
        )(image)

    def dp_pixelate_batch(
        images: Any,
        *,
        block: Any,
        epsilon: Any = None,
        m: Any,
        mechanism: str = "laplace",
        delta: Any = None,
        rho: Any = None,
        edges: str = "partial",
        output: str = "full",
        seed: Any = None,
    ) -> Any:
        """DP-Pix a batch: uint8 (N, H, W) or (N, H, W, C), or a list of images.

        Each image gets its own guarantee, as with ``dp_pixelate``; with a seed,
        image i draws from its own streams, so the bytes do not depend on the
        thread count.
        """
        return Bound(
            block=block, epsilon=epsilon, m=m, mechanism=mechanism, delta=delta,
            rho=rho, edges=edges, output=output, seed=seed,
        ).batch(images)

    def pixelate(
        image: np.ndarray, *, block: Any, edges: str = "partial", output: str = "full"
    ) -> np.ndarray:
        """The mosaic: each cell replaced by its mean. NOT private."""
        view = as_image(image)
        blk = check_block(block)
        check_choice(edges, "edges", EDGES)
        check_choice(output, "output", OUTPUTS)
        out_shape(view.shape[1], view.shape[2], blk, edges, output)
        out = kernel.pixelate(view, *blk, edges, output, None, None, 0)
        return _restore(out, image, batch=False)

    def noisy_pixelate(
        image: np.ndarray,
        *,
        block: Any,
        sigma: Any,
        noise: str = "gaussian",
        edges: str = "partial",
        output: str = "full",
        seed: Any = None,
    ) -> np.ndarray:
        """The mosaic plus i.i.d. float noise of ``sigma`` grey levels per cell.

        NOT private: a baseline for comparisons (the original research code's
        "non-private pixelization"). ``noise``: 'gaussian' (std sigma) or
        'laplace' (scale sigma).
        """
        view = as_image(image)
        blk = check_block(block)
        s = _real(sigma, "sigma")
        if not (math.isfinite(s) and s >= 0):
            raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
        check_choice(noise, "noise", FLOAT_NOISES)
        check_choice(edges, "edges", EDGES)
        check_choice(output, "output", OUTPUTS)
        out_shape(view.shape[1], view.shape[2], blk, edges, output)
        spec = ("float-" + noise, s)
        out = kernel.pixelate(view, *blk, edges, output, spec, seed_bytes(seed), 0)
        return _restore(out, image, batch=False)

    return {
        "dp_pixelate": dp_pixelate,
        "dp_pixelate_batch": dp_pixelate_batch,
        "pixelate": pixelate,
        "noisy_pixelate": noisy_pixelate,
        "Pixelizer": Bound,
    }
