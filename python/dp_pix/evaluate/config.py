"""What the evaluation measures (:class:`Config`, :data:`FULL`, :data:`QUICK`)
and the images it measures it on (:func:`load_data`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dp_pix.attack import ATTACKERS
from dp_pix.reconstruct import RECONSTRUCTORS

if TYPE_CHECKING:
    from dp_pix.datasets import ImageDataset, PathLike

__all__ = [
    "CONFIDENCE",
    "DATASETS",
    "DATASET_TITLES",
    "FULL",
    "METHODS",
    "METHOD_LABELS",
    "QUICK",
    "SWEEPS",
    "SWEEP_AXIS",
    "SWEEP_SYMBOLS",
    "TEST_PREDICTIONS",
    "UTILITY_METRICS",
    "Config",
    "EvalData",
    "check_config",
    "fixed_settings",
    "load_data",
]

DATASETS = ("att", "omniglot", "miniimagenet", "folder")
DATASET_TITLES = {
    "att": "AT&T faces",
    "omniglot": "Omniglot",
    "miniimagenet": "miniImageNet",
    "folder": "image folder",
}
SWEEPS = ("block", "m", "epsilon")
SWEEP_AXIS = {"block": "block size b (pixels)", "m": "m (pixels protected)", "epsilon": "ε"}
"""Axis label of each sweep; the part before " (" names it in titles."""
SWEEP_SYMBOLS = {"block": "b", "m": "m", "epsilon": "ε"}
METHODS = ("dp-pix", "noisy-mosaic", "mosaic", "blur")
METHOD_LABELS = {
    "original": "original",
    "mosaic": "mosaic (not private)",
    "noisy-mosaic": "noisy mosaic (not private)",
    "blur": "Gaussian blur, σ = b/2 (not private)",
    "dp-pix": "DP-Pix",
    "random": "random guessing",
    "mean-face": "mean face of the public people (ignores the image)",
}
UTILITY_METRICS = ("mse", "ssim", "mse_uint8_wrapped")
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
    mosaicked, and cut out again (:mod:`dp_pix.evaluate.regions`)."""
    reconstruct_blocks: tuple[int, ...] = (8, 16, 32)
    """Block sizes of the reconstruction attack (blur, mosaic and DP-Pix at each;
    the noisy mosaic at ``block`` only)."""
    reconstruct_epsilons: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
    """ε of DP-Pix (and of the matched noisy mosaic) in the reconstruction attack (m = ``m``)."""
    reconstruct_splits: int = 20
    """Random splits of the classes into the attacker's public ones and the targets."""
    reconstructors: tuple[str, ...] = RECONSTRUCTORS
    public_fraction: float = 0.5
    """Share of the classes whose images (and their obfuscations) the attacker holds;
    the others are the targets."""
    max_public_images: int = 400
    """The attacker learns from at most this many public images (a random subset)."""
    reconstruct_examples: int = 3
    """Target images shown in the reconstruction example figure."""
    name: str = "full"

    def sweep_values(self, sweep: str) -> tuple[float, ...]:
        """The values the sweep ``sweep`` (one of :data:`SWEEPS`) runs over."""
        return {"block": self.blocks, "m": self.ms, "epsilon": self.epsilons}[sweep]

    def setting(self, sweep: str, value: float) -> tuple[int, int, float]:
        """``(b, m, ε)`` at ``value`` of the sweep ``sweep``, the others held fixed."""
        block = int(value) if sweep == "block" else self.block
        m = int(value) if sweep == "m" else self.m
        epsilon = float(value) if sweep == "epsilon" else self.epsilon
        return block, m, epsilon


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
    reconstruct_blocks=(8, 16),
    reconstruct_epsilons=(0.03, 0.1, 0.3, 1.0, 4.0),
    reconstruct_splits=4,
    name="quick",
)


def check_config(config: Config) -> None:
    """Raise ``TypeError``/``ValueError`` naming what is wrong with ``config``."""
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
    _check_reconstruction(config)


def _check_reconstruction(config: Config) -> None:
    if not config.reconstruct_blocks or not config.reconstruct_epsilons:
        raise ValueError("config.reconstruct_blocks and reconstruct_epsilons must not be empty")
    if min(config.reconstruct_blocks) < 1 or min(config.reconstruct_epsilons) <= 0:
        raise ValueError("config.reconstruct_blocks must be >= 1 and reconstruct_epsilons > 0")
    if config.reconstruct_splits < 0:
        raise ValueError("config.reconstruct_splits must be >= 0 (0: no reconstruction attack)")
    unknown = set(config.reconstructors) - set(RECONSTRUCTORS)
    if unknown or not config.reconstructors:
        raise ValueError(f"config.reconstructors must be among {', '.join(RECONSTRUCTORS)}")
    if not 0 < config.public_fraction < 1:
        raise ValueError("config.public_fraction must lie strictly between 0 and 1")
    if config.max_public_images < 4:
        raise ValueError("config.max_public_images must be >= 4")


def fixed_settings(config: Config, sweep: str) -> str:
    """The parameters held fixed in the sweep ``sweep``, e.g. ``"m=16, ε=0.5"``."""
    parts = {
        "block": f"b={config.block}",
        "m": f"m={config.m}",
        "epsilon": f"ε={config.epsilon:g}",
    }
    return ", ".join(v for k, v in parts.items() if k != sweep)


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


def load_data(
    dataset: str, data: PathLike | None = None, *, config: Config = FULL, seed: int = 0
) -> EvalData:
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


def _relabel(ds: ImageDataset) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels 0..K-1 for the classes present in a subset, and their names."""
    codes, labels = np.unique(ds.labels, return_inverse=True)
    return labels, tuple(ds.class_names[c] for c in codes)


def _limit_classes(ds: ImageDataset, config: Config, seed: int, notes: list[str]) -> ImageDataset:
    """At most as many images as the evaluation uses, in whole random classes."""
    limit = max(config.max_attack_images, config.max_images)
    if len(ds) <= limit:
        return ds
    classes, counts = np.unique(ds.labels, return_counts=True)
    chosen: list[int] = []
    total = 0
    for i in np.random.default_rng(seed).permutation(classes.size):
        if total + counts[i] > limit and len(chosen) >= 2:
            continue
        chosen.append(int(classes[i]))
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
