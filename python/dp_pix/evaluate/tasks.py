"""The work of an evaluation: obfuscating images, the utility and attack
tasks, and the pool of worker processes that runs them with a progress bar."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

import dp_pix
from dp_pix import metrics
from dp_pix.attack import AttackResult
from dp_pix.evaluate.config import SWEEPS, TEST_PREDICTIONS, UTILITY_METRICS, Config, EvalData
from dp_pix.metrics import import_extra
from dp_pix.progress import Progress

__all__ = [
    "AttackResults",
    "AttackTask",
    "Condition",
    "Utility",
    "UtilityTask",
    "attack_subset",
    "auto_splits",
    "blur",
    "blur_sigma",
    "conditions",
    "derive_seed",
    "execute",
    "matched_sigma",
    "obfuscate",
    "run_attack",
    "run_utility",
    "subsample",
    "utility_tasks",
    "view_block",
]

_Shared = TypeVar("_Shared")
_Task = TypeVar("_Task")
_Out = TypeVar("_Out")


# ------------------------------------------------------------------ obfuscation


def obfuscate(
    images: np.ndarray,
    method: str,
    *,
    block: int | None = None,
    m: int | Literal["region"] | None = None,
    epsilon: float | None = None,
    sigma: float | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Apply ``method`` to every image of ``images`` ``(N, H, W[, C])``; full-size output.

    ``"original"`` (a copy), ``"mosaic"`` (``pixelate``), ``"blur"``
    (:func:`blur`, σ = b/2), ``"noisy-mosaic"`` (``noisy_pixelate`` with
    Gaussian noise ``sigma``) or ``"dp-pix"`` (``dp_pixelate_batch``,
    Laplace, ``edges="partial"``). Image i of a noisy method draws its own
    noise: from the stream of (seed, i).
    """
    def needed(value: Any, name: str) -> Any:
        if value is None:
            raise TypeError(f"method {method!r} needs {name}")
        return value

    if method == "original":
        return images.copy()
    if method == "mosaic":
        return np.stack([dp_pix.pixelate(im, block=needed(block, "block")) for im in images])
    if method == "blur":
        return blur(images, needed(block, "block"))
    if method == "noisy-mosaic":
        return np.stack(
            [
                dp_pix.noisy_pixelate(
                    im, block=needed(block, "block"), sigma=needed(sigma, "sigma"),
                    seed=None if seed is None else (seed + i) % 2**256,
                )
                for i, im in enumerate(images)
            ]
        )
    if method == "dp-pix":
        return dp_pix.dp_pixelate_batch(
            images, block=needed(block, "block"), epsilon=needed(epsilon, "epsilon"),
            m=needed(m, "m"), seed=seed,
        )
    raise ValueError(
        f"method must be original, mosaic, blur, noisy-mosaic or dp-pix; got {method!r}"
    )


def blur_sigma(block: int) -> float:
    """The Gaussian blur matched to cells of ``block`` pixels: σ = b/2.

    Why b/2: a Gaussian of standard deviation σ passes spatial frequency f
    (cycles per pixel) with gain ``exp(-2π²σ²f²)``. With σ = b/2, detail at
    the scale of a cell (f = 1/b) keeps ``exp(-π²/2)`` ≈ 0.7 % of its
    contrast — under one grey level for full-contrast detail once rounded to
    8 bits — while the coarsest pattern a grid of cells can show (f = 1/(2b),
    one cell light, the next dark) keeps 29 %. So the blur removes what the
    mosaic removes (detail within a cell) and keeps about what it keeps. A
    blur matched only to the mosaic's averaging window (σ = b/√12, the
    standard deviation of a b-wide box) would keep 19 % at f = 1/b: far
    easier to undo, and no fair comparison.
    """
    return block / 2.0


def blur(images: np.ndarray, block: int) -> np.ndarray:
    """Gaussian blur of σ = :func:`blur_sigma` (block) of every image of
    ``images`` ``(N, H, W[, C])`` (channels blurred separately; the kernel is
    cut at 4σ; edges mirrored), rounded back to uint8. Not private."""
    ndimage = import_extra("scipy.ndimage", "the blur baseline")
    s = blur_sigma(block)
    sigma = (0.0, s, s) if images.ndim == 3 else (0.0, s, s, 0.0)
    out = ndimage.gaussian_filter(images.astype(np.float64), sigma=sigma, mode="reflect")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def view_block(method: str, block: int | None) -> int | None:
    """The cell size an attacker reads one value per cell of, for an image
    released by ``method`` (the pixelized methods hold nothing else); None:
    every pixel (the originals, the blur)."""
    return block if method in ("mosaic", "noisy-mosaic", "dp-pix") else None


def matched_sigma(block: int, m: int, epsilon: float, channels: int) -> float:
    """The noisy mosaic's σ: DP-Pix's noise std in grey levels on an interior cell."""
    info = dp_pix.Pixelizer(block=block, epsilon=epsilon, m=m).describe(channels=channels)
    return float(info["grey_std_interior"])


def derive_seed(seed: int, *keys: int) -> int:
    """An independent 128-bit seed for the task named by ``keys``."""
    words = np.random.SeedSequence(seed, spawn_key=keys).generate_state(4, np.uint32)
    return int(sum(int(w) << (32 * i) for i, w in enumerate(words)))


# ------------------------------------------------------------------------ tasks


@dataclass(frozen=True)
class UtilityTask:
    """One method at one setting of one sweep, one noise draw."""

    sweep: str
    method: str
    block: int
    m: int | None
    epsilon: float | None
    sigma: float | None
    repetition: int
    seed: int


@dataclass(frozen=True)
class Condition:
    """What the attacker sees: the originals, the mosaic, the blur, or DP-Pix at
    one ε (the reconstruction attack also: the noisy mosaic of σ ``sigma``)."""

    key: str
    label: str
    method: str
    block: int | None = None
    m: int | Literal["region"] | None = None  # "region": the region's pixel count
    epsilon: float | None = None
    sigma: float | None = None


@dataclass(frozen=True)
class AttackTask:
    """The attack on one condition and one train/test split."""

    condition: Condition
    split: int
    split_seed: int
    noise_seed: int
    cv_seed: int


Utility = dict[UtilityTask, dict[str, np.ndarray]]
"""Per utility task, each metric of :data:`UTILITY_METRICS` for every image."""
AttackResults = dict[Condition, list[tuple[int, list[AttackResult]]]]
"""Per condition, ``(split, every attacker's result)`` in split order."""


def conditions(config: Config) -> list[Condition]:
    """The originals, the mosaic, the blur and DP-Pix at each of ``config.attack_epsilons``."""
    b = config.block
    conds = [
        Condition("original", "original", "original"),
        Condition(f"mosaic-{b}", f"mosaic {b}x{b}", "mosaic", block=b),
        Condition(f"blur-{b}", f"blur σ={blur_sigma(b):g}", "blur", block=b),
    ]
    conds += [
        Condition(
            f"dp-pix-{e:g}", f"DP-Pix ε={e:g}", "dp-pix", block=b, m=config.m, epsilon=float(e)
        )
        for e in config.attack_epsilons
    ]
    return conds


def _utility_task(images: np.ndarray, task: UtilityTask) -> dict[str, np.ndarray]:
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
    shared: tuple[np.ndarray, np.ndarray, Config], task: AttackTask
) -> list[AttackResult]:
    from dp_pix import attack

    images, labels, config = shared
    train, test = attack.split_per_class(
        labels, test_fraction=config.test_fraction, seed=task.split_seed
    )
    c = task.condition
    out = obfuscate(images, c.method, block=c.block, m=c.m, epsilon=c.epsilon, seed=task.noise_seed)
    x = attack.cell_features(out, view_block(c.method, c.block))
    return attack.attack(
        x[train],
        labels[train],
        x[test],
        labels[test],
        attackers=config.attackers,
        cv_folds=config.cv_folds,
        seed=task.cv_seed,
    )


# ------------------------------------------------------------------------ the pool


def _call(fn: Callable[[_Shared, _Task], _Out], shared: _Shared, task: _Task) -> tuple[_Task, _Out]:
    return task, fn(shared, task)


def execute(
    fn: Callable[[_Shared, _Task], _Out],
    shared: _Shared,
    tasks: Sequence[_Task],
    jobs: int,
    bar: Progress,
) -> Iterator[tuple[_Task, _Out]]:
    """``(task, fn(shared, task))`` for every task, in completion order, on
    ``jobs`` worker processes; ``bar`` advances as each task completes and is
    closed at the end."""
    with bar:
        results: Iterable[tuple[_Task, _Out]]
        if jobs == 1 or len(tasks) <= 1:
            results = (_call(fn, shared, t) for t in tasks)
        else:
            joblib = import_extra("joblib", "dp_pix.evaluate with jobs > 1")
            parallel = joblib.Parallel(n_jobs=jobs, return_as="generator_unordered")
            results = parallel(joblib.delayed(_call)(fn, shared, t) for t in tasks)
        for item in results:
            bar.advance()
            yield item


def run_attack(
    evdata: EvalData,
    idx: np.ndarray | None,
    config: Config,
    seed: int,
    jobs: int,
    progress: bool | None,
) -> AttackResults:
    """The attack on every condition and split (nothing when ``idx`` is None:
    the data set has no classes to attack)."""
    if idx is None:
        return {}
    splits = config.splits if config.splits is not None else auto_splits(evdata, idx, config)
    conds = conditions(config)
    tasks = [
        AttackTask(
            condition=c,
            split=s,
            split_seed=derive_seed(seed, 2, s),
            noise_seed=derive_seed(seed, 3, s, k),
            cv_seed=derive_seed(seed, 4, s, k) % 2**31,
        )
        for s in range(splits)
        for k, c in enumerate(conds)
    ]
    # The originals and the blur take longest (most features): start them first.
    tasks.sort(key=lambda t: t.condition.method not in ("original", "blur"))
    shared = (evdata.images[idx], evdata.labels[idx], config)
    results: AttackResults = defaultdict(list)
    bar = Progress(len(tasks), label="attack", unit="task", enabled=progress)
    for task, res in execute(_attack_task, shared, tasks, jobs, bar):
        results[task.condition].append((task.split, res))
    return {c: sorted(results[c], key=lambda r: r[0]) for c in conds}


def utility_tasks(config: Config, channels: int, seed: int) -> list[UtilityTask]:
    """Every sweep point of DP-Pix and the noisy mosaic, each repetition; the
    mosaic and the blur once per block."""
    tasks = []
    for si, sweep in enumerate(SWEEPS):
        for pi, value in enumerate(config.sweep_values(sweep)):
            b, m, e = config.setting(sweep, value)
            sigma = matched_sigma(b, m, e, channels)
            for mi, method in enumerate(("dp-pix", "noisy-mosaic")):
                for r in range(config.repetitions):
                    tasks.append(
                        UtilityTask(
                            sweep, method, b, m, e, sigma if method == "noisy-mosaic" else None, r,
                            derive_seed(seed, 5, si, pi, mi, r),
                        )
                    )  # fmt: skip
    # The mosaic has no noise and no m or ε: once per block, filed under the b sweep.
    blocks = sorted(set(config.blocks) | {config.block})
    tasks += [UtilityTask("block", "mosaic", b, None, None, None, 0, 0) for b in blocks]
    tasks += [UtilityTask("block", "blur", b, None, None, None, 0, 0) for b in blocks]
    return tasks


def run_utility(
    images: np.ndarray, channels: int, config: Config, seed: int, jobs: int, progress: bool | None
) -> Utility:
    """Every utility task of :func:`utility_tasks` on ``images``."""
    tasks = utility_tasks(config, channels, seed)
    bar = Progress(len(tasks), label="utility", unit="task", enabled=progress)
    return dict(execute(_utility_task, images, tasks, jobs, bar))


# ------------------------------------------------------------------ subsets


def subsample(n: int, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` of ``range(n)``, chosen at random, in order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def attack_subset(
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
    chosen: list[int] = []
    total = 0
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


def auto_splits(evdata: EvalData, idx: np.ndarray | None, config: Config) -> int:
    """Splits enough for about TEST_PREDICTIONS test predictions, 5 to 20."""
    if idx is None:
        return 1
    counts = np.unique(evdata.labels[idx], return_counts=True)[1]
    n_test = sum(max(1, round(config.test_fraction * n)) for n in counts)
    return int(min(20, max(5, math.ceil(TEST_PREDICTIONS / n_test))))
