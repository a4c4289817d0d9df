"""The experiments of Fan (2018) in one call: utility curves and the
re-identification attack, on the paper's data or on yours.

``run(dataset, data, out)`` (or ``dp-pix evaluate``) writes to the folder
``out``:

- ``report.md``: setup, numbers as tables, plots, how to rerun;
- ``measurements.csv``: every measurement, one row per data set, experiment,
  method, parameter, repetition (or split) and metric;
- ``summary.csv``: means with 95 % confidence intervals;
- ``utility.png`` (MSE and SSIM against b, m and ε), ``attack.png`` (attack
  accuracy), ``examples-*.png`` (one image at every setting);
- ``run.json``: the configuration, the versions and the runtime.

Utility: for every image, the MSE and SSIM between the original and its
full-size output, against the block size b (m = 16, ε = 0.5), the
neighbourhood m (b = 16, ε = 0.5) and ε (b = 16, m = 16), for DP-Pix, the
plain mosaic and the "noisy mosaic" (the mosaic plus Gaussian noise whose
standard deviation equals DP-Pix's on an interior cell at the same b, m, ε).
MSE is computed in float64; the paper's uint8-wrapped MSE is reported
beside it, named as such, only to show where its curves' plateau near 105
came from.

A Gaussian blur (σ = b/2, :func:`dp_pix.evaluate.tasks.blur_sigma` says
why) stands beside the mosaic throughout.

Privacy: the attack of :mod:`dp_pix.attack` on random splits (8 training and
2 test images per AT&T subject), on the originals, the 16×16 mosaic, the
blur and DP-Pix at ε ∈ {0.1, 0.3, 0.5, 1} (b = 16, m = 16), against random
guessing. And the reconstruction attack (:mod:`dp_pix.reconstruct`,
:mod:`.reconstruction`): maps released → original learned on other people,
applied to the targets, scored by PSNR, SSIM and re-identification against a
gallery of the targets' other photos, for the blur, the mosaic, the noisy
mosaic and DP-Pix over an ε sweep (``reconstruction.png``,
``reconstruction-examples.png``).

Everything random derives from one ``seed`` (noise, splits, subsamples,
cross-validation folds), so a run is reproducible; the seed is recorded in
the report. Work runs in ``jobs`` processes. Needs the ``eval`` extra:
``pip install 'dp-pix[eval]'``.

The package, by job: :mod:`.config` (what to measure, the data),
:mod:`.tasks` (obfuscation, the utility and attack tasks, the worker pool),
:mod:`.reconstruction` (the reconstruction attack's splits and tasks),
:mod:`.measurements` (the rows of the CSVs), :mod:`.plots`, :mod:`.tables`
and :mod:`.report` (report.md, the CSVs, run.json).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dp_pix.evaluate.config import (
    CONFIDENCE,
    DATASET_TITLES,
    DATASETS,
    FULL,
    METHOD_LABELS,
    METHODS,
    QUICK,
    SWEEPS,
    TEST_PREDICTIONS,
    UTILITY_METRICS,
    Config,
    EvalData,
    check_config,
    load_data,
)
from dp_pix.evaluate.measurements import (
    CSV_COLUMNS,
    SUMMARY_COLUMNS,
    MeasurementRow,
    SummaryRow,
    attack_rows,
    attack_summary,
    reconstruction_rows,
    reconstruction_summary,
    utility_rows,
    utility_summary,
)
from dp_pix.evaluate.plots import plot_all, plot_reconstruction
from dp_pix.evaluate.reconstruction import run_reconstruction
from dp_pix.evaluate.regions import RegionAttack, region_attack, region_scenes, region_views
from dp_pix.evaluate.report import (
    RunContext,
    cli_command,
    python_command,
    report,
    run_json,
    write_csv,
    write_text,
)
from dp_pix.evaluate.tasks import (
    attack_subset,
    auto_splits,
    derive_seed,
    matched_sigma,
    obfuscate,
    run_attack,
    run_utility,
    subsample,
)
from dp_pix.metrics import import_extra

__all__ = [
    "CONFIDENCE",
    "CSV_COLUMNS",
    "DATASETS",
    "DATASET_TITLES",
    "FULL",
    "METHODS",
    "METHOD_LABELS",
    "QUICK",
    "SUMMARY_COLUMNS",
    "SWEEPS",
    "TEST_PREDICTIONS",
    "UTILITY_METRICS",
    "Config",
    "EvalData",
    "MeasurementRow",
    "RegionAttack",
    "Result",
    "SummaryRow",
    "load_data",
    "matched_sigma",
    "obfuscate",
    "region_attack",
    "region_scenes",
    "region_views",
    "run",
]


@dataclass
class Result:
    """What :func:`run` wrote and measured."""

    out: Path
    files: list[Path]
    rows: list[MeasurementRow]
    summary: list[SummaryRow]
    seconds: float
    command: str


def run(
    dataset: str,
    data: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    quick: bool = False,
    seed: int | None = None,
    jobs: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    splits: int | None = None,
    attackers: Sequence[str] | None = None,
    config: Config | None = None,
    command: str | None = None,
    reconstruction_splits: int | None = None,
) -> Result:
    """Run the evaluation of ``dataset`` (see :data:`DATASETS`) stored at
    ``data`` and write the report, CSVs and plots into the folder ``out``.

    ``quick`` uses :data:`QUICK` (a few points, four splits: a few minutes
    on AT&T with two cores) instead of :data:`FULL`; ``config`` overrides
    both. ``splits`` (random train/test splits of the attack) and
    ``attackers`` (a subset of :data:`dp_pix.attack.ATTACKERS`) override
    the configuration's, and so does ``reconstruction_splits`` (splits of
    the reconstruction attack; 0 skips it). ``seed``: the root of every random choice (default:
    a fresh random one, recorded in the report). ``jobs``: worker processes
    (default: the CPUs available). ``out`` must be empty or absent unless
    ``overwrite``. ``progress``: progress bars on stderr (default: when
    stderr is a terminal). ``command`` is the command line to print as "how
    to rerun" (default: the ``dp-pix evaluate`` command that repeats this run).
    """
    started = time.monotonic()
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    if dataset == "folder" and data is None:
        raise ValueError("dataset 'folder' needs data: the folder with one subfolder per class")
    if out is None:
        raise ValueError("out is required: the folder to write the report into")
    folder = Path(out)
    _check_out(folder, overwrite)
    custom = config is not None
    if config is None:
        config = QUICK if quick else FULL
    if splits is not None:
        if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
            raise ValueError(f"splits must be a whole number >= 1, got {splits!r}")
        config = dataclasses.replace(config, splits=int(splits))
    if reconstruction_splits is not None:
        if (
            isinstance(reconstruction_splits, bool)
            or not isinstance(reconstruction_splits, (int, np.integer))
            or reconstruction_splits < 0
        ):
            raise ValueError(
                f"reconstruction_splits must be a whole number >= 0, got {reconstruction_splits!r}"
            )
        config = dataclasses.replace(config, reconstruct_splits=int(reconstruction_splits))
    if attackers is not None:
        if isinstance(attackers, str):
            attackers = [attackers]
        config = dataclasses.replace(config, attackers=tuple(attackers))
    check_config(config)
    if seed is None:
        seed = secrets.randbits(32)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    seed = int(seed)
    jobs = _check_jobs(jobs)
    show = None if progress is None else bool(progress)
    for module in ("sklearn", "skimage", "matplotlib", "scipy", "joblib", "threadpoolctl"):
        import_extra(module, "dp-pix evaluate")

    evdata = load_data(dataset, data, config=config, seed=derive_seed(seed, 8))
    if command is None:
        where = evdata.root if data is not None else None
        if custom:
            command = python_command(dataset, where, folder, seed, jobs)
        else:
            command = cli_command(
                dataset, where, folder, quick, seed, jobs, splits=splits, attackers=attackers,
                reconstruction_splits=reconstruction_splits,
            )  # fmt: skip

    utility_idx = subsample(len(evdata.images), config.max_images, derive_seed(seed, 0))
    attack_idx, attack_notes = attack_subset(evdata, config, derive_seed(seed, 1))
    if config.splits is None:
        config = dataclasses.replace(config, splits=auto_splits(evdata, attack_idx, config))
    timings: dict[str, float] = {}

    t0 = time.monotonic()
    attack_results = run_attack(evdata, attack_idx, config, seed, jobs, show)
    timings["attack"] = time.monotonic() - t0
    region = None
    if attack_idx is not None and config.region_attack:
        t0 = time.monotonic()
        region = region_attack(evdata, attack_idx, config, seed, jobs, show)
        timings["regions"] = time.monotonic() - t0
    t0 = time.monotonic()
    reconstruction, reconstruction_notes = run_reconstruction(
        evdata, attack_idx, config, seed, jobs, show
    )
    timings["reconstruction"] = time.monotonic() - t0
    t0 = time.monotonic()
    utility = run_utility(evdata.images[utility_idx], evdata.channels, config, seed, jobs, show)
    timings["utility"] = time.monotonic() - t0

    rows = utility_rows(evdata.key, utility, len(utility_idx))
    n_classes = len(np.unique(evdata.labels[attack_idx])) if attack_idx is not None else 0
    rows += attack_rows(evdata.key, attack_results, n_classes)
    rows += reconstruction_rows(evdata.key, reconstruction)
    summary = utility_summary(evdata.key, utility, len(utility_idx))
    summary += attack_summary(evdata.key, attack_results, n_classes)
    if region is not None:
        rows += region.rows
        summary += region.summary
    summary += reconstruction_summary(evdata.key, reconstruction)

    t0 = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        write_csv(folder / "measurements.csv", CSV_COLUMNS, rows),
        write_csv(folder / "summary.csv", SUMMARY_COLUMNS, summary),
    ]
    figures = plot_all(folder, evdata, utility_idx, attack_idx, summary, config, seed, n_classes)
    figures += plot_reconstruction(folder, reconstruction, summary, config, evdata.title)
    files += figures
    timings["plots"] = time.monotonic() - t0
    seconds = time.monotonic() - started
    context = RunContext(
        data=evdata,
        config=config,
        seed=seed,
        jobs=jobs,
        command=command,
        seconds=seconds,
        timings=timings,
        n_utility=len(utility_idx),
        attack_idx=attack_idx,
        attack_notes=attack_notes,
        n_classes=n_classes,
        region=region,
        reconstruction=reconstruction,
        reconstruction_notes=reconstruction_notes,
    )
    files.append(write_text(folder / "report.md", report(context, summary, figures)))
    files.append(write_text(folder / "run.json", run_json(context)))
    return Result(
        out=folder, files=files, rows=rows, summary=summary, seconds=seconds, command=command
    )


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory; --out must name a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out} is not empty; choose a new folder or pass --overwrite "
            "(overwrite=True) to write into it"
        )


def _check_jobs(jobs: int | None) -> int:
    if jobs is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    return int(jobs)
