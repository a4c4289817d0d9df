"""The reconstruction attack of an evaluation: its conditions, its splits of
the classes into the attacker's public ones and the targets, and its tasks.

Protocol (per split, :func:`reconstruction_split`): the classes (people) are
split at random into *public* ones (``config.public_fraction``), whose
images the attacker holds, and *targets*. Each target's images are split as
in the re-identification attack into a *gallery* (the attacker's other
photos of the target, originals, with names) and *released* images (the
obfuscated ones it attacks). For every obfuscation (:func:`reconstruction_conditions`)
the attacker obfuscates the public images itself (fresh noise), learns maps
released → original from them (:mod:`dp_pix.reconstruct`), and applies
them to the targets' released images. Measured against the targets'
originals: PSNR, SSIM and MSE of every reconstruction (and of the released
image as it is); and re-identification: the classifiers of
:mod:`dp_pix.attack`, trained on the gallery, name the person in each
reconstruction (top-1, the classifier chosen by cross-validation on the
gallery). The mean face of the public people is the reference an attack
that learns nothing would reach.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

import numpy as np

from dp_pix import metrics
from dp_pix.attack import AttackResult, FittedAttack
from dp_pix.evaluate.config import Config, EvalData
from dp_pix.evaluate.tasks import (
    Condition,
    blur_sigma,
    derive_seed,
    execute,
    matched_sigma,
    obfuscate,
    view_block,
)
from dp_pix.progress import Progress

__all__ = [
    "RECONSTRUCTION_METRICS",
    "ReconstructOutcome",
    "ReconstructSplit",
    "ReconstructTask",
    "Reconstruction",
    "example_positions",
    "main_block",
    "reconstruction_conditions",
    "reconstruction_split",
    "run_reconstruction",
]

RECONSTRUCTION_METRICS = ("psnr", "ssim", "mse")
_SEED_KEY = 17
"""The first key of every seed this experiment derives (the others use 0–8)."""


@dataclass(frozen=True)
class ReconstructSplit:
    """Indices (into the attacked images) of one split."""

    public: np.ndarray
    """The attacker's public images (all of the public classes', at most
    ``config.max_public_images``)."""
    gallery: np.ndarray
    """The targets' images the attacker holds as originals, with identities."""
    released: np.ndarray
    """The targets' images the attacker sees only obfuscated."""


@dataclass(frozen=True)
class ReconstructTask:
    """The attack on one condition and one split."""

    condition: Condition
    split: int
    split_seed: int
    noise_seed: int
    cv_seed: int
    gallery_seed: int
    """Seeds the gallery classifiers' cross-validation: one per split, so that
    every condition of a split is judged by the same classifiers."""


@dataclass
class ReconstructOutcome:
    """What one task measured. Per reconstructor (``"none"``, the released
    image as it is, then each of ``config.reconstructors``): every released
    image's metrics, the re-identification results and the chosen
    hyperparameters."""

    values: dict[str, dict[str, np.ndarray]]
    """reconstructor -> metric (:data:`RECONSTRUCTION_METRICS`) -> per released image."""
    reid: dict[str, list[AttackResult]]
    params: dict[str, dict[str, float]]
    cv_mse: dict[str, float]
    n_released: int
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    """Split 0 only: the first released images and their reconstructions."""


@dataclass
class Reconstruction:
    """Every result of the experiment."""

    results: dict[Condition, list[tuple[int, ReconstructOutcome]]]
    """Per condition, ``(split, outcome)`` in split order."""
    mean_face: list[dict[str, np.ndarray]]
    """Per split: the mean face's metrics against every released image."""
    n_public: int
    n_targets: int
    n_gallery: int
    n_released: int
    example_originals: np.ndarray
    reconstructors: tuple[str, ...]


def reconstruction_conditions(config: Config, channels: int) -> list[Condition]:
    """The originals, then per block of ``config.reconstruct_blocks`` the blur,
    the mosaic and DP-Pix at each of ``config.reconstruct_epsilons``; the
    noisy mosaic (σ matched to DP-Pix) at ``config.block``."""
    m = config.m
    conds = [Condition("original", "original", "original")]
    for b in config.reconstruct_blocks:
        conds.append(Condition(f"blur-{b}", f"blur σ={blur_sigma(b):g}", "blur", block=b))
        conds.append(Condition(f"mosaic-{b}", f"mosaic {b}x{b}", "mosaic", block=b))
        if b == config.block:
            for e in config.reconstruct_epsilons:
                sigma = matched_sigma(b, m, e, channels)
                conds.append(
                    Condition(
                        f"noisy-mosaic-{b}-{e:g}", f"noisy mosaic {b}x{b} σ={sigma:.3g} (ε={e:g})",
                        "noisy-mosaic", block=b, m=m, epsilon=float(e), sigma=sigma,
                    )
                )  # fmt: skip
        for e in config.reconstruct_epsilons:
            conds.append(
                Condition(
                    f"dp-pix-{b}-{e:g}", f"DP-Pix b={b} ε={e:g}", "dp-pix", block=b, m=m,
                    epsilon=float(e),
                )
            )  # fmt: skip
    return conds


def main_block(config: Config) -> int:
    """The block the report and plots speak of: ``config.block`` if the
    reconstruction attack measured it, else its first block."""
    blocks = config.reconstruct_blocks
    return config.block if config.block in blocks else blocks[0]


def reconstruction_split(labels: np.ndarray, config: Config, seed: int) -> ReconstructSplit:
    """One random split: public classes and target classes, then each
    target's images into gallery and released ones (``config.test_fraction``
    released, at least 1). Needs at least 4 classes (2 public ones to
    cross-validate by person, 2 targets to tell apart)."""
    from dp_pix.attack import split_per_class

    classes = np.unique(labels)
    if classes.size < 4:
        raise ValueError("the reconstruction attack needs at least 4 classes")
    rng = np.random.default_rng(seed)
    order = rng.permutation(classes)
    n_public = int(np.clip(round(config.public_fraction * classes.size), 2, classes.size - 2))
    public = np.flatnonzero(np.isin(labels, order[:n_public]))
    if public.size > config.max_public_images:
        public = np.sort(rng.choice(public, size=config.max_public_images, replace=False))
    targets = np.flatnonzero(np.isin(labels, order[n_public:]))
    gallery, released = split_per_class(
        labels[targets], test_fraction=config.test_fraction, seed=rng.integers(2**63)
    )
    return ReconstructSplit(public=public, gallery=targets[gallery], released=targets[released])


def _reconstruct_task(
    shared: tuple[np.ndarray, np.ndarray, Config], task: ReconstructTask
) -> ReconstructOutcome:
    from dp_pix import attack, reconstruct

    images, labels, config = shared
    sp = reconstruction_split(labels, config, task.split_seed)
    c = task.condition
    both = np.concatenate([sp.public, sp.released])
    out = obfuscate(
        images[both], c.method, block=c.block, m=c.m, epsilon=c.epsilon, sigma=c.sigma,
        seed=task.noise_seed,
    )  # fmt: skip
    public_out, released_out = out[: sp.public.size], out[sp.public.size :]
    truth = images[sp.released]
    block = view_block(c.method, c.block)
    recons = {"none": released_out}
    params: dict[str, dict[str, float]] = {"none": {}}
    cv_mse: dict[str, float] = {}
    for name in config.reconstructors:
        recons[name], fitted = reconstruct.reconstruct(
            public_out, images[sp.public], labels[sp.public], released_out, method=name,
            block=block, folds=config.cv_folds, seed=task.cv_seed,
        )  # fmt: skip
        params[name] = fitted.params
        cv_mse[name] = fitted.cv_mse
    values = {name: _metrics(truth, rec) for name, rec in recons.items()}
    gallery = _gallery_attack(images, labels, sp.gallery, config, task.gallery_seed)
    released_y = labels[sp.released]
    names = list(recons)
    reid = [gallery.score(attack.cell_features(recons[name]), released_y) for name in names]
    examples = {}
    if task.split == 0:
        shown = example_positions(released_y, config.reconstruct_examples)
        examples = {name: rec[shown] for name, rec in recons.items()}
    return ReconstructOutcome(
        values=values,
        reid=dict(zip(names, reid)),
        params=params,
        cv_mse=cv_mse,
        n_released=int(sp.released.size),
        examples=examples,
    )


_GALLERY_CACHE: OrderedDict[bytes, FittedAttack] = OrderedDict()


def _gallery_attack(
    images: np.ndarray, labels: np.ndarray, gallery: np.ndarray, config: Config, seed: int
) -> FittedAttack:
    """The classifiers of :mod:`dp_pix.attack` trained on a split's gallery.

    The same for every condition of the split, so a worker process keeps the
    last few it trained (keyed by a digest of everything they depend on): the
    training takes longer than the reconstructions.
    """
    from dp_pix import attack

    x, y = images[gallery], labels[gallery]
    key = hashlib.sha256(
        repr((x.shape, config.attackers, config.cv_folds, seed)).encode()
        + x.tobytes() + np.ascontiguousarray(y).tobytes()
    ).digest()  # fmt: skip
    if key in _GALLERY_CACHE:
        _GALLERY_CACHE.move_to_end(key)
        return _GALLERY_CACHE[key]
    fitted = attack.fit_attack(
        attack.cell_features(x), y, attackers=config.attackers, cv_folds=config.cv_folds,
        seed=seed % 2**31,
    )  # fmt: skip
    _GALLERY_CACHE[key] = fitted
    while len(_GALLERY_CACHE) > 2:
        _GALLERY_CACHE.popitem(last=False)
    return fitted


def example_positions(labels: np.ndarray, k: int) -> np.ndarray:
    """Positions of the first image of each of the first ``k`` classes in ``labels``
    (in order of appearance): one example per person."""
    _, first = np.unique(labels, return_index=True)
    return np.sort(first)[:k]


def _metrics(truth: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "psnr": np.array([metrics.psnr(a, b) for a, b in zip(truth, images)]),
        "ssim": np.array([metrics.ssim(a, b) for a, b in zip(truth, images)]),
        "mse": np.array([metrics.mse(a, b) for a, b in zip(truth, images)]),
    }


def run_reconstruction(
    evdata: EvalData,
    idx: np.ndarray | None,
    config: Config,
    seed: int,
    jobs: int,
    progress: bool | None,
) -> tuple[Reconstruction | None, list[str]]:
    """The reconstruction attack on every condition and split of the images
    ``idx`` (the attack's subset); None, with a note saying why, where it
    cannot run."""
    if idx is None or config.reconstruct_splits == 0:
        return None, []
    images, labels = evdata.images[idx], evdata.labels[idx]
    if np.unique(labels).size < 4:
        return None, ["The reconstruction attack needs at least 4 classes: skipped."]
    conds = reconstruction_conditions(config, evdata.channels)
    tasks = [
        ReconstructTask(
            condition=c,
            split=s,
            split_seed=derive_seed(seed, _SEED_KEY, 0, s),
            noise_seed=derive_seed(seed, _SEED_KEY, 1, s, k),
            cv_seed=derive_seed(seed, _SEED_KEY, 2, s, k) % 2**32,
            gallery_seed=derive_seed(seed, _SEED_KEY, 3, s) % 2**32,
        )
        for s in range(config.reconstruct_splits)
        for k, c in enumerate(conds)
    ]
    # In split order: a worker then trains a split's gallery classifiers once.
    shared = (images, labels, config)
    results: dict[Condition, list[tuple[int, ReconstructOutcome]]] = defaultdict(list)
    bar = Progress(len(tasks), label="reconstruction", unit="task", enabled=progress)
    for task, res in execute(_reconstruct_task, shared, tasks, jobs, bar):
        results[task.condition].append((task.split, res))
    mean_face = []
    first: ReconstructSplit | None = None
    for s in range(config.reconstruct_splits):
        sp = reconstruction_split(labels, config, derive_seed(seed, _SEED_KEY, 0, s))
        first = first or sp
        face = np.rint(images[sp.public].astype(np.float64).mean(axis=0)).astype(np.uint8)
        truth = images[sp.released]
        mean_face.append(_metrics(truth, np.broadcast_to(face, truth.shape)))
    assert first is not None
    notes = []
    n_classes = np.unique(labels).size
    n_public_classes = np.unique(labels[first.public]).size
    if first.public.size < np.isin(labels, np.unique(labels[first.public])).sum():
        notes.append(
            f"The attacker learns from {first.public.size} images, a random subset of the "
            f"public classes' images (config.max_public_images)."
        )
    rec = Reconstruction(
        results={c: sorted(results[c], key=lambda r: r[0]) for c in conds},
        mean_face=mean_face,
        n_public=n_public_classes,
        n_targets=n_classes - n_public_classes,
        n_gallery=int(first.gallery.size),
        n_released=int(first.released.size),
        example_originals=images[
            first.released[example_positions(labels[first.released], config.reconstruct_examples)]
        ],
        reconstructors=("none", *config.reconstructors),
    )
    return rec, notes
