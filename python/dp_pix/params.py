"""The parameters of DP-Pix, validated once: :class:`Params`.

Every entry point (the functions, ``Pixelizer``, ``dp-pix pixelate``, the
file pipeline, Ray, the audit) takes or builds one ``Params``; nothing
downstream checks them again. A parameter is added here — a slot, a
``ParamsArgs`` key, a check, a line of ``describe`` — and nowhere else.

``Params.describe`` is the one place that states the guarantee.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from dp_pix import backend
from dp_pix.backend import Core, SamplerSpec

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "EDGES",
    "MAX_BLOCK",
    "MAX_INDEX",
    "MAX_M",
    "MECHANISMS",
    "OUTPUTS",
    "REGION_TERMS",
    "Edges",
    "Mechanism",
    "Output",
    "Params",
    "ParamsArgs",
    "RegionM",
    "check_block",
    "check_choice",
    "check_int",
    "check_m",
    "check_real",
    "seed_bytes",
]

Mechanism = Literal["laplace", "gaussian"]
Edges = Literal["partial", "pad", "crop"]
Output = Literal["full", "grid"]
#: ``m="region"``: m is the pixel count of the largest region of each image
#: (``dp_pix.regions``); it is resolved per image, before any noise is drawn.
RegionM = Literal["region"]
MECHANISMS: tuple[Mechanism, ...] = ("laplace", "gaussian")
EDGES: tuple[Edges, ...] = ("partial", "pad", "crop")
OUTPUTS: tuple[Output, ...] = ("full", "grid")

# Bounds that keep every quantity of the core in range, so that nothing the
# object accepts can overflow there: a cell of up to 2^48 pixels keeps
# 255 x its pixel count below 2^63 (the sums and the rounding are i64), and
# m <= 2^40 keeps 255·m·C in u64 for any channel count below 2^16.
MAX_BLOCK = 2**24
MAX_M = 2**40
MAX_INDEX = 2**63 - 1  # seeded streams are numbered by a 63-bit image index
# The core keeps calibrated numerators at or below 2^48 (docs/kernel-contract.md).
_MAX_NOISE = 2**48

#: What region mode's guarantee is conditioned on (PRIVACY.md, "Regions"); part
#: of the guarantee sentence of ``Params.describe(regions=True)``.
REGION_TERMS = (
    ", given the regions; the regions' positions and sizes are published as they are and "
    "were found on the raw image; a face the detector misses has no protection"
)


class ParamsArgs(TypedDict, total=False):
    """The keyword arguments of :class:`Params`, for ``**kwargs`` of the entry points."""

    block: int | tuple[int, int]
    epsilon: float | None
    m: int | RegionM
    mechanism: Mechanism
    delta: float | None
    rho: float | None
    edges: Edges
    output: Output


# --------------------------------------------------------------------- checks


def check_int(value: Any, name: str, minimum: int, maximum: int, fix: str) -> int:
    """``value`` as an int in [minimum, maximum], or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}; {fix}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}; {fix}")
    if value > maximum:
        limit = f"2**{maximum.bit_length() - 1}" if maximum & (maximum - 1) == 0 else maximum
        raise ValueError(f"{name} must be <= {limit}, got {value}; {fix}")
    return value


def check_real(value: Any, name: str, fix: str) -> float:
    """A finite ``value`` > 0 as a float no larger than the value itself: a
    parameter is never rounded toward less noise (e.g. epsilon=Fraction(1, 3)
    becomes the float just below 1/3, not the nearest one)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}; {fix}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}; {fix}")
    if isinstance(value, numbers.Rational) and Fraction(x) > Fraction(value):
        x = math.nextafter(x, 0.0)
    if x == 0.0:
        raise ValueError(f"{name} is too small to represent, got {value!r}; {fix}")
    return x


def check_block(block: Any) -> tuple[int, int]:
    fix = "pass block=16 or block=(bh, bw) with positive ints"
    if isinstance(block, (tuple, list)):
        if len(block) != 2:
            raise ValueError(f"block must be an int or a pair (bh, bw), got {block!r}")
        return (
            check_int(block[0], "block[0]", 1, MAX_BLOCK, fix),
            check_int(block[1], "block[1]", 1, MAX_BLOCK, fix),
        )
    b = check_int(block, "block", 1, MAX_BLOCK, fix)
    return (b, b)


def check_m(m: Any) -> int | RegionM:
    """``m``: a pixel count, or ``"region"`` (the largest region of each image)."""
    if isinstance(m, str):
        if m != "region":
            raise ValueError(
                f"m must be a pixel count or 'region', got {m!r}; e.g. m=16, or m='region' "
                "with regions= to protect whole regions"
            )
        return "region"
    return check_int(m, "m", 1, MAX_M, "m is the number of pixels protected, e.g. m=16")


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> Any:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def seed_bytes(seed: Any) -> bytes | None:
    """The 32-byte generator key of an int seed (a secret key, not for releases)."""
    if seed is None:
        return None
    fix = "a seed is an int in [0, 2**256), or None for fresh OS randomness"
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or an int, got {type(seed).__name__}; {fix}")
    seed = operator.index(seed)
    if not 0 <= seed < 2**256:
        raise ValueError(f"seed must lie in [0, 2**256), got {seed}; {fix}")
    return seed.to_bytes(32, "little")


def _check_delta(delta: Any) -> float:
    d = check_real(delta, "delta", "e.g. delta=1e-6")
    if not d < 1.0:
        raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}; e.g. 1e-6")
    return d


def discrete_laplace_variance(t: float) -> float:
    """Variance of P(z) ∝ exp(-|z|/t): 2q/(1-q)² with q = exp(-1/t)."""
    q = math.exp(-1.0 / t)
    return 2.0 * q / (1.0 - q) ** 2


# --------------------------------------------------------------------- Params

_FIELDS = ("block", "epsilon", "m", "mechanism", "delta", "rho", "edges", "output")


class Params:
    """The parameters of DP-Pix, validated once; immutable, hashable, picklable.

    ``block``: cells of ``block`` x ``block`` pixels, or ``(bh, bw)``.
    ``m``: the neighbourhood — images that differ in at most ``m`` pixel
    positions (every channel of those pixels) are neighbours. ``m="region"``
    (only with ``regions=``, see :mod:`dp_pix.regions`): m is the pixel count
    of each image's largest region, so a whole region is protected; it is
    resolved per image (``params.replace(m=...)``) before noise is drawn.
    ``mechanism='laplace'`` (default) with ``epsilon``: pure ε-DP.
    ``mechanism='gaussian'`` with ``epsilon`` and ``delta`` ((ε, δ)-DP, through
    ρ-zCDP), or with ``rho`` (ρ-zCDP; ``delta`` then only adds the (ε, δ)
    reading to ``describe``).
    ``edges``: cells cut by the right and bottom edges — ``'partial'``
    (divide by the true pixel count: unbiased), ``'pad'`` (divide by bh·bw, the
    paper's formula) or ``'crop'`` (drop them). ``output``: ``'full'`` (the
    image size) or ``'grid'`` (one pixel per cell).

    A value that the core could not compute with is refused here with a
    ``ValueError`` naming the argument and the limit; a wrong type is a
    ``TypeError``. ``replace(**changes)`` gives a new, re-validated object.
    """

    __slots__ = (*_FIELDS, "_rho", "_noise")
    block: tuple[int, int]
    epsilon: float | None
    m: int | RegionM
    mechanism: Mechanism
    delta: float | None
    rho: float | None
    edges: Edges
    output: Output
    _rho: float | None  # the zCDP ρ of the Gaussian mechanism, derived once
    _noise: dict[tuple[int, int], SamplerSpec]  # calibration cache: (channels, id(core))

    def __init__(
        self,
        *,
        block: int | tuple[int, int],
        epsilon: float | None = None,
        m: int | RegionM,
        mechanism: Mechanism = "laplace",
        delta: float | None = None,
        rho: float | None = None,
        edges: Edges = "partial",
        output: Output = "full",
    ) -> None:
        put = super().__setattr__
        put("block", check_block(block))
        put("m", check_m(m))
        put("mechanism", check_choice(mechanism, "mechanism", MECHANISMS))
        put("edges", check_choice(edges, "edges", EDGES))
        put("output", check_choice(output, "output", OUTPUTS))
        put("_noise", {})
        if mechanism == "laplace":
            if delta is not None or rho is not None:
                raise ValueError(
                    "delta and rho apply to mechanism='gaussian'; the Laplace mechanism "
                    "is pure epsilon-DP: drop them or pass mechanism='gaussian'"
                )
            if epsilon is None:
                raise TypeError("epsilon is required, e.g. epsilon=0.5")
            put("epsilon", check_real(epsilon, "epsilon", "e.g. epsilon=0.5"))
            put("delta", None)
            put("rho", None)
            put("_rho", None)
        elif rho is not None:
            if epsilon is not None:
                raise ValueError("give either rho, or epsilon with delta, not both")
            put("rho", check_real(rho, "rho", "e.g. rho=0.5"))
            put("delta", None if delta is None else _check_delta(delta))
            put("epsilon", None)
            put("_rho", self.rho)
        else:
            if epsilon is None or delta is None:
                raise ValueError(
                    "mechanism='gaussian' needs epsilon and delta (e.g. delta=1e-6), "
                    "or rho for zCDP"
                )
            eps, dlt = check_real(epsilon, "epsilon", "e.g. epsilon=0.5"), _check_delta(delta)
            put("epsilon", eps)
            put("delta", dlt)
            put("rho", None)
            put("_rho", float(backend.CORE.rho_for(eps, dlt)))
        # Refuse now what cannot be calibrated (the smallest noise, one channel):
        # a run fails here, before any file or image is touched. With m="region"
        # the smallest m, 1, is checked; a region too large for the budget is
        # refused when m is resolved.
        self._calibrate(1, backend.CORE, 1 if self.m == "region" else self.m)

    # ------------------------------------------------------------ the object

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _FIELDS)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Params is immutable; use params.replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Params is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        given = ", ".join(f"{f}={v!r}" for f, v in zip(_FIELDS, self._values()) if v is not None)
        return f"Params({given})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Params.from_dict, (self.to_dict(),))

    def replace(self, **changes: Unpack[ParamsArgs]) -> Params:
        """A new Params with ``changes`` applied (and validated)."""
        current = self.args()
        if "mechanism" in changes or "epsilon" in changes or "rho" in changes:
            # Switching mechanism or budget form: drop the other form's fields.
            if changes.get("mechanism", self.mechanism) == "laplace":
                current.pop("delta", None)
                current.pop("rho", None)
            elif "rho" in changes:
                current.pop("epsilon", None)
            elif "epsilon" in changes:
                current.pop("rho", None)
        current.update(changes)
        return Params(**current)

    def args(self) -> ParamsArgs:
        """The keyword arguments that rebuild this object."""
        out: dict[str, Any] = {f: v for f, v in zip(_FIELDS, self._values()) if v is not None}
        return out  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, the block as ``[bh, bw]``."""
        out = dict(zip(_FIELDS, self._values()))
        out["block"] = list(self.block)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Params:
        """The inverse of :meth:`to_dict` (unknown keys are an error)."""
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
        kw: dict[str, Any] = {k: v for k, v in data.items() if v is not None}
        if isinstance(kw.get("block"), list):
            kw["block"] = tuple(kw["block"])
        return cls(**kw)

    # ------------------------------------------------------------ calibration

    @property
    def zcdp_rho(self) -> float | None:
        """ρ of the Gaussian mechanism's zCDP guarantee (from ε and δ when not given)."""
        return self._rho

    def noise(self, channels: int, core: Core | None = None) -> SamplerSpec:
        """The exact noise on the cell sums of a ``channels``-channel image, as
        the core takes it: ``("laplace", num, den)`` (scale num/den) or
        ``("gaussian", num, den)`` (variance num/den), rounded toward more noise."""
        channels = check_int(channels, "channels", 1, 2**16 - 1, "e.g. channels=3 for RGB")
        m = self._int_m()
        core = backend.CORE if core is None else core
        key = (channels, id(core))
        cached: dict[tuple[int, int], SamplerSpec] = self._noise
        spec = cached.get(key)
        if spec is None:
            spec = self._calibrate(channels, core, m)
            cached[key] = spec
        return spec

    def _int_m(self) -> int:
        if self.m == "region":
            raise ValueError(
                "m='region' is the pixel count of each image's largest region: pass regions= "
                "(boxes or a mask) with the image, or give m as a pixel count"
            )
        return self.m

    def _calibrate(self, channels: int, core: Core, m: int) -> SamplerSpec:
        bh, bw = self.block
        try:
            if self.mechanism == "laplace":
                assert self.epsilon is not None
                sens = core.l1_sensitivity(m, channels)
                num, den = core.laplace_scale(self.epsilon, sens)
                return ("laplace", int(num), int(den))
            assert self._rho is not None
            l2_sq = core.l2_sensitivity_sq(m, channels, bh, bw)
            num, den = core.gaussian_sigma2(self._rho, l2_sq)
            return ("gaussian", int(num), int(den))
        except (ValueError, OverflowError):
            budget = (
                f"epsilon={self.epsilon!r}" if self.mechanism == "laplace"
                else f"rho={self._rho!r}" if self.epsilon is None
                else f"epsilon={self.epsilon!r} with delta={self.delta!r}"
            )
            raise ValueError(
                f"{budget} is too small for m={m} and {channels} channel(s): the "
                f"noise on a cell sum would exceed 2**48 ({_MAX_NOISE}); use a larger "
                "epsilon (or rho) or a smaller m"
            ) from None

    def describe(
        self, channels: int = 1, core: Core | None = None, *, regions: bool = False
    ) -> dict[str, Any]:
        """The guarantee and the noise scales for images of ``channels`` channels.

        ``guarantee`` is the sentence that every summary and record uses;
        ``epsilon`` (and ``rho``) are those the rounded-up noise achieves, at
        most the requested ones. ``regions=True`` states the guarantee of
        region mode (:mod:`dp_pix.regions`): it covers changes inside the
        regions, given the regions. With ``m="region"`` (always region mode) m
        is set per image, so the noise fields are None;
        ``dp_pix.regions.describe`` gives one image's numbers.
        """
        core = backend.CORE if core is None else core
        channels = check_int(channels, "channels", 1, 2**16 - 1, "e.g. channels=3 for RGB")
        bh, bw = self.block
        area = bh * bw
        regions = regions or self.m == "region"
        where = " inside the regions" if regions else ""
        terms = REGION_TERMS if regions else ""
        info: dict[str, Any] = {
            "mechanism": self.mechanism,
            "m": self.m,
            "block": self.block,
            "channels": channels,
            "edges": self.edges,
            "output": self.output,
            "scope": "regions" if regions else "image",
        }
        if self.m == "region":
            if self.mechanism == "laplace":
                dp = f"{self.epsilon:.6g}-DP"
            elif self.epsilon is not None:
                dp = f"({self.epsilon:.6g}, {self.delta:.3g})-DP"
            else:
                dp = f"{self.rho:.6g}-zCDP"
            info.update(
                noise_exact=None, epsilon=self.epsilon, epsilon_requested=self.epsilon,
                delta=0.0 if self.mechanism == "laplace" else self.delta, rho=self.rho,
                scale=None, grey_scale_interior=None, grey_std_interior=None,
            )  # fmt: skip
            noise = "discrete Laplace" if self.mechanism == "laplace" else "discrete Gaussian"
            info["guarantee"] = (
                f"{dp} for any change of up to m pixels inside the regions, m being the pixel "
                f"count of the image's largest region (all {channels} channel(s)){terms}; "
                f"{noise} noise on each {bh}x{bw} cell sum, calibrated per image"
            )
            return info
        m = self.m
        _, num, den = self.noise(channels, core)
        info["noise_exact"] = f"{num}/{den}"
        if self.mechanism == "laplace":
            sens = int(core.l1_sensitivity(m, channels))
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
            info["guarantee"] = (
                f"{epsilon:.6g}-DP for any change of up to m={m} pixels{where} "
                f"(all {channels} channel(s)){terms}; discrete Laplace noise of scale {t:.6g} "
                f"on each {bh}x{bw} cell sum, {t / area:.3g} grey levels on an interior cell"
            )
            return info
        l2_sq = int(core.l2_sensitivity_sq(m, channels, bh, bw))
        sigma2 = num / den
        rho = l2_sq * den / (2 * num)  # the ρ the rounded-up variance achieves
        eps = self.epsilon
        if eps is None and self.delta is not None:
            eps = float(core.epsilon_for(rho, self.delta))
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
        info["guarantee"] = (
            f"{dp}{rho:.6g}-zCDP for any change of up to m={m} pixels{where} "
            f"(all {channels} channel(s)){terms}; discrete Gaussian noise of sigma "
            f"{sigma:.6g} on each {bh}x{bw} cell sum, {sigma / area:.3g} grey levels on an "
            "interior cell"
        )
        return info
