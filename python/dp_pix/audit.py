"""An empirical privacy audit of the installed dp-pix build.

The audit runs the whole mechanism — the public calibration (``Params``, ``Pixelizer``)
and the core that ``dp_pix`` uses (``dp_pix.backend.CORE``) — many
times on pairs of neighbouring images chosen to be worst cases, and bounds the
privacy loss from the outputs alone, with confidence intervals:

* **Laplace** (pure ε-DP): for an output event E, ε ≥ ln(P(E | D) / P(E | D')).
  The audit picks E among one-sided threshold events on a statistic of the
  affected cells, on a *selection* split of the runs, then evaluates it on the
  remaining *evaluation* runs: Clopper–Pearson bounds give a lower confidence
  bound ln(P_lower(E | D) / P_upper(E | D')) on the privacy loss.
* **Gaussian** ((ε, δ)-DP and ρ-zCDP): the hockey-stick divergence
  P(E | D) − e^ε·P(E | D') is a lower bound on δ at ε. The audit bounds it at the
  claimed ε (against the claimed δ) and along the whole (ε', δ(ε')) curve that
  the ρ-zCDP claim implies (CKS 2020, Cor. 13), where δ is large enough to be
  measured.

A row *fails* when its lower confidence bound exceeds the claim: then, with
the stated confidence, the build leaks more than it promises.

Why thresholds. With cell sums S and S' = S + Δ and discrete Laplace noise of
scale t, P(S + Z ≥ c) / P(S' + Z ≥ c) = e^(−Δ/t) exactly for every c ≥ S' —
in the tail beyond both sums, one-sided threshold events attain the full
privacy loss, and clamping and rounding to grey levels (monotone maps) keep
them threshold events. Among them the one nearest to S' has the largest
probability, hence the sharpest estimate; the selection split finds it. For
several affected coordinates (cells, channels) the events are "every
coordinate beyond its threshold", a threshold on the minimum of the
normalised coordinates. For Gaussian noise the likelihood ratio is monotone in
the linear statistic Σ Δ_j·x_j, so its thresholds are the optimal events.

Scenarios (see :func:`scenarios`): m pixels flipped 0 → 255 inside one
interior cell, inside a partial edge cell (``edges="partial"`` and ``"pad"``),
in a colour image (all three channels), and spread over several cells.

Command line: ``dp-pix audit`` (``--quick`` for a run under a minute).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

import numpy as np

from dp_pix.api import Pixelizer
from dp_pix.backend import BACKEND, CORE
from dp_pix.params import MAX_M, Mechanism, Params, check_block, check_int
from dp_pix.progress import Progress

__all__ = [
    "AuditReport",
    "AuditRow",
    "Scenario",
    "audit",
    "clopper_pearson",
    "scenarios",
]

MECHANISMS: tuple[Mechanism, ...] = ("laplace", "gaussian")
SCENARIO_NAMES = ("interior", "edge-partial", "edge-pad", "colour", "spread")
# Gaussian rows: the L2 worst cases (packed pixels), an edge cell and colour.
GAUSSIAN_SCENARIOS = ("interior", "edge-partial", "colour")

DEFAULT_RUNS = 2_000_000
QUICK_RUNS = 200_000
DEFAULT_CONFIDENCE = 0.9999
SELECTION_FRACTION = 0.2  # runs used to choose the event; the rest evaluate it
_CHUNK = 1 << 17  # runs per kernel call
_MAX_THRESHOLDS = 512

# A release function: (one image (1, H, W, C), number of runs) -> grid outputs
# (runs, gh, gw, C), each run an independent run of the mechanism.
Release = Callable[[np.ndarray, int], np.ndarray]


# ---------------------------------------------------------------------------
# Clopper–Pearson intervals (no scipy: the core package needs numpy only)
# ---------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for k in range(1, 1_000_000):
        k2 = 2 * k
        aa = k * (b - k) * x / ((qam + k2) * (a + k2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + k) * (qab + k) * x / ((a + k2) * (qap + k2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b), a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
        + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _beta_quantile(a: float, b: float, q: float) -> float:
    """x with I_x(a, b) = q, by bisection (I_x is increasing in x)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if _betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """One-sided Clopper–Pearson bounds for k successes in n trials.

    Returns ``(lower, upper)`` with P(p < lower) ≤ alpha and P(p > upper) ≤ alpha
    (each one-sided at level 1 − alpha; the pair is a 1 − 2·alpha interval).
    """
    k, n = int(k), int(n)
    if not (0 <= k <= n and n >= 1):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    lower = 0.0 if k == 0 else _beta_quantile(k, n - k + 1, alpha)
    upper = 1.0 if k == n else _beta_quantile(k + 1, n - k, 1.0 - alpha)
    return lower, upper


def _z(alpha: float) -> float:
    """Upper alpha-quantile of the standard normal (for the selection heuristic)."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


# ---------------------------------------------------------------------------
# Scenarios: worst-case neighbouring images
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Two neighbouring images and how they are pixelated.

    ``image`` (D) and ``neighbour`` (D') are uint8 ``(H, W, C)`` and differ in at
    most ``m`` pixel positions (all channels of a position may differ).
    """

    name: str
    description: str
    image: np.ndarray
    neighbour: np.ndarray
    block: tuple[int, int]
    edges: str
    m: int

    @property
    def channels(self) -> int:
        return int(self.image.shape[2])

    def changed_pixels(self) -> int:
        return int(np.any(self.image != self.neighbour, axis=2).sum())


def _cell_spans(h: int, w: int, bh: int, bw: int) -> tuple[int, int]:
    return -(-h // bh), -(-w // bw)


def _background(pixels: int, divisor: int, flipped: int) -> int:
    """Grey level of a cell's unchanged pixels that centres the pair of cell
    values (flipped pixels 0 in D, 255 in D') on mid-grey, so that the tails
    on both sides stay inside 0..255 where they can."""
    if pixels <= flipped:
        return 128
    v = 127.5 * (divisor - flipped) / (pixels - flipped)
    return int(min(255, max(0, round(v))))


def _build(
    name: str,
    description: str,
    shape: tuple[int, int, int],
    block: tuple[int, int],
    edges: str,
    m: int,
    cells: Sequence[tuple[int, int]],
) -> Scenario:
    """Flip m pixels 0 -> 255 (every channel), filling ``cells`` in order, each
    cell in raster order; a cell gets at most its pixel count."""
    h, w, _ = shape
    bh, bw = block
    image = np.full(shape, 128, dtype=np.uint8)
    neighbour = image.copy()
    left = m
    for i, j in cells:
        if left == 0:
            break
        rows = range(i * bh, min((i + 1) * bh, h))
        cols = range(j * bw, min((j + 1) * bw, w))
        pixels = len(rows) * len(cols)
        take = min(left, pixels)
        left -= take
        divisor = pixels if edges == "partial" else bh * bw
        v = _background(pixels, divisor, take)
        cell = (slice(rows.start, rows.stop), slice(cols.start, cols.stop))
        image[cell] = v
        flat = np.zeros(pixels, dtype=bool)
        flat[:take] = True
        flip = flat.reshape(len(rows), len(cols))
        image[cell][flip] = 0
        neighbour[cell] = image[cell]
        neighbour[cell][flip] = 255
    if left:
        raise ValueError(f"scenario {name!r}: m={m} pixels do not fit in its cells")
    return Scenario(name, description, image, neighbour, block, edges, m)


def _packed_block(k: int) -> tuple[int, int]:
    """Rows and columns of a compact block of at least k cells."""
    cols = math.ceil(math.sqrt(k))
    return math.ceil(k / cols), cols


def _interior(name: str, block: tuple[int, int], m: int, channels: int, cells: int,
              description: str) -> Scenario:
    bh, bw = block
    r, c = _packed_block(cells)
    shape = ((r + 2) * bh, (c + 2) * bw, channels)
    order = [(1 + i, 1 + j) for i in range(r) for j in range(c)][:cells]
    return _build(name, description, shape, block, "partial", m, order)


def _spread(block: tuple[int, int], m: int) -> Scenario:
    """m pixels spread evenly over k = 4 cells (fewer if m < 4)."""
    bh, bw = block
    area = bh * bw
    k = max(min(4, m), math.ceil(m / area))
    r, c = _packed_block(k)
    shape = ((r + 2) * bh, (c + 2) * bw, 1)
    image = np.full(shape, 128, dtype=np.uint8)
    order = [(1 + i, 1 + j) for i in range(r) for j in range(c)][:k]
    counts = [m // k + (1 if n < m % k else 0) for n in range(k)]
    neighbour = image.copy()
    for (i, j), take in zip(order, counts):
        cell = (slice(i * bh, (i + 1) * bh), slice(j * bw, (j + 1) * bw))
        image[cell] = _background(area, area, take)
        flat = np.zeros(area, dtype=bool)
        flat[:take] = True
        flip = flat.reshape(bh, bw)
        image[cell][flip] = 0
        neighbour[cell] = image[cell]
        neighbour[cell][flip] = 255
    return Scenario(
        "spread", f"{m} pixels spread over {k} interior cells", image, neighbour, block,
        "partial", m,
    )


def _pixel_count(i: int, j: int, h: int, w: int, block: tuple[int, int]) -> int:
    bh, bw = block
    return (min((i + 1) * bh, h) - i * bh) * (min((j + 1) * bw, w) - j * bw)


def _edge(block: tuple[int, int], m: int, edges: str) -> Scenario | None:
    """m pixels in the partial bottom-right corner cell (spilling into the
    smallest neighbouring cells when m exceeds it)."""
    bh, bw = block
    if bh == 1 and bw == 1:
        return None  # 1x1 cells: there are no partial cells
    eh = bh // 2 if bh > 1 else bh
    ew = bw // 2 if bw > 1 else bw
    g = 1
    while True:
        h, w = g * bh + eh, g * bw + ew
        gh, gw = _cell_spans(h, w, bh, bw)
        counts = {(i, j): _pixel_count(i, j, h, w, block) for i in range(gh) for j in range(gw)}
        # Smallest cells first (the corner), nearest the corner first.
        cells = sorted(counts, key=lambda c: (counts[c], (gh - 1 - c[0]) + (gw - 1 - c[1])))
        if sum(counts.values()) >= m:
            break
        g += 1
    label = "partial" if edges == "partial" else "pad"
    corner = eh * ew
    where = (
        f"the {eh}x{ew} corner cell"
        if m <= corner
        else f"the {eh}x{ew} corner cell and its neighbours"
    )
    return _build(
        f"edge-{label}",
        f"{m} pixels in {where}, edges={edges!r}",
        (h, w, 1),
        block,
        edges,
        m,
        cells,
    )


def scenarios(
    block: int | tuple[int, int] = 16, m: int = 16, names: Sequence[str] | None = None
) -> list[Scenario]:
    """The worst-case neighbouring pairs for ``block`` and ``m``.

    ``interior``: m pixels in one interior cell (packed into as few cells as
    possible when m exceeds a cell — the L2 worst case); ``edge-partial`` and
    ``edge-pad``: in a partial corner cell, with that edge mode; ``colour``: an
    RGB image, every channel flipped; ``spread``: over several cells. Flipped
    pixels are 0 in D and 255 in D'; the other pixels of an affected cell are
    grey, chosen so both cell values sit away from the clamps where possible.
    Edge scenarios are left out when there are no partial cells (1x1 blocks).
    """
    blk = check_block(block)
    m = check_int(m, "m", 1, MAX_M, "m is the number of pixels protected, e.g. m=16")
    wanted = SCENARIO_NAMES if names is None else tuple(names)
    for name in wanted:
        if name not in SCENARIO_NAMES:
            raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIO_NAMES)}")
    area = blk[0] * blk[1]
    cells = math.ceil(m / area)
    where = "one interior cell" if cells == 1 else f"{cells} adjacent interior cells (packed)"
    out: list[Scenario] = []
    for name in wanted:
        if name == "interior":
            out.append(_interior("interior", blk, m, 1, cells, f"{m} pixels in {where}"))
        elif name == "colour":
            out.append(_interior("colour", blk, m, 3, cells,
                                 f"{m} RGB pixels (all 3 channels) in {where}"))
        elif name == "spread":
            out.append(_spread(blk, m))
        else:
            s = _edge(blk, m, "partial" if name == "edge-partial" else "pad")
            if s is not None:
                out.append(s)
    return out


# ---------------------------------------------------------------------------
# Geometry of the released cells (independent of the kernels)
# ---------------------------------------------------------------------------


def _sums_and_divisors(image: np.ndarray, block: tuple[int, int], edges: str
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Exact cell sums (gh, gw, C) and divisors (gh, gw) per the kernel contract."""
    h, w, c = image.shape
    bh, bw = block
    if edges == "crop":
        gh, gw = h // bh, w // bw
    else:
        gh, gw = _cell_spans(h, w, bh, bw)
    sums = np.zeros((gh, gw, c), dtype=np.int64)
    div = np.zeros((gh, gw), dtype=np.int64)
    for i in range(gh):
        for j in range(gw):
            cell = image[i * bh:(i + 1) * bh, j * bw:(j + 1) * bw]
            sums[i, j] = cell.astype(np.int64).sum(axis=(0, 1))
            div[i, j] = cell.shape[0] * cell.shape[1] if edges == "partial" else bh * bw
    return sums, div


@dataclass(frozen=True)
class _Coordinates:
    """The released coordinates whose distribution differs between D and D'."""

    index: tuple[np.ndarray, np.ndarray, np.ndarray]  # (cell row, cell col, channel)
    sums: np.ndarray  # S_j under D
    deltas: np.ndarray  # S'_j - S_j
    divisors: np.ndarray  # n_j

    @property
    def l1(self) -> int:
        return int(np.abs(self.deltas).sum())

    @property
    def l2_sq(self) -> int:
        return int((self.deltas.astype(object) ** 2).sum())


def _coordinates(s: Scenario) -> _Coordinates:
    sums, div = _sums_and_divisors(s.image, s.block, s.edges)
    sums2, _ = _sums_and_divisors(s.neighbour, s.block, s.edges)
    rows, cols, channels = np.nonzero(sums != sums2)
    idx = (rows, cols, channels)
    return _Coordinates(idx, sums[idx], (sums2 - sums)[idx], div[rows, cols])


# ---------------------------------------------------------------------------
# Running the mechanism
# ---------------------------------------------------------------------------


def _pixelizer(s: Scenario, params: Params, seed: int | None) -> Pixelizer:
    """The public mechanism for scenario ``s``: its block, m and edge mode, grid output."""
    return Pixelizer(
        params.replace(block=s.block, m=s.m, edges=s.edges, output="grid"),  # type: ignore[arg-type]
        seed=seed,
    )


def _release_for(pixelizer: Pixelizer) -> Release:
    """The installed mechanism, exactly as the public API runs it."""

    def release(image: np.ndarray, n: int) -> np.ndarray:
        # n read-only copies of one image without copying (stride 0): each image
        # of a batch is an independent run of the mechanism.
        return pixelizer.batch(np.broadcast_to(image, (n, *image.shape[1:])))

    return release


def _collect(release: Release, s: Scenario, coords: _Coordinates, runs: int,
             progress: Callable[[int], None]) -> tuple[np.ndarray, np.ndarray]:
    """Released values of the affected coordinates, (runs, k) uint8, for D and D'."""
    out = []
    for image in (s.image, s.neighbour):
        view = image[None]
        values = np.empty((runs, coords.sums.size), dtype=np.uint8)
        done = 0
        while done < runs:
            n = min(_CHUNK, runs - done)
            grid = release(view, n)
            values[done:done + n] = grid[:, coords.index[0], coords.index[1], coords.index[2]]
            done += n
            progress(n)
        out.append(values)
    return out[0], out[1]


# ---------------------------------------------------------------------------
# Events and bounds
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    """One audited claim of one scenario.

    ``claimed`` is ε (Laplace) or δ (Gaussian); ``bound`` is the lower confidence
    bound of the audited privacy loss (ε̂ or δ̂), ``estimate`` its point estimate
    on the evaluation runs for the chosen event. The row passes when
    ``bound <= claimed``.
    """

    scenario: str
    description: str
    mechanism: str
    check: str
    claimed: float
    bound: float
    estimate: float
    at_epsilon: float | None
    event: str
    runs: int
    confidence: float
    seconds: float

    @property
    def passed(self) -> bool:
        return not (self.bound > self.claimed)


@dataclass
class AuditReport:
    """All rows of an audit, with the parameters it ran with."""

    block: tuple[int, int]
    m: int
    epsilon: float
    delta: float | None
    runs: int
    confidence: float
    backend: str
    rows: list[AuditRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def table(self, plain: bool = False) -> str:
        """A plain-text table: claimed vs empirically bounded loss per row
        (``plain``: spell ε and δ out, for consoles without them)."""
        head = ("scenario", "mechanism", "check", "claimed", "lower bound", "estimate", "verdict")
        lines: list[tuple[str, ...]] = []
        for r in self.rows:
            if r.mechanism == "laplace":
                claim, bound, est = f"ε={r.claimed:.4g}", _fmt(r.bound), _fmt(r.estimate)
            else:
                claim = f"δ={r.claimed:.3g} at ε={r.at_epsilon:.3g}"
                bound, est = _fmt(r.bound, 3), _fmt(r.estimate, 3)
            lines.append((r.scenario, r.mechanism, r.check, claim, bound, est,
                          "ok" if r.passed else "VIOLATION"))
        if plain:
            lines = [tuple(x.replace("ε", "eps").replace("δ", "delta") for x in line)
                     for line in lines]
        widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        out += [fmt.format(*x) for x in lines]
        return "\n".join(out)


def _fmt(x: float, digits: int = 4) -> str:
    if x == -math.inf:
        return "-inf"
    if digits == 3 and x != 0 and abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.{digits}g}"


def _thresholds(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    values = np.unique(np.concatenate([a, b]))
    if values.size > _MAX_THRESHOLDS:
        values = np.unique(np.quantile(values, np.linspace(0, 1, _MAX_THRESHOLDS)))
    return values


def _counts_ge(sorted_x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return sorted_x.size - np.searchsorted(sorted_x, t, side="left")


def _counts_le(sorted_x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_x, t, side="right")


@dataclass(frozen=True)
class _Event:
    statistic: str  # key into the statistics dict
    upper: bool  # T >= tau, else T <= tau
    tau: float
    favours_d: bool  # ratio P(E|D)/P(E|D'), else P(E|D')/P(E|D)

    def count(self, x_sorted: np.ndarray) -> int:
        t = np.array([self.tau])
        return int((_counts_ge if self.upper else _counts_le)(x_sorted, t)[0])

    def describe(self, name: str) -> str:
        op = ">=" if self.upper else "<="
        who = "D" if self.favours_d else "D'"
        return f"{name} {op} {self.tau:.4g} (favours {who})"


def _candidates(stats_d: dict[str, np.ndarray], stats_n: dict[str, np.ndarray]):
    """Every threshold event on the selection runs: (event, count under D, under D')."""
    for key, values in stats_d.items():
        xd, xn = np.sort(values), np.sort(stats_n[key])
        taus = _thresholds(xd, xn)
        for upper in (True, False):
            counter = _counts_ge if upper else _counts_le
            cd, cn = counter(xd, taus), counter(xn, taus)
            yield key, upper, taus, cd, cn


def _statistics(values: np.ndarray, coords: _Coordinates, mechanism: str
                ) -> dict[str, np.ndarray]:
    """Statistics whose thresholds are the events the audit considers.

    x_j = y_j·n_j is the released value scaled back to a sum; u_j = (x_j − S_j)/Δ_j
    is 0 at D's sum and 1 at D''s. Laplace: min_j u_j (all coordinates high) and
    max_j u_j (all low). Gaussian: the likelihood-ratio direction Σ Δ_j (x_j − S_j)/ΣΔ_j².
    """
    x = values.astype(np.float64) * coords.divisors
    centred = x - coords.sums
    if mechanism == "laplace":
        u = centred / coords.deltas
        return {"min u": u.min(axis=1), "max u": u.max(axis=1)}
    d = coords.deltas.astype(np.float64)
    return {"LR": centred @ d / float(d @ d)}


def _select_laplace(sel_d, sel_n, n_d, n_n, z) -> tuple[_Event, float]:
    best: tuple[float, _Event] | None = None
    for key, upper, taus, cd, cn in _candidates(sel_d, sel_n):
        for favours_d in (True, False):
            ca, cb = (cd, cn) if favours_d else (cn, cd)
            na, nb = (n_d, n_n) if favours_d else (n_n, n_d)
            pa, pb = (ca + 0.5) / (na + 1.0), (cb + 0.5) / (nb + 1.0)
            lcb = (np.log(pa) - z * np.sqrt((1 - pa) / (ca + 0.5))
                   - np.log(pb) - z * np.sqrt((1 - pb) / (cb + 0.5)))
            lcb = np.where(ca > 0, lcb, -np.inf)
            i = int(np.argmax(lcb))
            if best is None or lcb[i] > best[0]:
                best = (float(lcb[i]), _Event(key, upper, float(taus[i]), favours_d))
    assert best is not None
    return best[1], best[0]


def _select_gaussian(sel_d, sel_n, n_d, n_n, z, epsilons: np.ndarray, claims: np.ndarray
                     ) -> tuple[_Event, float, float]:
    """The (event, ε') whose lower bound on δ(ε') exceeds the claim δ(ε') the most."""
    best: tuple[float, _Event, float] | None = None
    for key, upper, taus, cd, cn in _candidates(sel_d, sel_n):
        for favours_d in (True, False):
            ca, cb = (cd, cn) if favours_d else (cn, cd)
            na, nb = (n_d, n_n) if favours_d else (n_n, n_d)
            pa, pb = ca / na, cb / nb
            for eps, claim in zip(epsilons, claims):
                w = math.exp(eps)
                sd = np.sqrt(pa * (1 - pa) / na + w * w * pb * (1 - pb) / nb + 1.0 / (na * na))
                margin = pa - w * pb - z * sd - claim
                i = int(np.argmax(margin))
                if best is None or margin[i] > best[0]:
                    best = (float(margin[i]), _Event(key, upper, float(taus[i]), favours_d),
                            float(eps))
    assert best is not None
    return best[1], best[2], best[0]


def _split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = max(1, int(values.shape[0] * SELECTION_FRACTION))
    return values[:k], values[k:]


def _evaluate_counts(event: _Event, ev_d: dict[str, np.ndarray], ev_n: dict[str, np.ndarray]
                     ) -> tuple[int, int, int, int]:
    xd, xn = np.sort(ev_d[event.statistic]), np.sort(ev_n[event.statistic])
    cd, cn = event.count(xd), event.count(xn)
    if event.favours_d:
        return cd, xd.size, cn, xn.size
    return cn, xn.size, cd, xd.size


def _audit_laplace(s: Scenario, coords: _Coordinates, vd: np.ndarray, vn: np.ndarray,
                   epsilon: float, confidence: float, seconds: float) -> list[AuditRow]:
    alpha = 1.0 - confidence
    sel_d, ev_d = (_statistics(v, coords, "laplace") for v in _split(vd))
    sel_n, ev_n = (_statistics(v, coords, "laplace") for v in _split(vn))
    n_sel_d, n_sel_n = next(iter(sel_d.values())).size, next(iter(sel_n.values())).size
    event, _ = _select_laplace(sel_d, sel_n, n_sel_d, n_sel_n, _z(alpha / 2))
    ca, na, cb, nb = _evaluate_counts(event, ev_d, ev_n)
    lower_a, _ = clopper_pearson(ca, na, alpha / 2)
    _, upper_b = clopper_pearson(cb, nb, alpha / 2)
    # The privacy loss is never negative (take E = everything): clip at 0.
    bound = max(0.0, math.log(lower_a / upper_b)) if lower_a > 0 else 0.0
    estimate = math.log((ca / na) / (cb / nb)) if ca and cb else (math.inf if ca else 0.0)
    estimate = max(0.0, estimate)
    return [AuditRow(
        s.name, s.description, "laplace", "ε (pure DP)", epsilon, bound, estimate, None,
        event.describe(event.statistic), vd.shape[0], confidence, seconds,
    )]


def _audit_gaussian(s: Scenario, coords: _Coordinates, vd: np.ndarray, vn: np.ndarray,
                    epsilon: float, delta: float, rho: float, confidence: float,
                    seconds: float) -> list[AuditRow]:
    alpha = 1.0 - confidence
    z = _z(alpha / 2)
    sel_d, ev_d = (_statistics(v, coords, "gaussian") for v in _split(vd))
    sel_n, ev_n = (_statistics(v, coords, "gaussian") for v in _split(vn))
    n_sel_d, n_sel_n = next(iter(sel_d.values())).size, next(iter(sel_n.values())).size
    # The ρ-zCDP claim implies (ε', δ(ρ, ε'))-DP for every ε' (CKS 2020, Cor. 13).
    # Only points whose δ(ε') events can be measured with these runs (≥ ~10 hits).
    grid = np.unique(np.concatenate([np.linspace(0.0, 3.0 * epsilon, 31), [epsilon]]))
    curve = np.array([CORE.delta_for(rho, float(e)) for e in grid])
    measurable = curve >= 10.0 / min(n_sel_d, n_sel_n)
    checks = [("δ at claimed ε", np.array([epsilon]), np.array([delta]))]
    if measurable.any():
        checks.append(("δ(ε') on the zCDP curve", grid[measurable], curve[measurable]))
    rows = []
    for check, epsilons, claims in checks:
        event, eps, _ = _select_gaussian(sel_d, sel_n, n_sel_d, n_sel_n, z, epsilons, claims)
        claim = float(claims[int(np.argmin(np.abs(epsilons - eps)))])
        ca, na, cb, nb = _evaluate_counts(event, ev_d, ev_n)
        lower_a, _ = clopper_pearson(ca, na, alpha / 2)
        _, upper_b = clopper_pearson(cb, nb, alpha / 2)
        w = math.exp(eps)
        # The hockey-stick divergence is never negative (take E = nothing): clip at 0.
        bound = max(0.0, lower_a - w * upper_b)
        estimate = max(0.0, ca / na - w * cb / nb)
        rows.append(AuditRow(
            s.name, s.description, "gaussian", check, claim, bound, estimate, eps,
            event.describe(event.statistic), vd.shape[0], confidence, seconds,
        ))
    return rows


def _audit_with(
    s: Scenario,
    mechanism: str,
    release: Release,
    *,
    epsilon: float,
    delta: float | None,
    rho: float | None,
    runs: int,
    confidence: float,
    progress: Callable[[int], None] | None = None,
) -> list[AuditRow]:
    """Audit one scenario with a given release function (tests pass test doubles)."""
    coords = _coordinates(s)
    start = time.perf_counter()
    vd, vn = _collect(release, s, coords, runs, progress or (lambda n: None))
    seconds = time.perf_counter() - start
    if mechanism == "laplace":
        return _audit_laplace(s, coords, vd, vn, epsilon, confidence, seconds)
    assert delta is not None and rho is not None
    return _audit_gaussian(s, coords, vd, vn, epsilon, delta, rho, confidence, seconds)


def audit(
    params: Params | Sequence[Params],
    *,
    scenario_names: Sequence[str] | None = None,
    runs: int = DEFAULT_RUNS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | None = None,
    stream: IO[str] | None = None,
) -> AuditReport:
    """Audit the installed build on ``params`` (one, or several — e.g. a Laplace
    and a Gaussian mechanism with the same block and m): every scenario.

    Each scenario uses the block and m of ``params`` with its own edge mode
    (see :func:`scenarios`) and grid output. ``runs`` runs of the mechanism on
    each image of each neighbouring pair (a fifth of them choose the event, the
    rest bound it); ``confidence`` per row. ``seed`` makes the audit
    reproducible (seeded streams, never reused); by default the noise comes
    from the OS, as in a real release. ``stream`` (e.g. ``sys.stderr``) gets a
    progress bar when it is a terminal.
    """
    all_params = [params] if isinstance(params, Params) else list(params)
    if not all_params or not all(isinstance(p, Params) for p in all_params):
        raise TypeError("params must be a dp_pix.Params or a sequence of them")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 100:
        raise ValueError(f"runs must be an int >= 100, got {runs!r}")
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0.5, 1), got {confidence!r}")
    plan = []
    ms: list[int] = []
    for p in all_params:
        if p.m == "region":
            raise ValueError("the audit needs m as a pixel count, not m='region'")
        ms.append(p.m)
        if p.mechanism == "gaussian" and p.delta is None:
            raise ValueError("auditing the Gaussian mechanism needs its delta, e.g. delta=1e-6")
        names = scenario_names
        if names is None:
            names = SCENARIO_NAMES if p.mechanism == "laplace" else GAUSSIAN_SCENARIOS
        for s in scenarios(p.block, ms[-1], names):
            plan.append((s, p))
    first = all_params[0]
    gaussian = next((p for p in all_params if p.mechanism == "gaussian"), None)
    report = AuditReport(
        block=first.block, m=ms[0],
        epsilon=float(first.epsilon if first.epsilon is not None else math.nan),
        delta=gaussian.delta if gaussian is not None else None, runs=runs,
        confidence=confidence, backend=str(BACKEND),
    )
    total = sum(2 * runs * s.channels for s, _ in plan)  # work ~ runs x channels
    with Progress(total, label="audit", unit="run", stream=stream,
                  enabled=None if stream is not None else False) as bar:
        for s, p in plan:
            pix = _pixelizer(s, p, seed)
            bar.describe(f"{s.name} ({p.mechanism})")

            def tick(n: int, s: Scenario = s) -> None:
                bar.advance(n * s.channels)

            info = pix.describe(s.channels)
            claimed = info["epsilon"] if p.epsilon is None else p.epsilon
            report.rows.extend(_audit_with(
                s, p.mechanism, _release_for(pix), epsilon=claimed, delta=p.delta,
                rho=info["rho"], runs=runs, confidence=confidence, progress=tick,
            ))
    return report
