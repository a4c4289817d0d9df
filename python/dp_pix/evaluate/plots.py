"""The figures of an evaluation (matplotlib, imported only here and only when
plotting): ``utility.png``, ``attack.png`` and the ``examples-*.png`` panels."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dp_pix.attack import ATTACKER_LABELS, chance
from dp_pix.evaluate.config import (
    METHOD_LABELS,
    METHODS,
    SWEEP_AXIS,
    SWEEP_SYMBOLS,
    SWEEPS,
    Config,
    EvalData,
    fixed_settings,
)
from dp_pix.evaluate.measurements import (
    SummaryLookup,
    SummaryRow,
    attack_key,
    reconstruction_key,
    summary_lookup,
    utility_key,
)
from dp_pix.evaluate.reconstruction import Reconstruction, main_block
from dp_pix.evaluate.tasks import conditions, derive_seed, matched_sigma, obfuscate
from dp_pix.metrics import import_extra

__all__ = ["plot_all", "plot_reconstruction"]

_COLOURS = {
    "dp-pix": "#1f63b4",
    "noisy-mosaic": "#e08214",
    "mosaic": "#4d4d4d",
    "blur": "#2e9e5b",
    "wrapped": "#c51b1b",
}
_MARKERS = {"dp-pix": "o", "noisy-mosaic": "s", "mosaic": "^", "blur": "v"}
_ATTACKER_COLOURS = ("#8da0cb", "#66c2a5", "#a6d854", "#ffd92f", "#e5c494", "#fc8d62")


def plot_all(
    out: Path,
    evdata: EvalData,
    utility_idx: np.ndarray,
    attack_idx: np.ndarray | None,
    summary: list[SummaryRow],
    config: Config,
    seed: int,
    n_classes: int,
) -> list[Path]:
    """Write every figure into the folder ``out``; their paths, in report order."""
    import_extra("matplotlib", "the plots")
    title = evdata.title
    files = [_plot_utility(out / "utility.png", summary, config, title)]
    if attack_idx is not None:
        files.append(_plot_attack(out / "attack.png", summary, config, title, n_classes))
    example = evdata.images[utility_idx[0]]
    for sweep in SWEEPS:
        files.append(
            _plot_examples_sweep(out / f"examples-{sweep}.png", example, sweep, config, seed, title)
        )
    if attack_idx is not None:
        labels = evdata.labels[attack_idx]
        firsts = [attack_idx[np.flatnonzero(labels == c)[0]] for c in np.unique(labels)]
        shown = evdata.images[np.asarray(firsts[: config.examples])]
        files.append(_plot_examples_attack(out / "examples-attack.png", shown, config, seed, title))
    return files


def _sweep_points(
    lookup: SummaryLookup, config: Config, sweep: str, method: str, metric: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    xs: list[float] = []
    means: list[float] = []
    los: list[float] = []
    his: list[float] = []
    for v in config.sweep_values(sweep):
        r = lookup.get(utility_key(config, sweep, method, v, metric))
        if r is None:
            continue
        xs.append(v)
        means.append(r["mean"])
        los.append(r["ci_low"])
        his.append(r["ci_high"])
    return xs, means, los, his


def _plot_utility(path: Path, summary: list[SummaryRow], config: Config, title: str) -> Path:
    from matplotlib.figure import Figure

    lookup = summary_lookup(summary)
    fig = Figure(figsize=(14, 8.2), layout="constrained")
    axes = fig.subplots(2, 3)
    handles: dict[str, Any] = {}
    for col, sweep in enumerate(SWEEPS):
        for row, metric in enumerate(("mse", "ssim")):
            ax = axes[row, col]
            for method in METHODS:
                if method in ("mosaic", "blur") and sweep != "block":
                    xs, mean, _, _ = _sweep_points(lookup, config, "block", method, metric)
                    if config.block in xs:
                        y = mean[xs.index(config.block)]
                        h = ax.axhline(y, color=_COLOURS[method], ls="--", lw=1.3)
                        handles.setdefault(method, h)
                    continue
                xs, mean, lo, hi = _sweep_points(lookup, config, sweep, method, metric)
                if not xs:
                    continue
                (h,) = ax.plot(
                    xs, mean, marker=_MARKERS[method], ms=4.5, lw=1.6, color=_COLOURS[method]
                )
                ax.fill_between(xs, lo, hi, color=_COLOURS[method], alpha=0.2, lw=0)
                handles.setdefault(method, h)
            if metric == "mse":
                xs, mean, _, _ = _sweep_points(lookup, config, sweep, "dp-pix", "mse_uint8_wrapped")
                if xs:
                    (h,) = ax.plot(xs, mean, ls=":", lw=1.8, color=_COLOURS["wrapped"])
                    handles.setdefault("wrapped", h)
                ax.set_yscale("log")
                ax.set_ylabel("MSE (grey levels², log scale)")
            else:
                ax.set_ylabel("SSIM")
                ax.set_ylim(top=1.0)
            if sweep == "m":
                ax.set_xscale("log", base=2)
                ax.set_xticks(list(config.ms), [str(v) for v in config.ms])
            elif sweep == "block":
                ax.set_xticks(list(config.blocks))
            ax.set_xlabel(SWEEP_AXIS[sweep])
            name = "MSE" if metric == "mse" else "SSIM"
            axis = SWEEP_AXIS[sweep].split(" (")[0]
            ax.set_title(f"{name} vs {axis}  ({fixed_settings(config, sweep)})", fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
    labels = {
        "dp-pix": "DP-Pix",
        "noisy-mosaic": "noisy mosaic, σ matched to DP-Pix (not private)",
        "mosaic": f"mosaic (not private; b={config.block} in the m and ε plots)",
        "blur": f"Gaussian blur σ = b/2 (not private; b={config.block} in the m and ε plots)",
        "wrapped": "DP-Pix MSE on wrapped uint8 (the paper's error, for comparison only)",
    }
    keys = [k for k in labels if k in handles]
    fig.legend(
        [handles[k] for k in keys], [labels[k] for k in keys], loc="outside lower center", ncols=2
    )
    fig.suptitle(f"{title}: utility (mean over images and noise draws, 95 % CI bands)")
    fig.savefig(path, dpi=100)
    return path


def _plot_attack(
    path: Path, summary: list[SummaryRow], config: Config, title: str, n_classes: int
) -> Path:
    from matplotlib.figure import Figure

    lookup = summary_lookup(summary)
    conds = conditions(config)
    attackers = [*config.attackers, "best"]
    metrics_shown = ["top1"] + (["top5"] if n_classes > 5 else [])
    fig = Figure(figsize=(13, 4.3 * len(metrics_shown)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(metrics_shown), 1))
    width = 0.8 / len(attackers)
    for ax, metric in zip(axes, metrics_shown):
        for j, attacker in enumerate(attackers):
            means: list[float] = []
            errs: list[list[float]] = [[], []]
            for c in conds:
                r = lookup.get(attack_key(c, attacker, metric))
                mean = r["mean"] if r else math.nan
                lo = r["ci_low"] if r and not math.isnan(r["ci_low"]) else mean
                hi = r["ci_high"] if r and not math.isnan(r["ci_high"]) else mean
                # An accuracy lies in [0, 1]: clip the interval there.
                lo, hi = max(lo, 0.0), min(hi, 1.0)
                means.append(100 * mean)
                errs[0].append(100 * max(mean - lo, 0))
                errs[1].append(100 * max(hi - mean, 0))
            x = np.arange(len(conds)) + (j - (len(attackers) - 1) / 2) * width
            best = attacker == "best"
            ax.bar(
                x, means, width * 0.92, yerr=errs, capsize=2,
                color="#222222" if best else _ATTACKER_COLOURS[j % len(_ATTACKER_COLOURS)],
                edgecolor="black", lw=0.4, label=ATTACKER_LABELS[attacker],
                error_kw={"lw": 0.8, "ecolor": "#555555"},
            )  # fmt: skip
        k = 1 if metric == "top1" else 5
        ax.axhline(100 * chance(n_classes, k), color="#c51b1b", ls="--", lw=1.2,
                   label=f"random guessing ({100 * chance(n_classes, k):.3g} %)")  # fmt: skip
        ax.set_xticks(np.arange(len(conds)), [c.label for c in conds])
        ax.set_ylim(0, 105)
        ax.set_ylabel(f"top-{k} accuracy (%)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_title(f"top-{k}: is the right identity the attacker's first guess"
                     f"{'' if k == 1 else f' or among its first {k}'}?", fontsize=10)  # fmt: skip
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=9)
    fig.suptitle(
        f"{title}: re-identification attack, {n_classes} classes, mean over {config.splits} "
        f"random split(s) with 95 % t-intervals (b={config.block}, m={config.m})"
    )
    fig.savefig(path, dpi=100)
    return path


_RECONSTRUCTOR_STYLES = {"none": ":", "ridge": "--", "kernel-ridge": "-"}
_BLOCK_COLOURS = ("#6a3d9a", "#1f63b4", "#17becf", "#8c564b", "#bcbd22")


def plot_reconstruction(
    out: Path, rec: Reconstruction | None, summary: list[SummaryRow], config: Config, title: str
) -> list[Path]:
    """``reconstruction.png`` (PSNR, SSIM and re-identification of the
    reconstructions against ε) and ``reconstruction-examples.png``; nothing
    when the attack did not run."""
    if rec is None:
        return []
    import_extra("matplotlib", "the plots")
    return [
        _plot_reconstruction(out / "reconstruction.png", rec, summary, config, title),
        _plot_reconstruction_examples(out / "reconstruction-examples.png", rec, config, title),
    ]


def _plot_reconstruction(
    path: Path, rec: Reconstruction, summary: list[SummaryRow], config: Config, title: str
) -> Path:
    from matplotlib.figure import Figure

    lookup = summary_lookup(summary)
    conds = list(rec.results)
    main = rec.reconstructors[-1]  # the non-linear map when configured
    shown = main_block(config)
    fig = Figure(figsize=(15, 5.4), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = (("psnr", "PSNR (dB)", 1.0), ("ssim", "SSIM", 1.0), ("reid_top1", "top-1 (%)", 100.0))
    handles: dict[str, Any] = {}
    for ax, (metric, ylabel, scale) in zip(axes, panels):
        for i, b in enumerate(config.reconstruct_blocks):
            first = b == shown
            for method in ("dp-pix", "noisy-mosaic"):
                if method == "noisy-mosaic" and not first:
                    continue
                names = rec.reconstructors if first else (main,)
                for name in names:
                    if method == "noisy-mosaic" and name == "none":
                        continue
                    xs, ys, lo, hi = [], [], [], []
                    for c in conds:
                        if c.method != method or c.block != b or c.epsilon is None:
                            continue
                        r = lookup.get(reconstruction_key(c, name, metric))
                        if r is None:
                            continue
                        xs.append(c.epsilon)
                        ys.append(scale * r["mean"])
                        lo.append(scale * r["ci_low"])
                        hi.append(scale * r["ci_high"])
                    if not xs:
                        continue
                    colour = (
                        _COLOURS[method]
                        if method == "noisy-mosaic" or first
                        else _BLOCK_COLOURS[i % len(_BLOCK_COLOURS)]
                    )
                    (h,) = ax.plot(xs, ys, ls=_RECONSTRUCTOR_STYLES.get(name, "-"), lw=1.6,
                                   marker=_MARKERS[method], ms=4, color=colour)  # fmt: skip
                    if name == main:
                        ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, lw=0)
                    handles.setdefault(f"{method}|{b}|{name}", h)
        for method in ("mosaic", "blur", "original"):
            ref = next((c for c in conds if c.method == method and
                        (method == "original" or c.block == shown)), None)  # fmt: skip
            r = lookup.get(reconstruction_key(ref, main, metric)) if ref else None
            if r is None or not math.isfinite(r["mean"]):
                continue
            colour = _COLOURS.get(method, "#9a9a9a")
            h = ax.axhline(scale * r["mean"], color=colour, ls="-." if method != "original" else
                           "-", lw=1.3)  # fmt: skip
            handles.setdefault(method, h)
        if metric == "reid_top1":
            p = lookup.get(("reconstruction", "random", "", "", "", "", "reid_top1"))
            if p is not None:
                handles["random"] = ax.axhline(100 * p["mean"], color="#c51b1b", ls="--", lw=1.2)
            ax.set_ylim(0, 105)
        else:
            r = lookup.get(reconstruction_key(None, "", metric))
            if r is not None:
                handles["mean-face"] = ax.axhline(r["mean"], color="black", ls=":", lw=1.3)
        ax.set_xscale("log")
        eps = list(config.reconstruct_epsilons)
        ax.set_xticks(eps, [f"{e:g}" for e in eps])
        ax.set_xlabel(f"ε (m={config.m})")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        what = {"psnr": "PSNR", "ssim": "SSIM", "reid_top1": "re-identification"}[metric]
        ax.set_title(f"{what} of the reconstructions", fontsize=10)
    labels = {}
    for key in handles:
        if "|" in key:
            method, block, name = key.split("|")
            what = "as released" if name == "none" else name
            labels[key] = f"{METHOD_LABELS[method].split(' (')[0]} b={block}: {what}"
    labels.update({
        "mosaic": f"mosaic {shown}x{shown}, {main}",
        "blur": f"blur σ={shown / 2:g}, {main}",
        "original": f"original (no obfuscation), {main}",
        "mean-face": "mean face of the public people",
        "random": f"random guessing ({100 / rec.n_targets:.3g} %)",
    })  # fmt: skip
    keys = [k for k in handles if k in labels]
    fig.legend([handles[k] for k in keys], [labels[k] for k in keys], loc="outside lower center",
               ncols=4, fontsize=8)  # fmt: skip
    fig.suptitle(
        f"{title}: reconstruction attack — maps learned on {rec.n_public} other people, applied "
        f"to {rec.n_targets} targets; mean over {config.reconstruct_splits} split(s), "
        f"95 % t-bands ({main})"
    )
    fig.savefig(path, dpi=100)
    return path


def _plot_reconstruction_examples(
    path: Path, rec: Reconstruction, config: Config, title: str
) -> Path:
    from matplotlib.figure import Figure

    shown = main_block(config)
    conds = [c for c in rec.results if c.method != "original" and c.block == shown]
    first = {c: dict(rec.results[c])[0] for c in conds if 0 in dict(rec.results[c])}
    originals = rec.example_originals
    names = rec.reconstructors
    h, w = originals.shape[1:3]
    n_rows, n_cols = len(originals) * len(names), len(conds) + 1
    tile = 1.0
    fig = Figure(figsize=(tile * n_cols * w / h + 1.2, tile * n_rows + 1.0), layout="constrained")
    axes = np.asarray(fig.subplots(n_rows, n_cols, squeeze=False))
    for e, original in enumerate(originals):
        for k, name in enumerate(names):
            row = e * len(names) + k
            if k == 0:
                _show(axes[row, 0], original)
            else:
                axes[row, 0].axis("off")
            what = "released" if name == "none" else f"{name}\nreconstruction"
            axes[row, 0].text(-0.08, 0.5, what, transform=axes[row, 0].transAxes, ha="right",
                              va="center", fontsize=8)  # fmt: skip
            for j, c in enumerate(conds):
                ax = axes[row, j + 1]
                images = first[c].examples.get(name) if c in first else None
                if images is None or e >= len(images):
                    ax.axis("off")
                    continue
                _show(ax, images[e])
    axes[0, 0].set_title("original", fontsize=8)
    for j, c in enumerate(conds):
        label = c.label.replace(f" {shown}x{shown}", "").replace(f" b={shown}", "")
        axes[0, j + 1].set_title(label.replace(" σ=", "\nσ=").replace(" (ε", "\n(ε"), fontsize=7)
    fig.suptitle(f"{title}: target images (never seen by the maps), as released and as "
                 f"reconstructed (split 0)", fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=100)
    return path


def _show(ax: Any, image: np.ndarray) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _plot_examples_sweep(
    path: Path, image: np.ndarray, sweep: str, config: Config, seed: int, title: str
) -> Path:
    from matplotlib.figure import Figure

    values = config.sweep_values(sweep)
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = (
        ("mosaic", "blur", "noisy-mosaic", "dp-pix")
        if sweep == "block"
        else ("noisy-mosaic", "dp-pix")
    )
    h, w = image.shape[:2]
    tile = 1.25
    fig = Figure(
        figsize=(tile * (len(values) + 1) * w / h + 0.6, tile * len(rows) + 0.9),
        layout="constrained",
    )
    axes = np.asarray(fig.subplots(len(rows), len(values) + 1, squeeze=False))
    for i, method in enumerate(rows):
        ax0 = axes[i, 0]
        if i == 0:
            _show(ax0, image)
            ax0.set_title("original", fontsize=9)
        elif i == 1 and sweep != "block":  # the noiseless reference for this row's noise
            _show(ax0, obfuscate(image[None], "mosaic", block=config.block)[0])
            ax0.set_title(f"mosaic b={config.block}", fontsize=9)
        else:
            ax0.axis("off")
        ax0.text(-0.08, 0.5, METHOD_LABELS[method].replace(" (", "\n("), transform=ax0.transAxes,
                 ha="right", va="center", fontsize=9)  # fmt: skip
        for j, v in enumerate(values):
            b, m, e = config.setting(sweep, v)
            sigma = matched_sigma(b, m, e, channels) if method == "noisy-mosaic" else None
            img = obfuscate(image[None], method, block=b, m=m, epsilon=e, sigma=sigma,
                            seed=derive_seed(seed, 6, SWEEPS.index(sweep), j))[0]  # fmt: skip
            ax = axes[i, j + 1]
            _show(ax, img)
            if i == 0:
                ax.set_title(f"{SWEEP_SYMBOLS[sweep]}={v:g}", fontsize=9)
    fig.suptitle(f"{title}: one image at every {SWEEP_AXIS[sweep].split(' (')[0]} "
                 f"({fixed_settings(config, sweep)})", fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)
    return path


def _plot_examples_attack(
    path: Path, images: np.ndarray, config: Config, seed: int, title: str
) -> Path:
    from matplotlib.figure import Figure

    conds = conditions(config)
    h, w = images.shape[1:3]
    tile = 1.4
    fig = Figure(
        figsize=(tile * len(conds) * w / h + 0.4, tile * len(images) + 0.8), layout="constrained"
    )
    axes = np.asarray(fig.subplots(len(images), len(conds), squeeze=False))
    for j, c in enumerate(conds):
        out = obfuscate(images, c.method, block=c.block, m=c.m, epsilon=c.epsilon,
                        seed=derive_seed(seed, 7, j))  # fmt: skip
        for i in range(len(images)):
            _show(axes[i, j], out[i])
        axes[0, j].set_title(c.label, fontsize=9)
    fig.suptitle(f"{title}: what the attacker sees (one image of each of {len(images)} classes)",
                 fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)
    return path
