"""The reconstruction attack in ``report.md``: its setup, its summary lines,
its section (tables, figures) and the advice on choosing b, m and ε that
its numbers support."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from dp_pix.evaluate.config import Config
from dp_pix.evaluate.measurements import SummaryLookup, reconstruction_key
from dp_pix.evaluate.reconstruction import Reconstruction, main_block
from dp_pix.evaluate.tables import best_reid, fmt, reconstruction_table
from dp_pix.evaluate.tasks import Condition
from dp_pix.reconstruct import ALPHAS, GAMMAS, RECONSTRUCTOR_LABELS

__all__ = [
    "CHANCE_MARGIN",
    "Finding",
    "findings",
    "reconstruction_section",
    "reconstruction_setup",
    "reconstruction_summary_lines",
]

CHANCE_MARGIN = 5.0
"""Percentage points above chance that still count as "within a few points of chance"."""


@dataclass(frozen=True)
class Finding:
    """What the reconstruction attack shows at one block size (percentages:
    the best mean re-identification top-1 over the maps, the released image
    as it is included)."""

    block: int
    mosaic: float
    blur: float
    dp: tuple[tuple[float, float], ...]
    """``(ε, re-identification %)`` of DP-Pix, in increasing ε."""
    safe_epsilon: float | None
    """The largest ε of the sweep up to which every DP-Pix re-identification is
    within :data:`CHANCE_MARGIN` of chance (None: not even the smallest)."""

    def noise_scale(self, m: int, epsilon: float) -> float:
        """The Laplace scale on an interior cell, in grey levels: 255·m/(b²·ε)."""
        return 255.0 * m / (self.block**2 * epsilon)


def findings(rec: Reconstruction, lookup: SummaryLookup, config: Config) -> list[Finding]:
    """One :class:`Finding` per block of ``config.reconstruct_blocks``."""
    conds = list(rec.results)
    guess = 100.0 / rec.n_targets
    out = []
    for b in config.reconstruct_blocks:

        def of(method: str, b: int = b) -> list[Condition]:
            return [c for c in conds if c.method == method and c.block == b]

        dp = tuple(
            sorted((float(c.epsilon or 0), best_reid(lookup, c, rec.reconstructors))
                   for c in of("dp-pix"))
        )  # fmt: skip
        safe = None
        for e, reid in dp:
            if not reid <= guess + CHANCE_MARGIN:
                break
            safe = e
        mosaic, blur = of("mosaic"), of("blur")
        out.append(
            Finding(
                block=b,
                mosaic=best_reid(lookup, mosaic[0], rec.reconstructors) if mosaic else math.nan,
                blur=best_reid(lookup, blur[0], rec.reconstructors) if blur else math.nan,
                dp=dp,
                safe_epsilon=safe,
            )
        )
    return out


def reconstruction_setup(rec: Reconstruction, config: Config, notes: list[str]) -> str:
    """The setup bullet of the reconstruction attack."""
    maps = "; ".join(RECONSTRUCTOR_LABELS[n] for n in rec.reconstructors if n != "none")
    blocks = ", ".join(map(str, config.reconstruct_blocks))
    eps = ", ".join(f"{e:g}" for e in config.reconstruct_epsilons)
    lines = [
        (f"- **Reconstruction attack** (`dp_pix.reconstruct`; the threat of McPherson, Shokri & "
        f"Shmatikov 2016 and Hill et al. 2016): {config.reconstruct_splits} random splits. In "
        f"each, the classes are split into {rec.n_public} *public* ones — the attacker holds "
        f"their images and obfuscates them itself, with its own noise — and {rec.n_targets} "
        f"*targets*; each target's images into a *gallery* (the attacker's other photos of "
        f"the target: originals with identities; {rec.n_gallery} in all) and *released* "
        f"images ({rec.n_released} in all), which it sees only obfuscated. From the public "
        f"pairs (released, original) it learns maps released → original — {maps} — reading "
        f"one value per cell of a pixelized image and every pixel otherwise. Each map adds "
        f"back a share a ∈ [0, 1] of the released image, x̂ = a·x + T̂(x) with T̂ the "
        f"regression of original − a·released: a regression predicts combinations of its "
        f"training faces and cannot leave their span, the released image can. The ridge "
        f"penalty α ∈ {{{', '.join(f'{a:g}' for a in ALPHAS)}}}, the RBF width "
        f"γ ∈ {{{', '.join(f'{g:g}' for g in GAMMAS)}}} (features scaled to unit mean squared "
        f"norm) and a are chosen by {config.cv_folds}-fold cross-validation *grouped by "
        f"person* on the public pairs, so for people the map has not seen. The maps are "
        f"applied to the targets' released images; each reconstruction is compared with its "
        f"original (PSNR, SSIM, MSE) and re-identified: the classifiers of the "
        f"re-identification attack, trained on the gallery, name the person in it (the one "
        f"with the best cross-validation accuracy on the gallery counts). The released image "
        f"as it is gets the same scores (*as released*), and the mean face of the public "
        f"people is what an attack that learns nothing would reach."),
        (f"  Obfuscations: the originals (the attack must then be perfect: a check that it "
        f"can succeed); for b ∈ {{{blocks}}} the blur of σ = b/2, the mosaic and DP-Pix at "
        f"ε ∈ {{{eps}}} (m={config.m}); at b={config.block} also the noisy mosaic with σ "
        f"matched to DP-Pix at each ε. Intervals: 95 % Student-t over the splits."),
    ]
    lines += [f"  {n}" for n in notes]
    return "\n".join(lines)


def reconstruction_summary_lines(
    rec: Reconstruction, lookup: SummaryLookup, config: Config
) -> list[str]:
    """The summary bullet of the reconstruction attack."""
    conds = list(rec.results)
    main = rec.reconstructors[-1]
    guess = 100.0 / rec.n_targets
    b = main_block(config)
    mosaic = next((c for c in conds if c.method == "mosaic" and c.block == b), None)
    blur = next((c for c in conds if c.method == "blur" and c.block == b), None)
    parts = []
    for c, what in ((mosaic, f"the {b}x{b} mosaic"), (blur, f"the blur of σ={b / 2:g}")):
        if c is None:
            continue
        after = lookup.get(reconstruction_key(c, main, "psnr"))
        before = lookup.get(reconstruction_key(c, "none", "psnr"))
        if after is None or before is None:
            continue
        parts.append(
            f"{what} to a PSNR of {fmt(after['mean'])} dB (from {fmt(before['mean'])} as "
            f"released) and {best_reid(lookup, c, rec.reconstructors):.1f} % re-identification"
        )
    face = lookup.get(reconstruction_key(None, "", "psnr"))
    found = {f.block: f for f in findings(rec, lookup, config)}
    f = found.get(b)
    text = f"- **Reconstruction.** Maps learned on {rec.n_public} other people's images"
    if parts:
        text += (
            f" ({RECONSTRUCTOR_LABELS[main]}) bring " + "; ".join(parts)
            + (f" (the mean face: {fmt(face['mean'])} dB)" if face else "") + "."
        )  # fmt: skip
    else:
        text += " were applied to the targets' released images."
    if f is not None and f.dp:
        text += (
            f" Against a gallery of the targets' other photos, the best of these attacks (a map, "
            f"or the released image as it is) re-identifies DP-Pix (b={b}, m={config.m}) "
            + ", ".join(f"{r:.1f} % at ε={e:g}" for e, r in f.dp)
            + f" (chance {guess:.1f} %): "
            + (
                f"within {CHANCE_MARGIN:g} points of chance up to ε={f.safe_epsilon:g}."
                if f.safe_epsilon is not None
                else f"more than {CHANCE_MARGIN:g} points above chance at every ε measured."
            )
        )
    return [text]


def reconstruction_section(
    rec: Reconstruction, lookup: SummaryLookup, config: Config, figures: set[str]
) -> str:
    """The section ``## Privacy: reconstruction attack`` and its advice."""
    out: list[str] = []
    w = out.append
    conds = list(rec.results)
    w("## Privacy: reconstruction attack\n")
    w(
        f"PSNR (dB) and SSIM of the targets' released images against their originals, as "
        f"released and as reconstructed by each map, and re-identification top-1 (%) of the "
        f"best gallery classifier on them; mean ± 95 % CI half-width over "
        f"{config.reconstruct_splits} split(s); {rec.n_targets} targets, so chance is "
        f"{100 / rec.n_targets:.1f} %. A PSNR of ∞ is an exact reconstruction.\n"
    )
    references = [c for c in conds if c.method == "original"]
    for b in config.reconstruct_blocks:
        rows = references + [c for c in conds if c.block == b and c.method != "original"]
        w(f"### b = {b}\n")
        w(reconstruction_table(lookup, rows, rec.reconstructors, 1.0 / rec.n_targets))
        w("")
    if "reconstruction.png" in figures:
        w("![reconstruction attack](reconstruction.png)\n")
    if "reconstruction-examples.png" in figures:
        w("Target images as released and as reconstructed (maps fitted without them):\n")
        w("![reconstruction examples](reconstruction-examples.png)\n")
    w(choosing_section(rec, lookup, config))
    return "\n".join(out)


def choosing_section(rec: Reconstruction, lookup: SummaryLookup, config: Config) -> str:
    """``### Choosing b, m and ε from these numbers``."""
    guess = 100.0 / rec.n_targets
    m = config.m
    found = findings(rec, lookup, config)
    h, w_ = rec.example_originals.shape[1:3]
    whole, shape = int(h * w_), f"{w_}x{h}"
    limit = next((f.safe_epsilon for f in found if f.block == main_block(config)), None)
    out: list[str] = []
    w = out.append
    w("### Choosing b, m and ε from these numbers\n")
    w(
        f"Target: re-identification after the best of these attacks (the highest mean over "
        f"the maps and the released image as it is) within {CHANCE_MARGIN:g} points of "
        f"chance ({guess:.1f} % among {rec.n_targets} targets), on the images measured here. "
        f"The noise scale is DP-Pix's Laplace scale on a cell in grey levels, 255·m/(b²·ε) "
        f"(standard deviation √2 times that).\n"
    )
    header = [
        "b", "mosaic", "blur σ=b/2",
        f"DP-Pix (m={m}): largest ε within {CHANCE_MARGIN:g} points of chance",
        "noise scale there", "next ε measured",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for f in found:
        if f.safe_epsilon is not None:
            safe = f"ε = {f.safe_epsilon:g} ({dict(f.dp)[f.safe_epsilon]:.1f} %)"
            scale = f"{f.noise_scale(m, f.safe_epsilon):.0f}"
        else:
            safe, scale = "none measured", "—"
        above = [(e, r) for e, r in f.dp if f.safe_epsilon is None or e > f.safe_epsilon]
        nxt = f"ε = {above[0][0]:g}: {above[0][1]:.1f} %" if above else "—"
        lines.append(
            f"| {f.block} | {f.mosaic:.1f} % | {f.blur:.1f} % | {safe} | {scale} | {nxt} |"
        )
    w("\n".join(lines) + "\n")
    noiseless = [f for f in found if not math.isnan(f.mosaic) and not math.isnan(f.blur)]
    hiding = [f for f in noiseless if max(f.mosaic, f.blur) <= guess + CHANCE_MARGIN]
    if noiseless and not hiding:
        worst = max(noiseless, key=lambda f: f.block)
        w(
            f"- **Cells alone do not hide identity here**: at the largest cells measured "
            f"(b={worst.block}) the mosaic still leaves {worst.mosaic:.1f} % and the blur "
            f"{worst.blur:.1f} %, against {guess:.1f} % by chance. What hides these faces from "
            f"these attacks is DP-Pix's noise."
        )
    elif hiding:
        least = min(hiding, key=lambda f: f.block)
        w(
            f"- **Cells alone** bring these attacks within {CHANCE_MARGIN:g} points of chance "
            f"from b={least.block} on (mosaic {least.mosaic:.1f} %, blur {least.blur:.1f} %) — "
            f"without any guarantee: a stronger attacker may do better, while DP-Pix's noise "
            f"bounds what any attacker learns about m pixels."
        )
    w(
        f"- **m and ε** enter the noise only through m/ε. A limit ε* measured at m={m} "
        f"therefore carries over to any m: the same noise, hence the same protection against "
        f"these attacks, is ε ≤ ε*·m/{m}. Choose m for the region that must stay hidden "
        f"(PRIVACY.md §8), then ε at most ε*·m/{m} for your b — e.g. at b={main_block(config)}: "
        + _example(found, config)
        + f". Read the other way, the same noise is ε ≤ ε*·{whole}/{m} for a change of the "
        f"whole {shape} image ({whole} pixels)"
        + (f", {limit * whole / m:.3g} at b={main_block(config)}" if limit is not None else "")
        + ": at the scale of a face the guarantee says little, and these measurements are "
        "the evidence there is."
    )
    w(_across_blocks(found, m))
    w(
        "- **These are measurements, not guarantees.** They hold for these attacks (linear "
        "and kernel maps learned on the public people, the classifiers of the "
        "re-identification attack) on images of this size; a stronger attacker (a deep "
        "network, more public data) does better, and an attacker who links several released "
        "images of one person averages their noise away (PRIVACY.md §7). Read the limits as "
        "upper bounds on ε. What is guaranteed is ε-DP for regions of m pixels, whatever "
        "the attacker does."
    )
    w("")
    return "\n".join(out)


def _across_blocks(found: list[Finding], m: int) -> str:
    """How the measured limit moves with b, in words."""
    limits = [(f.block, f.safe_epsilon, f.dp[0][0] if f.dp else math.nan) for f in found]
    if len(limits) < 2:
        return (
            "- **b**: one block size measured; the noise scale on a cell falls as b², the number "
            "of cells too, so measure other sizes before relying on a larger ε."
        )
    listed = ", ".join(
        f"ε* = {e:g} at b={b}" if e is not None else f"ε* < {lo:g} at b={b}"
        for b, e, lo in limits
    )
    # None (not even the smallest ε qualifies) sorts as "below everything measured".
    values = [e if e is not None else lo / 2 for _, e, lo in limits]
    if all(a >= b for a, b in itertools.pairwise(values)) and values[0] > values[-1]:
        trend = (
            "Larger cells need a *smaller* ε against these attacks, not a larger one: the "
            "noise on a cell's mean falls as b², but a cell's sum carries b² pixels of "
            "signal against noise of fixed size (255·m/ε on the sum), so over the whole "
            "image the released sums tell people apart better, roughly as b·ε/m. Choose b "
            "for utility, then ε for privacy at that b."
        )
    elif all(a <= b for a, b in itertools.pairwise(values)) and values[0] < values[-1]:
        trend = (
            "Larger cells allow a larger ε here: the noise on a cell falls as b², but the "
            "cells then hide more of the face."
        )
    else:
        trend = "The limit does not move steadily with b on these numbers."
    return f"- **b** (limits measured at m={m}): {listed}. {trend}"


def _example(found: list[Finding], config: Config) -> str:
    f = next((f for f in found if f.block == main_block(config)), None)
    if f is None or f.safe_epsilon is None:
        return "no ε measured qualifies"
    e = f.safe_epsilon
    m = config.m
    return ", ".join(
        f"m={mm}: ε ≤ {e * mm / m:g}" for mm in sorted({m, 4 * m, 120})
    )
