"""Numbers and Markdown tables for ``report.md``, from the summary rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from dp_pix.attack import ATTACKER_LABELS, chance
from dp_pix.evaluate.config import SWEEP_SYMBOLS, Config
from dp_pix.evaluate.measurements import (
    SummaryLookup,
    SummaryRow,
    attack_key,
    reconstruction_key,
    utility_key,
)
from dp_pix.evaluate.tasks import Condition, conditions

__all__ = [
    "RECONSTRUCTOR_SHORT",
    "attack_table",
    "best_accuracy",
    "best_reid",
    "fmt",
    "markdown_table",
    "pct",
    "reconstruction_table",
    "span_of",
    "trends",
    "utility_table",
]

RECONSTRUCTOR_SHORT = {"none": "as released", "ridge": "ridge", "kernel-ridge": "kernel ridge"}


def fmt(x: float | str, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits; "—" for NaN or an empty cell."""
    if isinstance(x, str) or math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:.{decimals}f}"


def _pm(r: SummaryRow | None, scale: float = 1.0, digits: int = 3) -> str:
    if r is None:
        return "—"
    mean = r["mean"] * scale
    if math.isnan(r["ci_low"]):
        return fmt(mean, digits)
    half = (r["ci_high"] - r["ci_low"]) / 2 * scale
    if half == 0:
        return f"{fmt(mean, digits)} ± 0"
    return f"{fmt(mean, digits)} ± {fmt(half, 2)}"


def pct(r: SummaryRow | None) -> str:
    if r is None:
        return "—"
    mean = 100 * r["mean"]
    if math.isnan(r["ci_low"]):
        return f"{mean:.1f}"
    half = 100 * (r["ci_high"] - r["ci_low"]) / 2
    return f"{mean:.1f} ± {half:.1f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def utility_table(lookup: SummaryLookup, config: Config, sweep: str) -> str:
    """MSE and SSIM of every method at each point of the sweep ``sweep``."""
    name = SWEEP_SYMBOLS[sweep]
    header = [
        name, "DP-Pix MSE", "DP-Pix SSIM", "noisy mosaic σ", "noisy mosaic MSE",
        "noisy mosaic SSIM", "mosaic MSE", "mosaic SSIM", "blur MSE", "blur SSIM",
        "DP-Pix mse_uint8_wrapped (paper's bug)",
    ]  # fmt: skip
    rows = []
    for v in config.sweep_values(sweep):

        def get(method: str, metric: str, v: float = v) -> SummaryRow | None:
            return lookup.get(utility_key(config, sweep, method, v, metric))

        noisy = get("noisy-mosaic", "mse")
        wrapped = get("dp-pix", "mse_uint8_wrapped")
        rows.append(
            [
                f"{v:g}",
                _pm(get("dp-pix", "mse")),
                _pm(get("dp-pix", "ssim"), digits=3),
                fmt(noisy["sigma"]) if noisy else "—",
                _pm(noisy),
                _pm(get("noisy-mosaic", "ssim")),
                _pm(get("mosaic", "mse")),
                _pm(get("mosaic", "ssim")),
                _pm(get("blur", "mse")),
                _pm(get("blur", "ssim")),
                fmt(wrapped["mean"]) if wrapped else "—",
            ]
        )
    return markdown_table(header, rows)


def attack_table(lookup: SummaryLookup, config: Config, metric: str, n_classes: int) -> str:
    """Accuracy (%) of every attacker on every condition, and random guessing."""
    attackers = [*config.attackers, "best"]
    header = ["images the attacker sees", *(ATTACKER_LABELS[a] for a in attackers)]
    rows = []
    for c in conditions(config):
        cells = [c.label]
        for a in attackers:
            cells.append(pct(lookup.get(attack_key(c, a, metric))))
        rows.append(cells)
    k = 1 if metric == "top1" else 5
    p = f"{100 * chance(n_classes, k):.1f}"
    rows.append(["random guessing", *([p] * len(attackers))])
    return markdown_table(header, rows)


def reconstruction_table(
    lookup: SummaryLookup,
    conds: Sequence[Condition],
    reconstructors: Sequence[str],
    chance_top1: float,
) -> str:
    """PSNR (dB), SSIM and re-identification top-1 (%) of the released images
    as they are and of each reconstructor's reconstructions, per condition;
    then the mean face and random guessing."""
    header = ["released image"]
    for name in reconstructors:
        what = "as released" if name == "none" else RECONSTRUCTOR_SHORT.get(name, name)
        header += [f"{what}: PSNR", f"{what}: SSIM", f"{what}: re-id top-1 (%)"]
    rows = []
    for c in conds:
        cells = [c.label]
        for name in reconstructors:
            cells += [
                _pm(lookup.get(reconstruction_key(c, name, "psnr")), digits=3),
                _pm(lookup.get(reconstruction_key(c, name, "ssim")), digits=2),
                pct(lookup.get(reconstruction_key(c, name, "reid_top1"))),
            ]
        rows.append(cells)
    face = [
        _pm(lookup.get(reconstruction_key(None, "", "psnr")), digits=3),
        _pm(lookup.get(reconstruction_key(None, "", "ssim")), digits=2),
        "—",
    ]
    rows.append(["mean face of the public people (no input)", *(face * len(reconstructors))])
    guess = f"{100 * chance_top1:.1f}"
    rows.append(["random guessing", *(["—", "—", guess] * len(reconstructors))])
    return markdown_table(header, rows)


def best_reid(lookup: SummaryLookup, c: Condition, reconstructors: Sequence[str]) -> float:
    """The highest mean re-identification top-1 (%) on ``c`` over the
    reconstructors (the released image as it is included); NaN if none."""
    values = [
        100 * r["mean"]
        for name in reconstructors
        if (r := lookup.get(reconstruction_key(c, name, "reid_top1"))) is not None
    ]
    return max(values) if values else math.nan


def span_of(summary: list[SummaryRow], metric: str) -> tuple[float, float]:
    """The smallest and largest mean of DP-Pix's ``metric`` over all settings."""
    values = [r["mean"] for r in summary if r["method"] == "dp-pix" and r["metric"] == metric]
    return min(values), max(values)


def trends(lookup: SummaryLookup, cfg: Config) -> str:
    """One factual sentence on how DP-Pix's MSE moves along each sweep."""
    parts = []
    for sweep, values in (("epsilon", cfg.epsilons), ("block", cfg.blocks), ("m", cfg.ms)):
        if len(values) < 2:
            continue
        first = lookup.get(utility_key(cfg, sweep, "dp-pix", values[0], "mse"))
        last = lookup.get(utility_key(cfg, sweep, "dp-pix", values[-1], "mse"))
        if first and last:
            name = SWEEP_SYMBOLS[sweep]
            parts.append(
                f"{fmt(first['mean'])} at {name}={values[0]:g} to {fmt(last['mean'])} at "
                f"{name}={values[-1]:g}"
            )
    return f"Its MSE goes from {'; from '.join(parts)}." if parts else ""


def best_accuracy(lookup: SummaryLookup, c: Condition, metric: str = "top1") -> float:
    """The best attacker's mean accuracy (%) on ``c``; NaN if not measured."""
    r = lookup.get(attack_key(c, "best", metric))
    return math.nan if r is None else 100 * r["mean"]
