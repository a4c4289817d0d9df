"""What an evaluation writes besides the plots: ``report.md`` (the setup,
the numbers as tables, how to rerun), ``measurements.csv`` and
``summary.csv``, and ``run.json`` (configuration, versions, runtime)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import platform
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import dp_pix
from dp_pix.attack import chance
from dp_pix.evaluate.config import SWEEP_AXIS, SWEEPS, Config, EvalData, fixed_settings
from dp_pix.evaluate.measurements import SummaryRow, summary_lookup, utility_key
from dp_pix.evaluate.reconstruction import Reconstruction
from dp_pix.evaluate.reconstruction_report import (
    reconstruction_section,
    reconstruction_setup,
    reconstruction_summary_lines,
)
from dp_pix.evaluate.regions import RegionAttack
from dp_pix.evaluate.tables import (
    attack_table,
    best_accuracy,
    fmt,
    span_of,
    trends,
    utility_table,
)
from dp_pix.evaluate.tasks import conditions
from dp_pix.metrics import EVAL_EXTRA_HINT

__all__ = [
    "RunContext",
    "cli_command",
    "clock",
    "python_command",
    "report",
    "run_json",
    "write_csv",
    "write_text",
]


@dataclass
class RunContext:
    """What the report says about a run besides its numbers."""

    data: EvalData
    config: Config
    seed: int
    jobs: int
    command: str
    seconds: float
    timings: dict[str, float]
    n_utility: int
    attack_idx: np.ndarray | None
    attack_notes: list[str]
    n_classes: int
    region: RegionAttack | None = None
    reconstruction: Reconstruction | None = None
    reconstruction_notes: list[str] = field(default_factory=list)


def clock(seconds: float) -> str:
    """``seconds`` as ``m:ss``."""
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


# -------------------------------------------------------------------- files


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file, so that a
    reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, object]]) -> Path:
    """Write ``rows`` as CSV with the header ``columns``; floats in full
    precision (``repr``), NaN as an empty cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k, "")) for k in columns})
    return write_text(path, buf.getvalue())


def _csv_value(x: object) -> object:
    if isinstance(x, float):
        return "" if math.isnan(x) else repr(x)
    return x


# ----------------------------------------------------------------- rerunning


def cli_command(
    dataset: str,
    data: str | None,
    out: Path,
    quick: bool,
    seed: int,
    jobs: int,
    *,
    splits: int | None = None,
    attackers: Sequence[str] | None = None,
    reconstruction_splits: int | None = None,
) -> str:
    """The ``dp-pix evaluate`` command line that repeats a run."""
    parts = ["dp-pix", "evaluate", "--dataset", dataset]
    if data is not None:
        parts += ["--data", str(Path(data).resolve())]
    parts += ["--out", str(out)]
    if quick:
        parts.append("--quick")
    if splits is not None:
        parts += ["--splits", str(splits)]
    if reconstruction_splits is not None:
        parts += ["--reconstruction-splits", str(reconstruction_splits)]
    if attackers is not None:
        parts += ["--attackers", ",".join(attackers)]
    parts += ["--seed", str(seed), "--jobs", str(jobs)]
    return shlex.join(parts)


def python_command(dataset: str, data: str | None, out: Path, seed: int, jobs: int) -> str:
    """The Python that repeats a run with a custom :class:`Config` (read back from run.json)."""
    where = "None" if data is None else repr(str(Path(data).resolve()))
    return (
        '# a custom Config, recorded in run.json under "config"\n'
        "import json\nfrom dp_pix import evaluate\n"
        "config = json.load(open('run.json'))['config']\n"
        "config = evaluate.Config(**{k: tuple(v) if isinstance(v, list) else v "
        "for k, v in config.items()})\n"
        f"evaluate.run({dataset!r}, {where}, {str(out)!r}, seed={seed}, jobs={jobs}, "
        "config=config)"
    )


# -------------------------------------------------------------------- report


def report(ctx: RunContext, summary: list[SummaryRow], figures: list[Path]) -> str:
    """The text of ``report.md``."""
    d, cfg = ctx.data, ctx.config
    lookup = summary_lookup(summary)
    names = {p.name for p in figures}
    shape = "x".join(str(s) for s in (d.images.shape[2], d.images.shape[1]))
    colour = "grey" if d.channels == 1 else f"{d.channels}-channel colour"
    out: list[str] = []
    w = out.append
    w(f"# DP-Pix evaluation: {d.title}\n")
    undo = "; and a reconstruction attack that learns to undo each of them"
    w(
        f"Utility (MSE, SSIM) and privacy (a re-identification attack) of DP-Pix, the "
        f"differentially private pixelization of L. Fan, *Image Pixelization with Differential "
        f"Privacy*, DBSec 2018, against the plain mosaic, a Gaussian blur and a noisy mosaic, "
        f"following the paper's experiments{undo if ctx.reconstruction else ''}."
        f" Made by dp-pix {dp_pix.__version__} ({dp_pix.BACKEND} backend) "
        f"in {clock(ctx.seconds)} (min:s) with {ctx.jobs} worker process(es); "
        f"{cfg.name} settings; seed {ctx.seed}.\n"
    )

    w("## Summary\n")
    conds = conditions(cfg)
    if ctx.attack_idx is not None:
        by_method = {c.method: c for c in conds if c.method != "dp-pix"}
        orig = best_accuracy(lookup, by_method["original"])
        mosaic = best_accuracy(lookup, by_method["mosaic"])
        blurred = best_accuracy(lookup, by_method["blur"])
        dp = [(c.epsilon, best_accuracy(lookup, c)) for c in conds if c.method == "dp-pix"]
        guess = 100 * chance(ctx.n_classes)
        # Less than a tenth of the way from chance to perfect on the originals: the
        # attack has nothing to lose, so its numbers cannot show what is hidden.
        weak = orig - guess < 0.1 * (100 - guess)
        if weak:
            verdict = ""
        elif min(mosaic, blurred) >= 0.8 * orig:
            verdict = ": the mosaic and the blur hide little"
        elif max(mosaic, blurred) <= guess + 0.2 * (orig - guess):
            verdict = ": the mosaic and the blur hide most of it"
        elif mosaic >= 0.8 * orig:
            verdict = ": the mosaic hides little"
        elif mosaic <= guess + 0.2 * (orig - guess):
            verdict = ": the mosaic hides most of it"
        else:
            verdict = ""
        w(
            f"- **Re-identification.** The best attacker (chosen by cross-validation on its "
            f"training images) names the right class of a test image {orig:.1f} % of the time on "
            f"the originals, {mosaic:.1f} % on the {cfg.block}x{cfg.block} mosaic and "
            f"{blurred:.1f} % on the blur of σ={cfg.block / 2:g}{verdict}. "
            f"On DP-Pix (b={cfg.block}, m={cfg.m}) it manages "
            + ", ".join(f"{a:.1f} % at ε={e:g}" for e, a in dp)
            + f"; random guessing gets {guess:.1f} %."
        )
        if weak:
            w(
                f"- **Caution.** These attackers can hardly tell the classes apart even on the "
                f"originals ({orig:.1f} % against {guess:.1f} % by chance): on this data set "
                f"their numbers say little about what an obfuscation hides. A stronger "
                f"recogniser (e.g. features from a network trained on other images) would be "
                f"needed."
            )
    dp_mse = lookup.get(utility_key(cfg, "epsilon", "dp-pix", cfg.epsilon, "mse"))
    mos_mse = lookup.get(utility_key(cfg, "block", "mosaic", cfg.block, "mse"))
    wrapped = lookup.get(utility_key(cfg, "epsilon", "dp-pix", cfg.epsilon, "mse_uint8_wrapped"))
    if dp_mse and mos_mse:
        w(
            f"- **Utility.** At b={cfg.block}, m={cfg.m}, ε={cfg.epsilon:g} DP-Pix has an MSE of "
            f"{fmt(dp_mse['mean'])} against {fmt(mos_mse['mean'])} for the mosaic alone: the "
            f"price of the guarantee. " + trends(lookup, cfg)
        )
    if ctx.reconstruction is not None:
        for line in reconstruction_summary_lines(ctx.reconstruction, lookup, cfg):
            w(line)
    if wrapped and dp_mse:
        lo_w, hi_w = span_of(summary, "mse_uint8_wrapped")
        lo, hi = span_of(summary, "mse")
        w(
            f"- **The paper's MSE.** Computed on uint8 arrays, as in the paper's code, the same "
            f"MSE comes out as {fmt(wrapped['mean'])} (from {fmt(lo_w)} to {fmt(hi_w)} over "
            f"all DP-Pix settings here, while the true MSE goes from {fmt(lo)} to {fmt(hi)}): "
            f"the difference and its square wrap modulo 256, so the figure never exceeds 255 "
            f"and, once the error covers all grey levels evenly, settles near 105.5 (the mean of "
            f"x² mod 256) however large the noise: the plateau of the paper's curves. The tables "
            f"give it only in the column `mse_uint8_wrapped`; every other MSE here is float64."
        )
    w("")

    w("## Setup\n")
    w(
        f"- **Data**: {d.title}, {len(d.images)} images of {shape} pixels ({colour}), "
        f"{len(d.class_names)} classes, from `{d.root}`."
    )
    for note in d.notes:
        w(f"  {note}")
    w(
        '- **Methods** (full-size output, cells of b×b pixels, `edges="partial"`: a partial '
        "cell on the right or bottom edge is averaged over its own pixels):\n"
        "  - *DP-Pix*: `dp_pix.dp_pixelate_batch`, exact discrete Laplace noise of scale "
        "255·m·C/ε on each cell sum, ε-DP for any change of up to m pixels;\n"
        "  - *mosaic*: `dp_pix.pixelate`, the cell means, no noise (not private);\n"
        "  - *noisy mosaic*: `dp_pix.noisy_pixelate`, the mosaic plus Gaussian noise whose "
        "standard deviation σ equals DP-Pix's on an interior cell at the same b, m, ε "
        '(`Pixelizer.describe()["grey_std_interior"]`); not private;\n'
        "  - *blur*: a Gaussian blur of σ = b/2 (scipy's `gaussian_filter`, cut at 4σ, edges "
        "mirrored, rounded to 8 bits); not private. At σ = b/2 detail at the scale of a cell "
        "(spatial frequency 1/b) keeps e^(−π²/2) ≈ 0.7 % of its contrast, under one grey level "
        "once rounded, while the coarsest pattern a grid of cells can show (frequency 1/(2b)) "
        "keeps 29 %: the blur removes what the mosaic removes and keeps about what it keeps. "
        "(A blur matched only to the mosaic's averaging, σ = b/√12, keeps 19 % at 1/b.)"
    )
    w(
        f"- **Utility**: MSE (float64) and SSIM (scikit-image, data_range=255"
        f"{', channel_axis=-1' if d.channels > 1 else ''}) between every original and its "
        f"output, on {ctx.n_utility} images"
        f"{' (a random subsample)' if ctx.n_utility < len(d.images) else ''}, "
        f"{cfg.repetitions} independent noise draws per setting (the mosaic has none, so one). "
        f"Sweeps: b ∈ {{{', '.join(map(str, cfg.blocks))}}} (m={cfg.m}, ε={cfg.epsilon:g}); "
        f"m ∈ {{{', '.join(map(str, cfg.ms))}}} (b={cfg.block}, ε={cfg.epsilon:g}); "
        f"ε ∈ {{{', '.join(f'{e:g}' for e in cfg.epsilons)}}} (b={cfg.block}, m={cfg.m}). "
        f"Intervals: 95 % Student-t intervals over images of each image's mean over the noise "
        f"draws (`summary.csv`; `measurements.csv` has every repetition's mean over images)."
    )
    if ctx.attack_idx is not None:
        labels = d.labels[ctx.attack_idx]
        per = np.bincount(np.unique(labels, return_inverse=True)[1])
        n_test = [max(1, round(cfg.test_fraction * n)) for n in per]
        split = (
            f"{per[0] - n_test[0]} training and {n_test[0]} test images per class"
            if len(set(per.tolist())) == 1
            else f"{cfg.test_fraction:.0%} of each class's images for testing (at least 1)"
        )
        w(
            f"- **Attack**: {len(ctx.attack_idx)} images of {ctx.n_classes} classes; "
            f"{cfg.splits} random stratified splits, {split}. The attacker trains on the "
            f"obfuscated training images with their labels and predicts the labels of the "
            f"obfuscated test images (the paper's setting); every split draws fresh noise. "
            f"Obfuscations: the originals, the {cfg.block}x{cfg.block} mosaic, the blur of "
            f"σ={cfg.block / 2:g} and DP-Pix at "
            f"ε ∈ {{{', '.join(f'{e:g}' for e in cfg.attack_epsilons)}}} (b={cfg.block}, "
            f"m={cfg.m})."
        )
        for note in ctx.attack_notes:
            w(f"  {note}")
        w(
            "  Attackers (scikit-learn), each tuned by "
            f"{cfg.cv_folds}-fold stratified cross-validation on the training images only, then "
            "refitted on all of them:\n"
            "  - logistic regression (C ∈ {0.1, 1, 10, 100});\n"
            "  - linear SVM (C ∈ {0.01, 0.1, 1, 10});\n"
            "  - k-NN (k ∈ {1, 3, 5, 9}; classes ranked by votes, then by distance);\n"
            "  - nearest centroid (class mean with Euclidean distance, or class median with L1 "
            "distance, which suits Laplace noise);\n"
            "  - eigenfaces: PCA with whitening (80, 90 or 95 % of the variance) + RBF SVM "
            "(C ∈ {1, 10, 100});\n"
            "  - fisherfaces: PCA (80–99 % of the variance) + LDA with Ledoit-Wolf shrinkage;\n"
            "  - *best*: on each split, the attacker with the highest cross-validation accuracy "
            "— a choice the adversary can make without test labels (the maximum of the test "
            "accuracies would be biased upwards, most near chance).\n"
            "  A pixelized image is read one pixel per cell (the full-size image holds nothing "
            "else), the originals and the blur pixel by pixel; where there are more features "
            "than training images, the images are first expressed in a basis of the span of "
            "the training images (lossless for these attackers, see `dp_pix.attack.attack`); "
            "all features are scaled by one number so that the training images have a mean "
            "squared norm of 1. Top-1: the first guess is right; top-5: the right label is "
            "among the first five. Intervals: 95 % Student-t over the splits (the splits share "
            "images, so these are a guide rather than "
            "exact); `summary.csv` also has Wilson intervals on the pooled test predictions."
        )
    if ctx.reconstruction is not None:
        w(reconstruction_setup(ctx.reconstruction, cfg, ctx.reconstruction_notes))
    w("")

    if ctx.attack_idx is not None:
        w("## Privacy: re-identification attack\n")
        w(f"Top-1 accuracy (%), mean ± 95 % CI half-width over {cfg.splits} split(s):\n")
        w(attack_table(lookup, cfg, "top1", ctx.n_classes))
        w("")
        if ctx.n_classes > 5:
            w("Top-5 accuracy (%):\n")
            w(attack_table(lookup, cfg, "top5", ctx.n_classes))
            w("")
        if "attack.png" in names:
            w("![attack accuracy](attack.png)\n")
        if "examples-attack.png" in names:
            w("What the attacker sees:\n")
            w("![attack examples](examples-attack.png)\n")
    if ctx.region is not None:
        w(ctx.region.report)

    if ctx.reconstruction is not None:
        w(reconstruction_section(ctx.reconstruction, lookup, cfg, names))

    w("## Utility\n")
    w(
        "Mean ± 95 % CI half-width; MSE in grey levels² (float64), SSIM in [-1, 1] (1 = "
        "identical). The last column repeats DP-Pix's MSE as the paper computed it, on wrapped "
        "uint8 — wrong, shown only for comparison with its figures.\n"
    )
    w(
        "Reading DP-Pix against the noisy mosaic: both add noise of the same standard deviation "
        "σ to an interior cell, but (1) Laplace noise has more of its mass near zero than "
        "Gaussian noise of the same σ, so once outputs are clamped to 0..255 DP-Pix often has "
        "the smaller error when σ is large; (2) where b does not divide the image size, "
        "DP-Pix's partial edge cells are noisier than σ (the same noise on the cell sum is "
        "divided by fewer pixels, as the guarantee requires), while the noisy mosaic adds σ "
        "everywhere.\n"
    )
    for sweep in SWEEPS:
        fixed = fixed_settings(cfg, sweep)
        w(f"### Against {SWEEP_AXIS[sweep].split(' (')[0]} ({fixed})\n")
        w(utility_table(lookup, cfg, sweep))
        if sweep != "block":
            w(f"\nThe mosaic does not depend on {'m' if sweep == 'm' else 'ε'}: its "
              f"columns repeat b={cfg.block}.")  # fmt: skip
        w("")
    if "utility.png" in names:
        w("![utility curves](utility.png)\n")

    w("## Examples\n")
    w("The first image of the utility sample at every setting (noise drawn once per picture).\n")
    for sweep in SWEEPS:
        if f"examples-{sweep}.png" in names:
            w(f"![examples against {sweep}](examples-{sweep}.png)\n")

    w("## Files\n")
    w(
        "- `measurements.csv`: one row per data set, experiment, method, attacker, parameter "
        "(block, m, epsilon, sigma), repetition (for the attack: split) and metric. Utility "
        "rows hold the mean over the `n` images of one repetition; attack rows one split's "
        "accuracy on `n` test images (`top1`, `top5`, and `cv_top1`, the cross-validation "
        "accuracy that chose the parameters). Random guessing has its own rows. "
        "Reconstruction rows (experiment `reconstruction`, `attacker` = the map, `none` for the "
        "released image as it is) hold one split's mean over its `n` released images of "
        "`psnr`, `ssim` and `mse`, the map's cross-validation MSE `cv_mse`, and the "
        "re-identification `reid_top1`/`reid_top5` of the gallery classifier chosen by "
        "cross-validation (named in `params` with the map's hyperparameters); the mean face "
        "and random guessing have their own rows.\n"
        "- `summary.csv`: the means and intervals of the tables.\n"
        "- `run.json`: configuration, versions, timings.\n"
        f"- Plots: {', '.join(f'`{p.name}`' for p in figures)}."
    )
    w("")
    w("## How to rerun\n")
    w("```bash" if ctx.command.startswith("dp-pix") else "```python")
    w(ctx.command)
    w("```\n")
    w(
        "The same seed gives the same noise, splits and folds, hence the same numbers (with "
        "the same versions of dp-pix and its dependencies; the worker count does not matter). "
        "Add `--overwrite` to write into a folder that is not empty. "
        f"Runtime here: {clock(ctx.seconds)} in all — attack {clock(ctx.timings['attack'])}, "
        + (
            f"reconstruction attack {clock(ctx.timings['reconstruction'])}, "
            if ctx.reconstruction is not None
            else ""
        )
        + f"utility {clock(ctx.timings['utility'])}, plots {clock(ctx.timings['plots'])} "
        f"({ctx.jobs} worker(s), {platform.machine()}, {os.cpu_count()} CPUs). Needs the "
        f"evaluation extra: `{EVAL_EXTRA_HINT}`."
    )
    w("")
    w("## Credits\n")
    w(
        'L. Fan, "Image Pixelization with Differential Privacy", DBSec 2018, LNCS pp. 148–162, '
        "doi:10.1007/978-3-319-95729-6_10. "
        + _DATA_CREDITS.get(d.key, "Data: see its source for the terms of use.")
    )
    return "\n".join(out) + "\n"


_DATA_CREDITS = {
    "att": "Data: the AT&T Database of Faces (formerly the ORL Database of Faces); credit AT&T "
    "Laboratories Cambridge; photographs of real people, for research use only (see the "
    "README.txt beside the data).",
    "omniglot": "Data: Omniglot, B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum, Science 2015 "
    "(see the README.txt beside the data for its terms).",
    "miniimagenet": "Data: miniImageNet (Vinyals et al. 2016; split of Ravi & Larochelle 2017), "
    "a subset of ImageNet under the ImageNet terms of access (see the README.txt beside the "
    "data).",
}


def run_json(ctx: RunContext) -> str:
    """The text of ``run.json``: configuration, versions, timings."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {}
    for dist in ("dp-pix", "numpy", "scikit-learn", "scikit-image", "scipy", "matplotlib"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    info = {
        "dataset": ctx.data.key,
        "title": ctx.data.title,
        "root": ctx.data.root,
        "images": len(ctx.data.images),
        "classes": len(ctx.data.class_names),
        "seed": ctx.seed,
        "jobs": ctx.jobs,
        "command": ctx.command,
        "config": dataclasses.asdict(ctx.config),
        "backend": dp_pix.BACKEND,
        "versions": versions,
        "python": sys.version.split()[0],
        "seconds": round(ctx.seconds, 2),
        "timings": {k: round(v, 2) for k, v in ctx.timings.items()},
        "notes": ctx.data.notes + ctx.attack_notes + ctx.reconstruction_notes,
    }
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"
