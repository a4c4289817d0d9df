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

Privacy: the attack of :mod:`dp_pix.attack` on random splits (8 training and
2 test images per AT&T subject), on the originals, the 16×16 mosaic and
DP-Pix at ε ∈ {0.1, 0.3, 0.5, 1} (b = 16, m = 16), against random guessing.
Region mode (:func:`region_attack`): the same attack on the images pasted into
larger scenes, released there with ``regions=`` at those settings and at
``m="region"`` (or mosaicked), and cut out again.

Everything random derives from one ``seed`` (noise, splits, subsamples,
cross-validation folds), so a run is reproducible; the seed is recorded in
the report. Work runs in ``jobs`` processes. Needs the ``eval`` extra:
``pip install 'dp-pix[eval]'``.
"""

from __future__ import annotations

import csv
import dataclasses
import io as _stdio
import json
import math
import os
import platform
import secrets
import shlex
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import dp_pix
from dp_pix import metrics
from dp_pix.attack import ATTACKER_LABELS, ATTACKERS, AttackResult, chance
from dp_pix.metrics import EVAL_EXTRA_HINT, import_extra

__all__ = [
    "DATASETS",
    "FULL",
    "QUICK",
    "Config",
    "EvalData",
    "Result",
    "load_data",
    "matched_sigma",
    "obfuscate",
    "run",
]

DATASETS = ("att", "omniglot", "miniimagenet", "folder")
DATASET_TITLES = {
    "att": "AT&T faces",
    "omniglot": "Omniglot",
    "miniimagenet": "miniImageNet",
    "folder": "image folder",
}
SWEEPS = ("block", "m", "epsilon")
METHODS = ("dp-pix", "noisy-mosaic", "mosaic")
METHOD_LABELS = {
    "original": "original",
    "mosaic": "mosaic (not private)",
    "noisy-mosaic": "noisy mosaic (not private)",
    "dp-pix": "DP-Pix",
    "random": "random guessing",
}
UTILITY_METRICS = ("mse", "ssim", "mse_uint8_wrapped")
CSV_COLUMNS = (
    "dataset", "experiment", "method", "attacker", "block", "m", "epsilon", "sigma",
    "repetition", "metric", "value", "n", "params",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "dataset", "experiment", "method", "attacker", "block", "m", "epsilon", "sigma", "metric",
    "mean", "ci_low", "ci_high", "interval", "repetitions", "n", "wilson_low", "wilson_high",
)  # fmt: skip
CONFIDENCE = 0.95
TEST_PREDICTIONS = 1600


@dataclass(frozen=True)
class Config:
    """What to measure. :data:`FULL` is the paper's grid, :data:`QUICK` a small one."""

    blocks: tuple[int, ...] = tuple(range(2, 21, 2))
    ms: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256)
    epsilons: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 1.0, 2.0)
    block: int = 16
    """b where it is held fixed (the m and ε sweeps, the attack)."""
    m: int = 16
    """m where it is held fixed (the b and ε sweeps, the attack)."""
    epsilon: float = 0.5
    """ε where it is held fixed (the b and m sweeps)."""
    repetitions: int = 5
    """Independent noise draws per utility setting (the mosaic, being noiseless, gets one)."""
    max_images: int = 500
    """Images in the utility sweeps (a random subsample of larger sets)."""
    attack_epsilons: tuple[float, ...] = (0.1, 0.3, 0.5, 1.0)
    splits: int | None = None
    """Random train/test splits of the attack; None: enough for about
    :data:`TEST_PREDICTIONS` test predictions in all, at least 5, at most 20
    (AT&T: 20 splits of 80 test images)."""
    test_fraction: float = 0.2
    """Test images per class in the attack (AT&T: 2 of 10)."""
    cv_folds: int = 4
    attackers: tuple[str, ...] = ATTACKERS
    max_attack_images: int = 2000
    """A larger set is attacked on a random subset of its classes."""
    omniglot_alphabets: int = 3
    """Omniglot: attack and sweep the characters of this many alphabets."""
    examples: int = 4
    """Images shown per condition in the attack example panel."""
    region_attack: bool = True
    """Also attack region mode: each image pasted into a scene, privatized there
    with ``regions=`` (b, m and the attack's ε, and ``m="region"``) or
    mosaicked, and cut out again (:func:`region_attack`)."""
    name: str = "full"


FULL = Config()
QUICK = Config(
    blocks=(4, 8, 16),
    ms=(4, 16, 64),
    epsilons=(0.1, 0.5, 2.0),
    repetitions=2,
    max_images=400,
    splits=4,
    cv_folds=3,
    max_attack_images=500,
    omniglot_alphabets=1,
    name="quick",
)


# --------------------------------------------------------------------------- data


@dataclass
class EvalData:
    """Images to evaluate: uint8 ``(N, H, W[, C])`` with integer labels."""

    key: str
    title: str
    root: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else int(self.images.shape[3])


def load_data(dataset: str, data: Any = None, *, config: Config = FULL, seed: int = 0) -> EvalData:
    """Load ``dataset`` (one of :data:`DATASETS`) from ``data`` into memory.

    ``att``, ``omniglot`` (background set; the characters of the first
    ``config.omniglot_alphabets`` alphabets) and ``miniimagenet`` use the
    :mod:`dp_pix.datasets` loaders (``data=None``: ``$DP_PIX_DATA``);
    ``folder`` is any folder with one subfolder of images per class (images of
    different sizes are resized to the most common one, grey images made RGB
    if some are colour). A miniImageNet or folder larger than the evaluation
    uses (``max(config.max_attack_images, config.max_images)`` images) is cut
    down to whole classes chosen at random (by ``seed``) before any image is
    decoded.
    """
    from dp_pix import datasets

    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    notes: list[str] = []
    if dataset == "att":
        ds = datasets.load_att_faces(data)
        images = ds.as_array()
        labels, names = ds.labels, ds.class_names
    elif dataset == "omniglot":
        ds = datasets.load_omniglot(data, "background")
        alphabet = ds.label_sets["alphabet"]
        k = min(config.omniglot_alphabets, len(alphabet.names))
        keep = np.flatnonzero(alphabet.labels < k)
        ds = ds[keep]
        images = ds.as_array()
        labels, names = _relabel(ds)
        notes.append(
            f"Omniglot background set, the first {k} alphabets "
            f"({', '.join(alphabet.names[:k])}): {len(names)} characters, "
            f"{len(images)} images (each character drawn by 20 people)."
        )
    elif dataset == "miniimagenet":
        ds = _limit_classes(datasets.load_miniimagenet(data), config, seed, notes)
        images = _uniform(ds.as_list(), notes)
        labels, names = _relabel(ds)
    else:
        if data is None:
            raise ValueError("dataset 'folder' needs data: the folder with one subfolder per class")
        ds = datasets.load_image_folder(data)
        if len(ds) == 0:
            raise ValueError(f"no images in {data}: it needs one subfolder of images per class")
        ds = _limit_classes(ds, config, seed, notes)
        images = _uniform(ds.as_list(), notes)
        labels, names = _relabel(ds)
        if ds.skipped:
            notes.append(
                f"{len(ds.skipped)} file(s) under {ds.root} are not images and were skipped."
            )
    return EvalData(
        key=dataset,
        title=DATASET_TITLES[dataset] if dataset != "folder" else f"image folder {ds.name}",
        root=ds.root,
        images=np.ascontiguousarray(images),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(names),
        notes=notes,
    )


def _relabel(ds: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels 0..K-1 for the classes present in a subset, and their names."""
    codes, labels = np.unique(ds.labels, return_inverse=True)
    return labels, tuple(ds.class_names[c] for c in codes)


def _limit_classes(ds: Any, config: Config, seed: int, notes: list[str]) -> Any:
    """At most as many images as the evaluation uses, in whole random classes."""
    limit = max(config.max_attack_images, config.max_images)
    if len(ds) <= limit:
        return ds
    classes, counts = np.unique(ds.labels, return_counts=True)
    chosen, total = [], 0
    for i in np.random.default_rng(seed).permutation(classes.size):
        if total + counts[i] > limit and len(chosen) >= 2:
            continue
        chosen.append(classes[i])
        total += int(counts[i])
    notes.append(
        f"{len(chosen)} of {classes.size} classes ({total} of {len(ds)} images), chosen at "
        f"random, are loaded: the evaluation uses at most {limit} images."
    )
    return ds[np.flatnonzero(np.isin(ds.labels, chosen))]


def _uniform(images: list[np.ndarray], notes: list[str]) -> np.ndarray:
    """Stack images, making channels and sizes agree first."""
    from dp_pix import transforms

    colour = any(im.ndim == 3 for im in images)
    if colour:
        images = [im if im.ndim == 3 else np.repeat(im[:, :, None], 3, axis=2) for im in images]
        images = [im[:, :, :3] for im in images]
    shapes = Counter(im.shape[:2] for im in images)
    if len(shapes) > 1:
        shape = shapes.most_common(1)[0][0]
        changed = sum(n for s, n in shapes.items() if s != shape)
        notes.append(
            f"{changed} of {len(images)} images were resized to the most common size "
            f"{shape[1]}x{shape[0]} (box filter) so that all have one shape."
        )
        images = [im if im.shape[:2] == shape else transforms.resize(im, shape) for im in images]
    return np.stack(images)


# ------------------------------------------------------------------ obfuscation


def obfuscate(
    images: np.ndarray,
    method: str,
    *,
    block: int | None = None,
    m: int | None = None,
    epsilon: float | None = None,
    sigma: float | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Apply ``method`` to every image of ``images`` ``(N, H, W[, C])``; full-size output.

    ``"original"`` (a copy), ``"mosaic"`` (``pixelate``), ``"noisy-mosaic"``
    (``noisy_pixelate`` with Gaussian noise ``sigma``) or ``"dp-pix"``
    (``dp_pixelate_batch``, Laplace, ``edges="partial"``). Image i of a
    noisy method draws its own noise: from the stream of (seed, i).
    """
    if method == "original":
        return images.copy()
    if method == "mosaic":
        return np.stack([dp_pix.pixelate(im, block=block) for im in images])
    if method == "noisy-mosaic":
        return np.stack(
            [
                dp_pix.noisy_pixelate(
                    im, block=block, sigma=sigma, seed=None if seed is None else (seed + i) % 2**256
                )
                for i, im in enumerate(images)
            ]
        )
    if method == "dp-pix":
        return dp_pix.dp_pixelate_batch(images, block=block, epsilon=epsilon, m=m, seed=seed)
    raise ValueError(f"method must be original, mosaic, noisy-mosaic or dp-pix; got {method!r}")


def matched_sigma(block: int, m: int, epsilon: float, channels: int) -> float:
    """The noisy mosaic's σ: DP-Pix's noise std in grey levels on an interior cell."""
    info = dp_pix.Pixelizer(block=block, epsilon=epsilon, m=m).describe(channels=channels)
    return float(info["grey_std_interior"])


def _derive(seed: int, *keys: int) -> int:
    """An independent 128-bit seed for the task named by ``keys``."""
    words = np.random.SeedSequence(seed, spawn_key=keys).generate_state(4, np.uint32)
    return int(sum(int(w) << (32 * i) for i, w in enumerate(words)))


# ------------------------------------------------------------------------ tasks


@dataclass(frozen=True)
class _UtilityTask:
    sweep: str
    method: str
    block: int
    m: int | None
    epsilon: float | None
    sigma: float | None
    repetition: int
    seed: int


@dataclass(frozen=True)
class _Condition:
    key: str
    label: str
    method: str
    block: int | None = None
    m: int | None = None
    epsilon: float | None = None


@dataclass(frozen=True)
class _AttackTask:
    condition: _Condition
    split: int
    split_seed: int
    noise_seed: int
    cv_seed: int


def _utility_task(images: np.ndarray, task: _UtilityTask) -> dict[str, np.ndarray]:
    out = obfuscate(
        images,
        task.method,
        block=task.block,
        m=task.m,
        epsilon=task.epsilon,
        sigma=task.sigma,
        seed=task.seed,
    )
    n = len(images)
    values = {k: np.empty(n) for k in UTILITY_METRICS}
    for i in range(n):
        values["mse"][i] = metrics.mse(images[i], out[i])
        values["mse_uint8_wrapped"][i] = metrics.mse_uint8_wrapped(images[i], out[i])
        values["ssim"][i] = metrics.ssim(images[i], out[i])
    return values


def _attack_task(
    shared: tuple[np.ndarray, np.ndarray, Config], task: _AttackTask
) -> list[AttackResult]:
    from dp_pix import attack

    images, labels, config = shared
    train, test = attack.split_per_class(
        labels, test_fraction=config.test_fraction, seed=task.split_seed
    )
    c = task.condition
    out = obfuscate(images, c.method, block=c.block, m=c.m, epsilon=c.epsilon, seed=task.noise_seed)
    x = attack.cell_features(out, c.block)
    return attack.attack(
        x[train],
        labels[train],
        x[test],
        labels[test],
        attackers=config.attackers,
        cv_folds=config.cv_folds,
        seed=task.cv_seed,
    )


def _call(fn: Callable[[Any, Any], Any], shared: Any, task: Any) -> tuple[Any, Any]:
    return task, fn(shared, task)


def _execute(
    fn: Callable[[Any, Any], Any],
    shared: Any,
    tasks: Sequence[Any],
    jobs: int,
    bar: _Progress,
) -> Iterator[tuple[Any, Any]]:
    """``(task, fn(shared, task))`` for every task, in completion order."""
    if jobs == 1 or len(tasks) <= 1:
        results: Iterable[tuple[Any, Any]] = (_call(fn, shared, t) for t in tasks)
    else:
        joblib = import_extra("joblib", "dp_pix.evaluate with jobs > 1")
        parallel = joblib.Parallel(n_jobs=jobs, return_as="generator_unordered")
        results = parallel(joblib.delayed(_call)(fn, shared, t) for t in tasks)
    for item in results:
        bar.advance()
        yield item
    bar.close()


class _Progress:
    """A one-line progress bar on stderr, drawn only when ``enabled``."""

    def __init__(self, label: str, total: int, enabled: bool, stream: Any = None) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._draw(force=self.done >= self.total)

    def close(self) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        elapsed = now - self.start
        frac = self.done / self.total if self.total else 1.0
        width = 28
        filled = round(width * frac)
        eta = f", {_clock(elapsed / frac - elapsed)} left" if 0 < frac < 1 else ""
        self.stream.write(
            f"\r{self.label:<9} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} {_clock(elapsed)}{eta}   "
        )
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ------------------------------------------------------------- region mode


@dataclass
class RegionAttack:
    """The region-mode row of the attack: CSV rows, summary rows, a report section."""

    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    report: str


def region_scenes(
    images: np.ndarray, seed: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Each image ``(N, h, w[, C])`` pasted at a random place into a scene of
    twice its height and width on a random blocky background; returns the
    scenes and each image's region box, its box grown by
    ``regions.DEFAULT_PAD`` (inside the scene, so all regions have one size)."""
    from dp_pix import regions

    n, h, w = images.shape[:3]
    rng = np.random.default_rng(seed)
    dx, dy = math.ceil(regions.DEFAULT_PAD * w), math.ceil(regions.DEFAULT_PAD * h)
    coarse = rng.integers(0, 256, (n, h // 4 + 1, w // 4 + 1, *images.shape[3:]), dtype=np.uint8)
    blocky = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    scenes = np.ascontiguousarray(blocky[:, : 2 * h, : 2 * w])
    boxes = []
    for i in range(n):
        x0, y0 = int(rng.integers(dx, w - dx + 1)), int(rng.integers(dy, h - dy + 1))
        scenes[i, y0 : y0 + h, x0 : x0 + w] = images[i]
        (box,) = regions.grow([(x0, y0, x0 + w, y0 + h)], regions.DEFAULT_PAD, (2 * h, 2 * w))
        boxes.append(box)
    return scenes, boxes


def region_views(
    scenes: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], cond: _Condition, seed: int
) -> np.ndarray:
    """What the attacker cuts from the released scenes: each region, after
    region-mode DP-Pix (``dp_pixelate_batch(..., regions=)``) or the mosaic of
    the same cells."""
    block = cond.block
    assert block is not None
    if cond.method == "region-mosaic":
        cuts = [dp_pix.pixelate(np.ascontiguousarray(s[y0:y1, x0:x1]), block=block)
                for s, (x0, y0, x1, y1) in zip(scenes, boxes)]  # fmt: skip
    else:
        outs = dp_pix.dp_pixelate_batch(
            scenes, block=block, epsilon=cond.epsilon, m=cond.m,  # type: ignore[arg-type]
            regions=[[b] for b in boxes], seed=seed,
        )  # fmt: skip
        cuts = [o[y0:y1, x0:x1] for o, (x0, y0, x1, y1) in zip(outs, boxes)]
    return np.stack(cuts)


def _region_conditions(config: Config) -> list[_Condition]:
    b = config.block
    conds = [_Condition("region-mosaic", f"mosaic {b}x{b} (not private)", "region-mosaic", b)]
    for m in (config.m, "region"):
        conds += [
            _Condition(f"region-{m}-{e:g}", f"region DP-Pix ε={e:g}, m={m}", "region-dp-pix",
                       block=b, m=m, epsilon=float(e))  # type: ignore[arg-type]  # fmt: skip
            for e in config.attack_epsilons
        ]
    return conds


def _region_attack_task(shared: tuple[Any, ...], task: _AttackTask) -> list[AttackResult]:
    from dp_pix import attack

    scenes, boxes, labels, config = shared
    train, test = attack.split_per_class(
        labels, test_fraction=config.test_fraction, seed=task.split_seed
    )
    c = task.condition
    x = attack.cell_features(region_views(scenes, boxes, c, task.noise_seed), c.block)
    return attack.attack(
        x[train], labels[train], x[test], labels[test], attackers=config.attackers,
        cv_folds=config.cv_folds, seed=task.cv_seed,
    )  # fmt: skip


def region_attack(
    evdata: EvalData, idx: np.ndarray, config: Config, seed: int, jobs: int, show: bool
) -> RegionAttack:
    """Re-identification in region mode: the attack images pasted into scenes
    (:func:`region_scenes`), privatized there as regions, cut out again
    (:func:`region_views`) and attacked like the whole images, on the same
    splits: the mosaic of the region, DP-Pix at b, m and each attack ε, and
    at ``m="region"`` (m = the region's pixel count)."""
    images, labels = evdata.images[idx], evdata.labels[idx]
    scenes, boxes = region_scenes(images, _derive(seed, 10))
    conds = _region_conditions(config)
    tasks = [
        _AttackTask(
            c, s, _derive(seed, 2, s), _derive(seed, 11, s, k), _derive(seed, 12, s, k) % 2**31
        )
        for s in range(config.splits or 1)
        for k, c in enumerate(conds)
    ]
    found: dict[_Condition, list[tuple[int, list[AttackResult]]]] = defaultdict(list)
    bar = _Progress("regions", len(tasks), show)
    shared = (scenes, boxes, labels, config)
    for task, res in _execute(_region_attack_task, shared, tasks, jobs, bar):
        found[task.condition].append((task.split, res))
    results = {c: sorted(found[c], key=lambda r: r[0]) for c in conds}
    n_classes = len(np.unique(labels))

    def regional(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [r for r in rs if r["method"] != "random"]  # chance is in the attack's rows
        for r in kept:
            r["experiment"] = "attack-regions"
        return kept

    rows = regional(_attack_rows(evdata.key, results, n_classes, config))
    summary = regional(_attack_summary(evdata.key, results, n_classes, config))
    lookup = _summary_lookup(summary)
    attackers = [*config.attackers, "best"]
    table = []
    for c in conds:
        key = ("attack-regions", c.method)
        where = (c.block, _blank(c.m), _blank(c.epsilon), "top1")
        cells = [_pct(lookup.get((*key, a, *where))) for a in attackers]
        table.append([c.label, *cells])
    table.append(["random guessing", *([f"{100 * chance(n_classes):.1f}"] * len(attackers))])
    h, w = images.shape[1:3]
    x0, y0, x1, y1 = boxes[0]
    text = (
        "## Privacy in region mode: faces cut from privatized scenes\n\n"
        f"Each attack image is pasted at a random place into a scene of {2 * w}x{2 * h} pixels "
        f"(a random blocky background); its region is its box grown by 20 % on each side "
        f"({x1 - x0}x{y1 - y0} pixels), as `dp-pix pixelate --pad 0.2` would use. The scene "
        f"is released in region mode (`dp_pixelate_batch(..., regions=)`, cells of "
        f"{config.block}x{config.block} anchored at the region's corner, everything else "
        f"unchanged), the region is cut out again and attacked as above, on the same splits; "
        f"against the mosaic of the same cells. At m=region, m is the region's "
        f"{(x1 - x0) * (y1 - y0)} pixels. Top-1 accuracy (%), mean ± 95 % CI half-width over "
        f"{config.splits} split(s):\n\n"
        + _table(["images the attacker sees", *(ATTACKER_LABELS[a] for a in attackers)], table)
        + "\n"
    )
    return RegionAttack(rows=rows, summary=summary, report=text)


# ------------------------------------------------------------------- the run


@dataclass
class Result:
    """What :func:`run` wrote and measured."""

    out: Path
    files: list[Path]
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    seconds: float
    command: str


def run(
    dataset: str,
    data: Any = None,
    out: Any = None,
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
) -> Result:
    """Run the evaluation of ``dataset`` (see :data:`DATASETS`) stored at
    ``data`` and write the report, CSVs and plots into the folder ``out``.

    ``quick`` uses :data:`QUICK` (a few points, four splits: about two minutes
    on AT&T with two cores) instead of :data:`FULL`; ``config`` overrides
    both. ``splits`` (random train/test splits of the attack) and
    ``attackers`` (a subset of :data:`dp_pix.attack.ATTACKERS`) override
    the configuration's. ``seed``: the root of every random choice (default:
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
    out = Path(out)
    _check_out(out, overwrite)
    custom = config is not None
    if config is None:
        config = QUICK if quick else FULL
    if splits is not None:
        if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
            raise ValueError(f"splits must be a whole number >= 1, got {splits!r}")
        config = dataclasses.replace(config, splits=int(splits))
    if attackers is not None:
        if isinstance(attackers, str):
            attackers = [attackers]
        config = dataclasses.replace(config, attackers=tuple(attackers))
    _check_config(config)
    if seed is None:
        seed = secrets.randbits(32)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    seed = int(seed)
    jobs = _check_jobs(jobs)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    for module in ("sklearn", "skimage", "matplotlib", "scipy", "joblib", "threadpoolctl"):
        import_extra(module, "dp-pix evaluate")

    evdata = load_data(dataset, data, config=config, seed=_derive(seed, 8))
    if command is None:
        where = evdata.root if data is not None else None
        if custom:
            command = _python_command(dataset, where, out, seed, jobs)
        else:
            command = _command(
                dataset, where, out, quick, seed, jobs, splits=splits, attackers=attackers
            )

    utility_idx = _subsample(len(evdata.images), config.max_images, _derive(seed, 0))
    attack_idx, attack_notes = _attack_subset(evdata, config, _derive(seed, 1))
    if config.splits is None:
        config = dataclasses.replace(config, splits=_auto_splits(evdata, attack_idx, config))
    timings: dict[str, float] = {}

    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    attack_results = _run_attack(evdata, attack_idx, config, seed, jobs, show)
    timings["attack"] = time.monotonic() - t0
    region = None
    if attack_idx is not None and config.region_attack:
        t0 = time.monotonic()
        region = region_attack(evdata, attack_idx, config, seed, jobs, show)
        timings["regions"] = time.monotonic() - t0
    t0 = time.monotonic()
    utility = _run_utility(evdata.images[utility_idx], evdata.channels, config, seed, jobs, show)
    timings["utility"] = time.monotonic() - t0

    rows += _utility_rows(evdata.key, utility, len(utility_idx))
    n_classes = len(np.unique(evdata.labels[attack_idx])) if attack_idx is not None else 0
    rows += _attack_rows(evdata.key, attack_results, n_classes, config)
    summary = _utility_summary(evdata.key, utility, len(utility_idx))
    summary += _attack_summary(evdata.key, attack_results, n_classes, config)
    if region is not None:
        rows += region.rows
        summary += region.summary

    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    files = [
        _write_csv(out / "measurements.csv", CSV_COLUMNS, rows),
        _write_csv(out / "summary.csv", SUMMARY_COLUMNS, summary),
    ]
    figures = _plot_all(out, evdata, utility_idx, attack_idx, summary, config, seed, n_classes)
    files += figures
    timings["plots"] = time.monotonic() - t0
    seconds = time.monotonic() - started
    context = _Context(
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
    )
    files.append(_write_text(out / "report.md", _report(context, summary, figures)))
    files.append(_write_text(out / "run.json", _run_json(context)))
    return Result(
        out=out, files=files, rows=rows, summary=summary, seconds=seconds, command=command
    )


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory; --out must name a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out} is not empty; choose a new folder or pass --overwrite "
            "(overwrite=True) to write into it"
        )


def _check_config(config: Config) -> None:
    if not isinstance(config, Config):
        raise TypeError(f"config must be a dp_pix.evaluate.Config, got {type(config).__name__}")
    for name in ("blocks", "ms", "epsilons", "attack_epsilons"):
        if not getattr(config, name):
            raise ValueError(f"config.{name} must not be empty")
    if config.repetitions < 1 or (config.splits or 1) < 1 or config.max_images < 1:
        raise ValueError("config.repetitions, splits and max_images must be >= 1")
    if config.cv_folds < 2:
        raise ValueError("config.cv_folds must be >= 2")
    unknown = set(config.attackers) - set(ATTACKERS)
    if unknown or not config.attackers:
        raise ValueError(f"config.attackers must be among {', '.join(ATTACKERS)}")


def _check_jobs(jobs: int | None) -> int:
    if jobs is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    return int(jobs)


def _command(
    dataset: str,
    data: str | None,
    out: Path,
    quick: bool,
    seed: int,
    jobs: int,
    *,
    splits: int | None = None,
    attackers: Sequence[str] | None = None,
) -> str:
    parts = ["dp-pix", "evaluate", "--dataset", dataset]
    if data is not None:
        parts += ["--data", str(Path(data).resolve())]
    parts += ["--out", str(out)]
    if quick:
        parts.append("--quick")
    if splits is not None:
        parts += ["--splits", str(splits)]
    if attackers is not None:
        parts += ["--attackers", ",".join(attackers)]
    parts += ["--seed", str(seed), "--jobs", str(jobs)]
    return shlex.join(parts)


def _python_command(dataset: str, data: str | None, out: Path, seed: int, jobs: int) -> str:
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


def _subsample(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _attack_subset(
    evdata: EvalData, config: Config, seed: int
) -> tuple[np.ndarray | None, list[str]]:
    """The images the attack uses: classes with at least 3 images, and at most
    ``config.max_attack_images`` images (whole classes, chosen at random)."""
    notes = []
    classes, counts = np.unique(evdata.labels, return_counts=True)
    small = classes[counts < 3]
    if small.size:
        notes.append(
            f"{small.size} class(es) with fewer than 3 images cannot be split into training "
            "and test images and are left out of the attack."
        )
    usable = classes[counts >= 3]
    if usable.size < 2:
        notes.append("The attack needs at least 2 classes with 3 or more images each: skipped.")
        return None, notes
    rng = np.random.default_rng(seed)
    order = rng.permutation(usable)
    sizes = dict(zip(classes.tolist(), counts.tolist()))
    chosen, total = [], 0
    for c in order:
        if total + sizes[int(c)] > config.max_attack_images and len(chosen) >= 2:
            continue
        chosen.append(int(c))
        total += sizes[int(c)]
    if len(chosen) < usable.size:
        notes.append(
            f"The attack uses {len(chosen)} of {usable.size} classes ({total} images), "
            f"chosen at random, to stay within {config.max_attack_images} images."
        )
    return np.flatnonzero(np.isin(evdata.labels, chosen)), notes


def _auto_splits(evdata: EvalData, idx: np.ndarray | None, config: Config) -> int:
    """Splits enough for about TEST_PREDICTIONS test predictions, 5 to 20."""
    if idx is None:
        return 1
    counts = np.unique(evdata.labels[idx], return_counts=True)[1]
    n_test = sum(max(1, round(config.test_fraction * n)) for n in counts)
    return int(min(20, max(5, math.ceil(TEST_PREDICTIONS / n_test))))


def _conditions(config: Config) -> list[_Condition]:
    b = config.block
    conds = [
        _Condition("original", "original", "original"),
        _Condition(f"mosaic-{b}", f"mosaic {b}x{b}", "mosaic", block=b),
    ]
    conds += [
        _Condition(
            f"dp-pix-{e:g}", f"DP-Pix ε={e:g}", "dp-pix", block=b, m=config.m, epsilon=float(e)
        )
        for e in config.attack_epsilons
    ]
    return conds


def _run_attack(
    evdata: EvalData,
    idx: np.ndarray | None,
    config: Config,
    seed: int,
    jobs: int,
    show: bool,
) -> dict[_Condition, list[tuple[int, list[AttackResult]]]]:
    if idx is None:
        return {}
    conds = _conditions(config)
    tasks = [
        _AttackTask(
            condition=c,
            split=s,
            split_seed=_derive(seed, 2, s),
            noise_seed=_derive(seed, 3, s, k),
            cv_seed=_derive(seed, 4, s, k) % 2**31,
        )
        for s in range(config.splits)
        for k, c in enumerate(conds)
    ]
    # The originals take longest (most features): start them first.
    tasks.sort(key=lambda t: t.condition.method != "original")
    shared = (evdata.images[idx], evdata.labels[idx], config)
    results: dict[_Condition, list[tuple[int, list[AttackResult]]]] = defaultdict(list)
    bar = _Progress("attack", len(tasks), show)
    for task, res in _execute(_attack_task, shared, tasks, jobs, bar):
        results[task.condition].append((task.split, res))
    return {c: sorted(results[c], key=lambda r: r[0]) for c in conds}


_Utility = dict[_UtilityTask, dict[str, np.ndarray]]


def _utility_tasks(config: Config, channels: int, seed: int) -> list[_UtilityTask]:
    tasks = []
    grids = {"block": config.blocks, "m": config.ms, "epsilon": config.epsilons}
    for si, sweep in enumerate(SWEEPS):
        for pi, value in enumerate(grids[sweep]):
            b = int(value) if sweep == "block" else config.block
            m = int(value) if sweep == "m" else config.m
            e = float(value) if sweep == "epsilon" else config.epsilon
            sigma = matched_sigma(b, m, e, channels)
            for mi, method in enumerate(("dp-pix", "noisy-mosaic")):
                for r in range(config.repetitions):
                    tasks.append(
                        _UtilityTask(
                            sweep, method, b, m, e, sigma if method == "noisy-mosaic" else None, r,
                            _derive(seed, 5, si, pi, mi, r),
                        )
                    )  # fmt: skip
    # The mosaic has no noise and no m or ε: once per block, filed under the b sweep.
    blocks = sorted(set(config.blocks) | {config.block})
    tasks += [_UtilityTask("block", "mosaic", b, None, None, None, 0, 0) for b in blocks]
    return tasks


def _run_utility(
    images: np.ndarray, channels: int, config: Config, seed: int, jobs: int, show: bool
) -> _Utility:
    tasks = _utility_tasks(config, channels, seed)
    bar = _Progress("utility", len(tasks), show)
    return dict(_execute(_utility_task, images, tasks, jobs, bar))


# ------------------------------------------------------------------- numbers


def _row(dataset: str, experiment: str, method: str, **kw: Any) -> dict[str, Any]:
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(dataset=dataset, experiment=experiment, method=method)
    row.update({k: ("" if v is None else v) for k, v in kw.items()})
    return row


def _utility_rows(dataset: str, utility: _Utility, n: int) -> list[dict[str, Any]]:
    rows = []
    for task in sorted(utility, key=_task_order):
        for metric in UTILITY_METRICS:
            rows.append(
                _row(
                    dataset, f"utility-{task.sweep}", task.method,
                    block=task.block, m=task.m, epsilon=task.epsilon, sigma=task.sigma,
                    repetition=task.repetition, metric=metric,
                    value=float(np.mean(utility[task][metric])), n=n,
                )
            )  # fmt: skip
    return rows


def _task_order(t: _UtilityTask) -> tuple:
    return (
        SWEEPS.index(t.sweep),
        METHODS.index(t.method),
        t.block,
        t.m or 0,
        t.epsilon or 0.0,
        t.repetition,
    )


def _utility_summary(dataset: str, utility: _Utility, n: int) -> list[dict[str, Any]]:
    """Per setting: the per-image means over repetitions, then a t-interval over images."""
    groups: dict[tuple, list[_UtilityTask]] = defaultdict(list)
    for task in utility:
        groups[(task.sweep, task.method, task.block, task.m, task.epsilon, task.sigma)].append(task)
    out = []
    for key in sorted(groups, key=lambda k: _task_order(groups[k][0])):
        sweep, method, block, m, epsilon, sigma = key
        tasks = groups[key]
        for metric in UTILITY_METRICS:
            per_image = np.mean([utility[t][metric] for t in tasks], axis=0)
            mean, lo, hi = metrics.t_interval(per_image, CONFIDENCE)
            row = dict.fromkeys(SUMMARY_COLUMNS, "")
            row.update(
                dataset=dataset, experiment=f"utility-{sweep}", method=method, block=block,
                m=_blank(m), epsilon=_blank(epsilon), sigma=_blank(sigma), metric=metric,
                mean=mean, ci_low=lo, ci_high=hi, interval="t over images",
                repetitions=len(tasks), n=n,
            )  # fmt: skip
            out.append(row)
    return out


def _blank(x: Any) -> Any:
    return "" if x is None else x


def _attack_rows(
    dataset: str,
    results: dict[_Condition, list[tuple[int, list[AttackResult]]]],
    n_classes: int,
    config: Config,
) -> list[dict[str, Any]]:
    rows = []
    for cond, splits in results.items():
        for split, res in splits:
            for r in res:
                for metric, value in (("top1", r.top1), ("top5", r.topk), ("cv_top1", r.cv_top1)):
                    if value is None:
                        continue
                    rows.append(
                        _row(
                            dataset, "attack", cond.method, attacker=r.attacker,
                            block=cond.block, m=cond.m, epsilon=cond.epsilon,
                            repetition=split, metric=metric, value=value, n=r.n_test,
                            params=_params(r.params),
                        )
                    )  # fmt: skip
    if results:
        for metric, k in (("top1", 1), ("top5", 5)):
            if k == 1 or n_classes > k:
                rows.append(
                    _row(dataset, "attack", "random", metric=metric, value=chance(n_classes, k))
                )
    return rows


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _attack_summary(
    dataset: str,
    results: dict[_Condition, list[tuple[int, list[AttackResult]]]],
    n_classes: int,
    config: Config,
) -> list[dict[str, Any]]:
    out = []
    for cond, splits in results.items():
        attackers = [r.attacker for r in splits[0][1]]
        for j, attacker in enumerate(attackers):
            per_split = [res[j] for _, res in splits]
            for metric in ("top1", "top5"):
                values = [r.top1 if metric == "top1" else r.topk for r in per_split]
                if any(v is None for v in values):
                    continue
                mean, lo, hi = metrics.t_interval(values, CONFIDENCE)
                n_test = sum(r.n_test for r in per_split)
                hits = round(sum(v * r.n_test for v, r in zip(values, per_split)))
                wlo, whi = metrics.wilson_interval(hits, n_test, CONFIDENCE)
                row = dict.fromkeys(SUMMARY_COLUMNS, "")
                row.update(
                    dataset=dataset, experiment="attack", method=cond.method, attacker=attacker,
                    block=_blank(cond.block), m=_blank(cond.m), epsilon=_blank(cond.epsilon),
                    metric=metric, mean=mean, ci_low=lo, ci_high=hi, interval="t over splits",
                    repetitions=len(values), n=n_test, wilson_low=wlo, wilson_high=whi,
                )  # fmt: skip
                out.append(row)
    if results:
        for metric, k in (("top1", 1), ("top5", 5)):
            if k == 1 or n_classes > k:
                p = chance(n_classes, k)
                row = dict.fromkeys(SUMMARY_COLUMNS, "")
                row.update(
                    dataset=dataset, experiment="attack", method="random", metric=metric,
                    mean=p, ci_low=p, ci_high=p, interval="exact", n=n_classes,
                )  # fmt: skip
                out.append(row)
    return out


# -------------------------------------------------------------------- files


def _write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> Path:
    buf = _stdio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k, "")) for k in columns})
    return _write_text(path, buf.getvalue())


def _csv_value(x: Any) -> Any:
    if isinstance(x, float):
        return "" if math.isnan(x) else repr(x)
    return x


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


# -------------------------------------------------------------------- plots


_COLOURS = {
    "dp-pix": "#1f63b4",
    "noisy-mosaic": "#e08214",
    "mosaic": "#4d4d4d",
    "wrapped": "#c51b1b",
}
_MARKERS = {"dp-pix": "o", "noisy-mosaic": "s", "mosaic": "^"}
_ATTACKER_COLOURS = ("#8da0cb", "#66c2a5", "#a6d854", "#ffd92f", "#e5c494", "#fc8d62")


def _summary_lookup(summary: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    table = {}
    for r in summary:
        key = (r["experiment"], r["method"], r["attacker"], r["block"], r["m"], r["epsilon"])
        table[key + (r["metric"],)] = r
    return table


def _sweep_points(
    lookup: dict[tuple, dict[str, Any]], config: Config, sweep: str, method: str, metric: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    xs, means, los, his = [], [], [], []
    values = {"block": config.blocks, "m": config.ms, "epsilon": config.epsilons}[sweep]
    for v in values:
        key = _utility_key(config, sweep, method, v) + (metric,)
        r = lookup.get(key)
        if r is None:
            continue
        xs.append(v)
        means.append(r["mean"])
        los.append(r["ci_low"] if r["ci_low"] != "" else r["mean"])
        his.append(r["ci_high"] if r["ci_high"] != "" else r["mean"])
    return xs, means, los, his


def _utility_key(config: Config, sweep: str, method: str, value: Any) -> tuple:
    if method == "mosaic":
        block = int(value) if sweep == "block" else config.block
        return ("utility-block", "mosaic", "", block, "", "")
    b = int(value) if sweep == "block" else config.block
    m = int(value) if sweep == "m" else config.m
    e = float(value) if sweep == "epsilon" else config.epsilon
    return (f"utility-{sweep}", method, "", b, m, e)


_SWEEP_AXIS = {"block": "block size b (pixels)", "m": "m (pixels protected)", "epsilon": "ε"}


def _fixed(config: Config, sweep: str) -> str:
    parts = {
        "block": f"b={config.block}",
        "m": f"m={config.m}",
        "epsilon": f"ε={config.epsilon:g}",
    }
    return ", ".join(v for k, v in parts.items() if k != sweep)


def _plot_utility(path: Path, summary: list[dict[str, Any]], config: Config, title: str) -> Path:
    from matplotlib.figure import Figure

    lookup = _summary_lookup(summary)
    fig = Figure(figsize=(14, 8.2), layout="constrained")
    axes = fig.subplots(2, 3)
    handles: dict[str, Any] = {}
    for col, sweep in enumerate(SWEEPS):
        for row, metric in enumerate(("mse", "ssim")):
            ax = axes[row, col]
            for method in METHODS:
                if method == "mosaic" and sweep != "block":
                    xs, mean, _, _ = _sweep_points(lookup, config, "block", "mosaic", metric)
                    if config.block in xs:
                        y = mean[xs.index(config.block)]
                        h = ax.axhline(y, color=_COLOURS["mosaic"], ls="--", lw=1.3)
                        handles.setdefault("mosaic", h)
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
            ax.set_xlabel(_SWEEP_AXIS[sweep])
            name = "MSE" if metric == "mse" else "SSIM"
            axis = _SWEEP_AXIS[sweep].split(" (")[0]
            ax.set_title(f"{name} vs {axis}  ({_fixed(config, sweep)})", fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
    labels = {
        "dp-pix": "DP-Pix",
        "noisy-mosaic": "noisy mosaic, σ matched to DP-Pix (not private)",
        "mosaic": f"mosaic (not private; b={config.block} in the m and ε plots)",
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
    path: Path, summary: list[dict[str, Any]], config: Config, title: str, n_classes: int
) -> Path:
    from matplotlib.figure import Figure

    lookup = _summary_lookup(summary)
    conds = _conditions(config)
    attackers = [*config.attackers, "best"]
    metrics_shown = ["top1"] + (["top5"] if n_classes > 5 else [])
    fig = Figure(figsize=(13, 4.3 * len(metrics_shown)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(metrics_shown), 1))
    width = 0.8 / len(attackers)
    for ax, metric in zip(axes, metrics_shown):
        for j, attacker in enumerate(attackers):
            means, errs = [], [[], []]
            for c in conds:
                key = ("attack", c.method, attacker, _blank(c.block), _blank(c.m),
                       _blank(c.epsilon), metric)  # fmt: skip
                r = lookup.get(key)
                mean = r["mean"] if r else math.nan
                lo = r["ci_low"] if r and not _isnan(r["ci_low"]) else mean
                hi = r["ci_high"] if r and not _isnan(r["ci_high"]) else mean
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


def _isnan(x: Any) -> bool:
    return x == "" or (isinstance(x, float) and math.isnan(x))


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

    values = {"block": config.blocks, "m": config.ms, "epsilon": config.epsilons}[sweep]
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = ("mosaic", "noisy-mosaic", "dp-pix") if sweep == "block" else ("noisy-mosaic", "dp-pix")
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
            b = int(v) if sweep == "block" else config.block
            m = int(v) if sweep == "m" else config.m
            e = float(v) if sweep == "epsilon" else config.epsilon
            sigma = matched_sigma(b, m, e, channels) if method == "noisy-mosaic" else None
            img = obfuscate(image[None], method, block=b, m=m, epsilon=e, sigma=sigma,
                            seed=_derive(seed, 6, SWEEPS.index(sweep), j))[0]  # fmt: skip
            ax = axes[i, j + 1]
            _show(ax, img)
            if i == 0:
                name = {"block": "b", "m": "m", "epsilon": "ε"}[sweep]
                ax.set_title(f"{name}={v:g}", fontsize=9)
    fig.suptitle(f"{title}: one image at every {_SWEEP_AXIS[sweep].split(' (')[0]} "
                 f"({_fixed(config, sweep)})", fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)
    return path


def _plot_examples_attack(
    path: Path, images: np.ndarray, config: Config, seed: int, title: str
) -> Path:
    from matplotlib.figure import Figure

    conds = _conditions(config)
    h, w = images.shape[1:3]
    tile = 1.4
    fig = Figure(
        figsize=(tile * len(conds) * w / h + 0.4, tile * len(images) + 0.8), layout="constrained"
    )
    axes = np.asarray(fig.subplots(len(images), len(conds), squeeze=False))
    for j, c in enumerate(conds):
        out = obfuscate(images, c.method, block=c.block, m=c.m, epsilon=c.epsilon,
                        seed=_derive(seed, 7, j))  # fmt: skip
        for i in range(len(images)):
            _show(axes[i, j], out[i])
        axes[0, j].set_title(c.label, fontsize=9)
    fig.suptitle(f"{title}: what the attacker sees (one image of each of {len(images)} classes)",
                 fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)
    return path


def _plot_all(
    out: Path,
    evdata: EvalData,
    utility_idx: np.ndarray,
    attack_idx: np.ndarray | None,
    summary: list[dict[str, Any]],
    config: Config,
    seed: int,
    n_classes: int,
) -> list[Path]:
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


# ------------------------------------------------------------------- report


@dataclass
class _Context:
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


def _fmt(x: float, digits: int = 3) -> str:
    if isinstance(x, str) or math.isnan(x):
        return "—"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:.{decimals}f}"


def _pm(r: dict[str, Any] | None, scale: float = 1.0, digits: int = 3) -> str:
    if r is None:
        return "—"
    mean = r["mean"] * scale
    if _isnan(r["ci_low"]):
        return _fmt(mean, digits)
    half = (r["ci_high"] - r["ci_low"]) / 2 * scale
    if half == 0:
        return f"{_fmt(mean, digits)} ± 0"
    return f"{_fmt(mean, digits)} ± {_fmt(half, 2)}"


def _pct(r: dict[str, Any] | None) -> str:
    if r is None:
        return "—"
    mean = 100 * r["mean"]
    if _isnan(r["ci_low"]):
        return f"{mean:.1f}"
    half = 100 * (r["ci_high"] - r["ci_low"]) / 2
    return f"{mean:.1f} ± {half:.1f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _utility_table(lookup: dict[tuple, dict[str, Any]], config: Config, sweep: str) -> str:
    values = {"block": config.blocks, "m": config.ms, "epsilon": config.epsilons}[sweep]
    name = {"block": "b", "m": "m", "epsilon": "ε"}[sweep]
    header = [
        name, "DP-Pix MSE", "DP-Pix SSIM", "noisy mosaic σ", "noisy mosaic MSE",
        "noisy mosaic SSIM", "mosaic MSE", "mosaic SSIM", "DP-Pix mse_uint8_wrapped (paper's bug)",
    ]  # fmt: skip
    rows = []
    for v in values:

        def get(method: str, metric: str, v: Any = v) -> dict[str, Any] | None:
            return lookup.get(_utility_key(config, sweep, method, v) + (metric,))

        noisy = get("noisy-mosaic", "mse")
        rows.append(
            [
                f"{v:g}",
                _pm(get("dp-pix", "mse")),
                _pm(get("dp-pix", "ssim"), digits=3),
                _fmt(noisy["sigma"]) if noisy else "—",
                _pm(noisy),
                _pm(get("noisy-mosaic", "ssim")),
                _pm(get("mosaic", "mse")),
                _pm(get("mosaic", "ssim")),
                _fmt(get("dp-pix", "mse_uint8_wrapped")["mean"])
                if get("dp-pix", "mse_uint8_wrapped")
                else "—",
            ]
        )
    return _table(header, rows)


def _attack_table(
    lookup: dict[tuple, dict[str, Any]], config: Config, metric: str, n_classes: int
) -> str:
    attackers = [*config.attackers, "best"]
    header = ["images the attacker sees", *(ATTACKER_LABELS[a] for a in attackers)]
    rows = []
    for c in _conditions(config):
        cells = [c.label]
        for a in attackers:
            key = ("attack", c.method, a, _blank(c.block), _blank(c.m), _blank(c.epsilon), metric)
            cells.append(_pct(lookup.get(key)))
        rows.append(cells)
    k = 1 if metric == "top1" else 5
    p = f"{100 * chance(n_classes, k):.1f}"
    rows.append(["random guessing", *([p] * len(attackers))])
    return _table(header, rows)


def _span_of(summary: list[dict[str, Any]], metric: str) -> tuple[float, float]:
    values = [r["mean"] for r in summary if r["method"] == "dp-pix" and r["metric"] == metric]
    return min(values), max(values)


def _trends(lookup: dict[tuple, dict[str, Any]], cfg: Config) -> str:
    """One factual sentence on how DP-Pix's MSE moves along each sweep."""
    parts = []
    for sweep, values in (("epsilon", cfg.epsilons), ("block", cfg.blocks), ("m", cfg.ms)):
        if len(values) < 2:
            continue
        first = lookup.get(_utility_key(cfg, sweep, "dp-pix", values[0]) + ("mse",))
        last = lookup.get(_utility_key(cfg, sweep, "dp-pix", values[-1]) + ("mse",))
        if first and last:
            name = {"block": "b", "m": "m", "epsilon": "ε"}[sweep]
            parts.append(
                f"{_fmt(first['mean'])} at {name}={values[0]:g} to {_fmt(last['mean'])} at "
                f"{name}={values[-1]:g}"
            )
    return f"Its MSE goes from {'; from '.join(parts)}." if parts else ""


def _best(lookup: dict[tuple, dict[str, Any]], c: _Condition, metric: str = "top1") -> float:
    key = ("attack", c.method, "best", _blank(c.block), _blank(c.m), _blank(c.epsilon), metric)
    r = lookup.get(key)
    return math.nan if r is None else 100 * r["mean"]


def _report(ctx: _Context, summary: list[dict[str, Any]], figures: list[Path]) -> str:
    d, cfg = ctx.data, ctx.config
    lookup = _summary_lookup(summary)
    names = {p.name for p in figures}
    shape = "x".join(str(s) for s in (d.images.shape[2], d.images.shape[1]))
    colour = "grey" if d.channels == 1 else f"{d.channels}-channel colour"
    out = []
    w = out.append
    w(f"# DP-Pix evaluation: {d.title}\n")
    w(
        f"Utility (MSE, SSIM) and privacy (a re-identification attack) of DP-Pix, the "
        f"differentially private pixelization of L. Fan, *Image Pixelization with Differential "
        f"Privacy*, DBSec 2018, against the plain mosaic and a noisy mosaic, following the "
        f"paper's experiments. Made by dp-pix {dp_pix.__version__} ({dp_pix.BACKEND} backend) "
        f"in {_clock(ctx.seconds)} (min:s) with {ctx.jobs} worker process(es); "
        f"{cfg.name} settings; seed {ctx.seed}.\n"
    )

    w("## Summary\n")
    conds = _conditions(cfg)
    if ctx.attack_idx is not None:
        orig, mosaic = _best(lookup, conds[0]), _best(lookup, conds[1])
        dp = [(c.epsilon, _best(lookup, c)) for c in conds[2:]]
        guess = 100 * chance(ctx.n_classes)
        # Less than a tenth of the way from chance to perfect on the originals: the
        # attack has nothing to lose, so its numbers cannot show what is hidden.
        weak = orig - guess < 0.1 * (100 - guess)
        if weak:
            verdict = ""
        elif mosaic >= 0.8 * orig:
            verdict = ": the mosaic hides little"
        elif mosaic <= guess + 0.2 * (orig - guess):
            verdict = ": the mosaic hides most of it"
        else:
            verdict = ""
        w(
            f"- **Re-identification.** The best attacker (chosen by cross-validation on its "
            f"training images) names the right class of a test image {orig:.1f} % of the time on "
            f"the originals and {mosaic:.1f} % on the {cfg.block}x{cfg.block} mosaic{verdict}. "
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
    dp_mse = lookup.get(_utility_key(cfg, "epsilon", "dp-pix", cfg.epsilon) + ("mse",))
    mos_mse = lookup.get(_utility_key(cfg, "block", "mosaic", cfg.block) + ("mse",))
    wrapped = lookup.get(_utility_key(cfg, "epsilon", "dp-pix", cfg.epsilon) +
                         ("mse_uint8_wrapped",))  # fmt: skip
    if dp_mse and mos_mse:
        w(
            f"- **Utility.** At b={cfg.block}, m={cfg.m}, ε={cfg.epsilon:g} DP-Pix has an MSE of "
            f"{_fmt(dp_mse['mean'])} against {_fmt(mos_mse['mean'])} for the mosaic alone: the "
            f"price of the guarantee. " + _trends(lookup, cfg)
        )
    if wrapped and dp_mse:
        lo_w, hi_w = _span_of(summary, "mse_uint8_wrapped")
        lo, hi = _span_of(summary, "mse")
        w(
            f"- **The paper's MSE.** Computed on uint8 arrays, as in the paper's code, the same "
            f"MSE comes out as {_fmt(wrapped['mean'])} (from {_fmt(lo_w)} to {_fmt(hi_w)} over "
            f"all DP-Pix settings here, while the true MSE goes from {_fmt(lo)} to {_fmt(hi)}): "
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
        '(`Pixelizer.describe()["grey_std_interior"]`); not private.'
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
            f"Obfuscations: the originals, the {cfg.block}x{cfg.block} mosaic and DP-Pix at "
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
            "else); where there are more features than training images, the images are first "
            "expressed in a basis of the span of the training images (lossless for these "
            "attackers, see `dp_pix.attack.attack`); all features are scaled by one number so "
            "that the training images have a mean squared norm of 1. Top-1: the first guess is "
            "right; top-5: the right label is among the first five. Intervals: 95 % Student-t "
            "over the splits (the splits share images, so these are a guide rather than "
            "exact); `summary.csv` also has Wilson intervals on the pooled test predictions."
        )
    w("")

    if ctx.attack_idx is not None:
        w("## Privacy: re-identification attack\n")
        w(f"Top-1 accuracy (%), mean ± 95 % CI half-width over {cfg.splits} split(s):\n")
        w(_attack_table(lookup, cfg, "top1", ctx.n_classes))
        w("")
        if ctx.n_classes > 5:
            w("Top-5 accuracy (%):\n")
            w(_attack_table(lookup, cfg, "top5", ctx.n_classes))
            w("")
        if "attack.png" in names:
            w("![attack accuracy](attack.png)\n")
        if "examples-attack.png" in names:
            w("What the attacker sees:\n")
            w("![attack examples](examples-attack.png)\n")
    if ctx.region is not None:
        w(ctx.region.report)

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
        fixed = _fixed(cfg, sweep)
        w(f"### Against {_SWEEP_AXIS[sweep].split(' (')[0]} ({fixed})\n")
        w(_utility_table(lookup, cfg, sweep))
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
        "accuracy that chose the parameters). Random guessing has its own rows.\n"
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
        f"Runtime here: {_clock(ctx.seconds)} in all — attack {_clock(ctx.timings['attack'])}, "
        f"utility {_clock(ctx.timings['utility'])}, plots {_clock(ctx.timings['plots'])} "
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


def _run_json(ctx: _Context) -> str:
    import importlib.metadata as md

    versions = {}
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
        "notes": ctx.data.notes + ctx.attack_notes,
    }
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"
