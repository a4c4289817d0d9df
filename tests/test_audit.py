"""The end-to-end privacy audit (`dp_pix.audit`, `dp-pix audit`).

The audit must pass on the installed build, and it must be shown to fail on
builds that leak: test doubles run the same kernels with noise 20 % too small,
without the colour factor, or calibrated in grey levels (under-noised partial
edge cells). The doubles live here, never in the package: the public API has
no way to weaken the noise. All runs are seeded, so outcomes are deterministic.
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from typing import ClassVar

import dp_pix
import numpy as np
import pytest
from dp_pix import audit, cli
from scipy import stats

KERNEL = dp_pix.backend.CORE
CONFIDENCE = audit.DEFAULT_CONFIDENCE


# ---------------------------------------------------------------------------
# Test doubles: broken mechanisms built from the real kernels
# ---------------------------------------------------------------------------


def scaled_noise(pixelizer, factor: Fraction, channels: int | None = None) -> audit.Release:
    """The kernel with the calibrated noise parameter times ``factor``.

    ``factor`` multiplies the Laplace scale or the Gaussian variance; ``channels``
    overrides the channel count used in calibration (the "forgotten colour
    factor" bug when 1 on a colour image).
    """
    bh, bw = pixelizer.params.block
    seed = hashlib.sha256(repr(("double", factor, channels)).encode()).digest()
    offset = [0]  # seeded streams, never reused: deterministic tests

    def release(image: np.ndarray, n: int) -> np.ndarray:
        kind, num, den = pixelizer.noise(channels or image.shape[3])
        spec = (kind, num * factor.numerator, den * factor.denominator)
        view = np.broadcast_to(image, (n, *image.shape[1:]))
        out = KERNEL.pixelate(view, bh, bw, pixelizer.params.edges, "grid", spec, seed, offset[0])
        offset[0] += n
        return out

    return release


def grey_level_calibration(pixelizer) -> audit.Release:
    """The common public-code bug: noise of 255·m/(b²·ε) grey levels added to every
    cell *mean*, so a partial cell of n < b² pixels gets sum noise of scale t·n/b²."""
    bh, bw = pixelizer.params.block
    area = bh * bw
    gen = np.random.default_rng(11)

    def release(image: np.ndarray, n_runs: int) -> np.ndarray:
        _, num, den = pixelizer.noise(image.shape[3])
        _, h, w, c = image.shape
        gh, gw = -(-h // bh), -(-w // bw)
        noise = np.empty((n_runs, gh, gw, c), dtype=np.int64)
        for i in range(gh):
            for j in range(gw):
                count = (min((i + 1) * bh, h) - i * bh) * (min((j + 1) * bw, w) - j * bw)
                scale = Fraction(num * count, den * area)
                seed = gen.bytes(32)
                z = KERNEL.sample(
                    ("laplace", scale.numerator, scale.denominator), n_runs * c, seed
                )
                noise[:, i, j, :] = z.reshape(n_runs, c)
        view = np.broadcast_to(image, (n_runs, h, w, c))
        return KERNEL.pixelate(
            view, bh, bw, pixelizer.params.edges, "grid", ("given", noise), None, 0
        )

    return release


def params(scenario, mechanism, epsilon, delta=None) -> dp_pix.Params:
    return dp_pix.Params(
        block=scenario.block, m=scenario.m, epsilon=epsilon, mechanism=mechanism,
        delta=delta if mechanism == "gaussian" else None,
    )


def run(scenario, mechanism, release=None, *, epsilon, delta=None, runs, seed=1):
    pix = audit._pixelizer(scenario, params(scenario, mechanism, epsilon, delta), seed)
    info = pix.describe(scenario.channels)
    rel = audit._release_for(pix) if release is None else release(pix)
    return audit._audit_with(
        scenario, mechanism, rel, epsilon=epsilon, delta=delta, rho=info["rho"],
        runs=runs, confidence=CONFIDENCE,
    )


# ---------------------------------------------------------------------------
# Clopper–Pearson without scipy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n"),
    [(0, 10), (1, 10), (10, 10), (3, 1000), (500, 1000), (17, 400_000),
     (123_456, 320_000), (319_990, 320_000), (1, 1), (0, 1)],
)
@pytest.mark.parametrize("alpha", [0.025, 5e-5])
def test_clopper_pearson_matches_scipy(k: int, n: int, alpha: float) -> None:
    lower, upper = audit.clopper_pearson(k, n, alpha)
    want_lower = 0.0 if k == 0 else stats.beta.ppf(alpha, k, n - k + 1)
    want_upper = 1.0 if k == n else stats.beta.ppf(1 - alpha, k + 1, n - k)
    assert lower == pytest.approx(want_lower, rel=1e-8, abs=1e-300)
    assert upper == pytest.approx(want_upper, rel=1e-8)
    assert lower <= k / n <= upper


def test_clopper_pearson_rejects_bad_arguments() -> None:
    for bad in [(-1, 10, 0.1), (11, 10, 0.1), (0, 0, 0.1), (1, 10, 0.0), (1, 10, 1.0)]:
        with pytest.raises(ValueError):
            audit.clopper_pearson(*bad)


# ---------------------------------------------------------------------------
# The scenarios are neighbours, and worst cases
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "m"),
    [(16, 16), (8, 4), (4, 4), (4, 40), ((3, 5), 7), (1, 5), (2, 1), ((1, 6), 4)],
    ids=str,
)
def test_scenarios_are_worst_case_neighbours(block, m: int) -> None:
    blk = (block, block) if isinstance(block, int) else block
    area = blk[0] * blk[1]
    found = audit.scenarios(block, m)
    names = [s.name for s in found]
    if blk == (1, 1):
        assert "edge-partial" not in names  # no partial cells exist
    else:
        assert names == list(audit.SCENARIO_NAMES)
    for s in found:
        assert s.image.dtype == np.uint8 and s.image.shape == s.neighbour.shape
        changed = np.any(s.image != s.neighbour, axis=2)
        assert changed.sum() == m == s.changed_pixels()
        # Every channel of a changed pixel flips 0 -> 255: the largest change.
        assert np.all(s.image[changed] == 0) and np.all(s.neighbour[changed] == 255)
        coords = audit._coordinates(s)
        c = s.channels
        # The L1 change of the sums is the full sensitivity, whatever the placement.
        assert coords.l1 == KERNEL.l1_sensitivity(m, c)
        if s.name in ("interior", "colour"):
            # Packed into as few cells as possible: the L2 worst case too.
            assert coords.l2_sq == KERNEL.l2_sensitivity_sq(m, c, *blk)
            h, w, _ = s.image.shape
            rows, cols = coords.index[0], coords.index[1]
            gh, gw = -(-h // blk[0]), -(-w // blk[1])
            assert rows.min() > 0 and cols.min() > 0  # interior cells
            assert rows.max() < gh - 1 and cols.max() < gw - 1
        if s.name.startswith("edge"):
            h, w, _ = s.image.shape
            assert h % blk[0] or w % blk[1]
            first = (coords.index[0][0], coords.index[1][0])
            pixels = (min((first[0] + 1) * blk[0], h) - first[0] * blk[0]) * (
                min((first[1] + 1) * blk[1], w) - first[1] * blk[1])
            assert pixels < area  # the corner cell is partial
            want = pixels if s.edges == "partial" else area
            assert coords.divisors[0] == want
            if m <= pixels:  # all in the corner cell: the L2 worst case too
                assert coords.sums.size == c
                assert coords.l2_sq == KERNEL.l2_sensitivity_sq(m, c, *blk)
        if s.name == "spread":
            assert coords.sums.size == min(4, m) or coords.sums.size == math.ceil(m / area)


def test_scenario_cells_sit_inside_the_grey_range() -> None:
    # Away from the clamps the threshold events reach the full privacy loss.
    for s in audit.scenarios(16, 16):
        coords = audit._coordinates(s)
        low = coords.sums / coords.divisors
        high = (coords.sums + coords.deltas) / coords.divisors
        assert np.all(low >= 40) and np.all(high <= 215), s.name


def test_scenarios_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        audit.scenarios(8, 4, ["nope"])
    with pytest.raises(ValueError):
        audit.scenarios(0, 4)
    with pytest.raises(ValueError):
        audit.scenarios(8, 0)


# ---------------------------------------------------------------------------
# Laplace: the build passes, and is tight; leaky doubles fail
# ---------------------------------------------------------------------------

LAPLACE = {"block": 8, "m": 8, "epsilon": 1.0}
LAPLACE_RUNS = 150_000


@pytest.fixture(scope="module")
def laplace_scenarios():
    return audit.scenarios(LAPLACE["block"], LAPLACE["m"])


def test_laplace_audit_passes_and_is_tight(laplace_scenarios) -> None:
    eps = LAPLACE["epsilon"]
    for s in laplace_scenarios:
        (row,) = run(s, "laplace", epsilon=eps, runs=LAPLACE_RUNS)
        assert row.passed, row
        # Not vacuous: the Laplace mechanism is tight, and so must be the bound.
        # (Several coordinates — channels, cells — make the joint tail event rarer
        # and the interval wider.)
        single = s.name.startswith(("interior", "edge"))
        assert row.bound > (0.9 if single else 0.8) * eps, row
        assert row.estimate == pytest.approx(eps, abs=0.05 if single else 0.1), row


def test_laplace_audit_catches_noise_20_percent_too_small(laplace_scenarios) -> None:
    eps = LAPLACE["epsilon"]
    for s in laplace_scenarios:
        (row,) = run(s, "laplace", lambda p: scaled_noise(p, Fraction(4, 5)), epsilon=eps,
                     runs=LAPLACE_RUNS)
        assert not row.passed, row
        # The truth is 1.25 ε; over several coordinates the joint tail is rarer.
        single = s.name.startswith(("interior", "edge"))
        assert row.bound > (1.1 if single else 1.05) * eps, row


def test_laplace_audit_catches_a_forgotten_colour_factor() -> None:
    (s,) = audit.scenarios(8, 8, ["colour"])
    (row,) = run(s, "laplace", lambda p: scaled_noise(p, Fraction(1), channels=1),
                 epsilon=1.0, runs=60_000)
    assert not row.passed and row.bound > 2.0, row  # the truth is 3 ε


def test_laplace_audit_catches_under_noised_edge_cells() -> None:
    interior, edge = audit.scenarios(8, 8, ["interior", "edge-partial"])
    (ok,) = run(interior, "laplace", grey_level_calibration, epsilon=1.0, runs=60_000)
    assert ok.passed, ok  # full cells get the right noise
    (bad,) = run(edge, "laplace", grey_level_calibration, epsilon=1.0, runs=60_000)
    assert not bad.passed and bad.bound > 2.0, bad  # a 4x4 corner of 8x8 cells: 4 ε


# ---------------------------------------------------------------------------
# Gaussian: hockey-stick divergence
# ---------------------------------------------------------------------------

# δ must be measurable with the runs: (ε, δ) = (2, 0.01) with 1e6 runs per image.
GAUSS = {"block": 8, "m": 4, "epsilon": 2.0, "delta": 0.01}
GAUSS_RUNS = 1_000_000


def test_gaussian_audit_passes_and_catches_noise_20_percent_too_small() -> None:
    (s,) = audit.scenarios(GAUSS["block"], GAUSS["m"], ["interior"])
    kw = {"epsilon": GAUSS["epsilon"], "delta": GAUSS["delta"], "runs": GAUSS_RUNS}
    rows = run(s, "gaussian", **kw)
    assert [r.check for r in rows] == ["δ at claimed ε", "δ(ε') on the zCDP curve"]
    assert all(r.passed for r in rows), rows
    assert rows[0].claimed == GAUSS["delta"] and rows[0].at_epsilon == GAUSS["epsilon"]
    # σ·0.8: the variance times 0.64.
    bad = run(s, "gaussian", lambda p: scaled_noise(p, Fraction(16, 25)), **kw)
    assert not any(r.passed for r in bad), bad


def test_gaussian_rows_claim_the_zcdp_curve() -> None:
    (s,) = audit.scenarios(8, 4, ["edge-partial"])
    rows = run(s, "gaussian", epsilon=1.0, delta=1e-6, runs=20_000)
    assert rows[0].claimed == 1e-6
    curve = rows[1]
    pix = audit._pixelizer(s, params(s, "gaussian", 1.0, 1e-6), None)
    rho = pix.describe(1)["rho"]
    assert curve.claimed == pytest.approx(KERNEL.delta_for(rho, curve.at_epsilon))
    assert all(r.passed and r.bound >= 0 for r in rows)


# ---------------------------------------------------------------------------
# The public entry point and the command line
# ---------------------------------------------------------------------------


class RecordingBar:
    """Stands in for dp_pix.progress.Progress and keeps what the audit reports."""

    instances: ClassVar[list[RecordingBar]] = []

    def __init__(self, total: int, **kwargs) -> None:
        self.total, self.done, self.labels = total, 0, []
        RecordingBar.instances.append(self)

    def advance(self, n: int = 1, *, failed: bool = False) -> None:
        self.done += n

    def describe(self, label: str) -> None:
        self.labels.append(label)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def test_audit_reports_every_scenario_with_progress(monkeypatch) -> None:
    monkeypatch.setattr(audit, "Progress", RecordingBar)
    laplace = dp_pix.Params(block=4, m=2, epsilon=0.5)
    gaussian = laplace.replace(mechanism="gaussian", delta=1e-3)
    report = audit.audit([laplace, gaussian], runs=3_000, seed=5)
    assert report.passed
    assert [(r.scenario, r.mechanism) for r in report.rows] == (
        [(n, "laplace") for n in audit.SCENARIO_NAMES]
        + [(n, "gaussian") for n in audit.GAUSSIAN_SCENARIOS for _ in range(2)]
    )
    (bar,) = RecordingBar.instances
    assert bar.done == bar.total > 0
    assert bar.labels == [f"{n} (laplace)" for n in audit.SCENARIO_NAMES] + [
        f"{n} (gaussian)" for n in audit.GAUSSIAN_SCENARIOS
    ]
    table = report.table()
    assert "edge-partial" in table and "VIOLATION" not in table
    assert report.backend == dp_pix.BACKEND


def test_audit_rejects_bad_arguments() -> None:
    good = dp_pix.Params(block=4, m=2, epsilon=0.5)
    with pytest.raises(ValueError):
        audit.audit(good, runs=10)
    with pytest.raises(ValueError):
        audit.audit(good, confidence=1.0)
    with pytest.raises(ValueError, match="delta"):
        audit.audit(good.replace(mechanism="gaussian", rho=0.5))
    with pytest.raises(TypeError):
        audit.audit({"block": 4, "m": 2, "epsilon": 0.5})  # type: ignore[arg-type]


def test_cli_audit_passes_on_the_build(capsys) -> None:
    status = cli.main(["audit", "--block", "4", "--m", "4", "--runs", "20000", "--seed", "3"])
    out = capsys.readouterr().out
    assert status == 0
    assert "interior" in out and "colour" in out and "gaussian" in out
    assert "within their claims" in out


def test_cli_audit_exits_non_zero_on_a_violation(capsys, monkeypatch) -> None:
    monkeypatch.setattr(audit, "_release_for", lambda p: scaled_noise(p, Fraction(1, 2)))
    status = cli.main(["audit", "--block", "4", "--m", "4", "--runs", "20000",
                       "--mechanism", "laplace", "--seed", "3"])
    captured = capsys.readouterr()
    assert status == 1
    assert "VIOLATION" in captured.out and "VIOLATION" in captured.err


def test_cli_audit_usage_errors(capsys) -> None:
    assert cli.main(["audit", "--runs", "50"]) == 2
    assert cli.main(["audit", "--confidence", "1.5"]) == 2
    assert cli.main(["audit", "--mechanism", "nope"]) == 2
    assert "audit" in capsys.readouterr().err


def test_public_api_cannot_weaken_the_noise() -> None:
    # The audit always runs the calibrated mechanism: no scale or factor argument.
    import inspect

    params = set(inspect.signature(audit.audit).parameters)
    assert not params & {"scale", "factor", "noise", "release", "sigma"}
    assert "_release_for" not in audit.__all__ and "_audit_with" not in audit.__all__
