"""Reconstruction attacks: can an attacker who has seen obfuscated images of
*other* people learn to undo the obfuscation on the people it targets?

Blur and pixelization are known to be reversible in this sense (McPherson,
Shokri & Shmatikov, "Defeating Image Obfuscation with Deep Learning", 2016;
Hill et al., "On the (In)effectiveness of Mosaicing and Blurring as Tools for
Document Redaction", PETS 2016). This module measures it for any
obfuscation, DP-Pix included.

**Threat model.** The attacker

- knows the obfuscation and every parameter of it (b, m, ε, the blur's σ),
  as PRIVACY.md §1 allows;
- holds public images of other people, none of them a target (disjoint
  subjects), obfuscates them itself with the same method and parameters
  (with its own noise), and so gets pairs (released, original);
- learns from these pairs a map released → original, choosing its
  hyperparameters by cross-validation *grouped by person*, so that they are
  chosen for people the map has not seen (as the targets are);
- applies the map to the released images of the targets.

What the reconstructions reveal is then measured against the targets'
originals (PSNR, SSIM: :mod:`dp_pix.metrics`) and by re-identification
against a gallery of the targets' other photos (:func:`dp_pix.attack.attack_sets`).

**The maps** (:data:`RECONSTRUCTORS`), both kernel ridge regressions
(scikit-learn's ``KernelRidge``) on the attacker's view of the released
image (:func:`dp_pix.attack.cell_features`: one value per cell of a
pixelized image, every pixel otherwise):

- ``ridge``: the linear kernel — ridge regression from the released image
  to the original (a linear map, with an intercept);
- ``kernel-ridge``: the RBF kernel ``exp(-γ·|x - x'|²)`` — non-linear, a
  smooth blend of the training faces whose released versions look most
  like the input.

A regression from released to original images predicts combinations of the
training originals, so it cannot produce a face outside their span — and a
new person's face is not in the span of a few hundred others. So the
prediction adds back part of the released image itself::

    x̂ = a·x + T̂(x),   T̂ the regression of the targets  t = original - a·released,

with ``a ∈ [0, 1]`` chosen with the other hyperparameters. ``a = 1`` keeps
what the released image shows of the new face (the cells of a mosaic, the
coarse shape of a blur; all of an image left as it is, which is then
reconstructed exactly) and learns the detail; ``a = 0`` is the pure
regression, which is best when the released image is mostly noise (its
prediction then falls back to the mean face); in between it trades one for
the other, like a Wiener filter.

Hyperparameters (ridge ``alpha``; RBF ``gamma``; ``a``) are chosen by
grouped K-fold cross-validation on the attacker's pairs, minimizing the
squared error in pixels. For kernel ridge the validation errors of every
``alpha`` come in closed form from one eigendecomposition per fold, and the
error is a quadratic in ``a``, minimized exactly; the final map is then
fitted by scikit-learn's ``KernelRidge``.

scikit-learn comes with the ``eval`` extra: ``pip install 'dp-pix[eval]'``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dp_pix.attack import cell_features
from dp_pix.metrics import import_extra

__all__ = [
    "ALPHAS",
    "GAMMAS",
    "RECONSTRUCTORS",
    "RECONSTRUCTOR_LABELS",
    "Reconstructor",
    "fit_reconstructor",
    "grouped_folds",
    "reconstruct",
]

RECONSTRUCTORS = ("ridge", "kernel-ridge")
RECONSTRUCTOR_LABELS = {
    "none": "the released image as it is",
    "ridge": "ridge regression, linear",
    "kernel-ridge": "kernel ridge with an RBF kernel, non-linear",
}
ALPHAS = tuple(10.0**k for k in range(-3, 5))
"""The ridge penalties tried. Features are scaled so that the centred
training rows have a mean squared norm of 1: the kernel matrix then has a
trace of n, and the grid means the same whatever the image size."""
GAMMAS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
"""The RBF widths tried, on the same scale (two training rows are about
√2 apart on average)."""

_KERNELS = {"ridge": "linear", "kernel-ridge": "rbf"}


@dataclass(frozen=True, eq=False)
class Reconstructor:
    """A map from released images to originals, learned from other people's
    pairs by :func:`fit_reconstructor`; :meth:`predict` applies it."""

    method: str
    """One of :data:`RECONSTRUCTORS`."""
    block: int | tuple[int, int] | None
    """The cell size whose one value per cell the map reads (None: every pixel)."""
    alpha: float
    gamma: float | None
    """The RBF width (None for ``ridge``)."""
    skip: float
    """``a``: the share of the released image kept in the prediction."""
    cv_mse: float
    """The grouped cross-validation MSE (grey levels²) at the chosen hyperparameters."""
    n_train: int
    shape: tuple[int, ...]
    _model: Any = field(repr=False)
    _offset: np.ndarray = field(repr=False)
    _centre: np.ndarray = field(repr=False)
    _scale: float = field(repr=False)

    @property
    def params(self) -> dict[str, float]:
        """The chosen hyperparameters, by name."""
        out = {"alpha": self.alpha, "skip": round(self.skip, 4)}
        if self.gamma is not None:
            out["gamma"] = self.gamma
        return out

    def predict(self, released: Any) -> np.ndarray:
        """The reconstructions of uint8 images ``(N, H, W[, C])`` of the shape
        the map was trained on: uint8, same shape."""
        x = _images(released, "released")
        if x.shape[1:] != self.shape:
            raise ValueError(
                f"released images must have the shape the map was trained on, "
                f"{self.shape}; got {x.shape[1:]}"
            )
        threadpoolctl = import_extra("threadpoolctl", "the reconstruction attack")
        with threadpoolctl.threadpool_limits(1):
            phi = (cell_features(x, self.block) - self._centre) / self._scale
            flat = x.reshape(len(x), -1).astype(np.float64)
            out = self.skip * flat + self._offset + self._model.predict(phi)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(x.shape)


def grouped_folds(groups: Any, folds: int, seed: int = 0) -> list[np.ndarray]:
    """``folds`` boolean masks (validation rows) that never split a group:
    the groups are shuffled (by ``seed``) and dealt out in turn."""
    g = np.asarray(groups)
    names = np.unique(g)
    if names.size < 2:
        raise ValueError("cross-validation by group needs at least 2 groups (people)")
    k = min(int(folds), names.size)
    if k < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    order = np.random.default_rng(seed).permutation(names)
    fold_of = {name: i % k for i, name in enumerate(order.tolist())}
    ids = np.array([fold_of[v] for v in g.tolist()])
    return [ids == i for i in range(k)]


def fit_reconstructor(
    released: Any,
    originals: Any,
    groups: Any,
    *,
    method: str = "ridge",
    block: int | tuple[int, int] | None = None,
    folds: int = 3,
    seed: int = 0,
    alphas: Sequence[float] = ALPHAS,
    gammas: Sequence[float] = GAMMAS,
) -> Reconstructor:
    """Learn a map released → original from the attacker's pairs.

    ``released`` and ``originals``: uint8 ``(N, H, W[, C])``, image i of one
    the obfuscated version of image i of the other; ``groups``: the person
    (class) of each pair, so that cross-validation holds out whole people.
    ``method``: one of :data:`RECONSTRUCTORS`. ``block``: read one value per
    cell of this size (for pixelized images, which hold nothing else), or
    every pixel (None). ``folds``: grouped cross-validation folds (fewer if
    there are fewer groups); ``seed`` deals the groups into folds.
    """
    if method not in RECONSTRUCTORS:
        raise ValueError(f"method must be one of {', '.join(RECONSTRUCTORS)}; got {method!r}")
    x = _images(released, "released")
    y = _images(originals, "originals")
    if x.shape != y.shape:
        raise ValueError(
            f"released and originals must have the same shape, got {x.shape} and {y.shape}"
        )
    g = np.asarray(groups)
    if g.shape != (len(x),):
        raise ValueError(f"groups must have one entry per image ({len(x)}), got shape {g.shape}")
    if not alphas or any(not a > 0 for a in alphas):
        raise ValueError("alphas must be a non-empty sequence of numbers > 0")
    if method == "kernel-ridge" and (not gammas or any(not v > 0 for v in gammas)):
        raise ValueError("gammas must be a non-empty sequence of numbers > 0")
    masks = grouped_folds(g, folds, seed)
    kr = import_extra("sklearn.kernel_ridge", "the reconstruction attack")
    threadpoolctl = import_extra("threadpoolctl", "the reconstruction attack")
    # One BLAS thread, as in dp_pix.attack: parallelism comes from processes.
    with threadpoolctl.threadpool_limits(1):
        features = cell_features(x, block)
        centre = features.mean(axis=0)
        phi = features - centre
        scale = math.sqrt(float(np.mean(np.einsum("ij,ij->i", phi, phi))))
        if scale == 0:  # every released image alike: nothing to learn from them
            scale = 1.0
        phi /= scale
        flat_x = x.reshape(len(x), -1).astype(np.float64)
        flat_y = y.reshape(len(y), -1).astype(np.float64)
        kernel = _KERNELS[method]
        alpha, gamma, skip, err = _select(
            phi, flat_y, flat_x, masks, kernel, list(alphas),
            list(gammas) if kernel == "rbf" else [None],
        )  # fmt: skip
        targets = flat_y - skip * flat_x
        offset = targets.mean(axis=0)
        model = kr.KernelRidge(alpha=alpha, kernel=kernel, gamma=gamma)
        model.fit(phi, targets - offset)
    return Reconstructor(
        method=method,
        block=block,
        alpha=alpha,
        gamma=gamma,
        skip=skip,
        cv_mse=err / flat_y.size,
        n_train=len(x),
        shape=tuple(x.shape[1:]),
        _model=model,
        _offset=offset,
        _centre=centre,
        _scale=scale,
    )


def reconstruct(
    train_released: Any,
    train_originals: Any,
    groups: Any,
    target_released: Any,
    *,
    method: str = "ridge",
    block: int | tuple[int, int] | None = None,
    folds: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, Reconstructor]:
    """Fit a map on the attacker's pairs (:func:`fit_reconstructor`) and apply
    it to the targets' released images: ``(reconstructions, map)``."""
    fitted = fit_reconstructor(
        train_released, train_originals, groups, method=method, block=block, folds=folds,
        seed=seed,
    )  # fmt: skip
    return fitted.predict(target_released), fitted


# ------------------------------------------------------------------ internals


def _images(images: Any, name: str) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 images, got dtype {x.dtype}")
    if x.ndim not in (3, 4) or len(x) == 0:
        raise ValueError(f"{name} must have shape (N, H, W) or (N, H, W, C), N >= 1; got {x.shape}")
    return x


def _select(
    phi: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    masks: list[np.ndarray],
    kernel: str,
    alphas: list[float],
    gammas: list[float | None],
) -> tuple[float, float | None, float, float]:
    """``(alpha, gamma, a, summed squared error)`` minimizing the grouped
    cross-validation error of ``x̂ = a·x + T̂`` with ``T = y - a·x``.

    A fold's kernel ridge predictions on its validation rows v are linear in
    its training targets: the residuals are ``B·T`` for an ``n_v × n`` matrix
    B (which annihilates constants: the intercept is the training mean). So
    the squared error is ``|B·y|² - 2a·<B·y, B·x> + a²·|B·x|²``, computed from
    the n×n Gram matrices of the centred targets, and minimized over
    ``a ∈ [0, 1]`` in closed form.
    """
    n = len(phi)
    yc, xc = y - y.mean(axis=0), x - x.mean(axis=0)
    gram_yy, gram_yx, gram_xx = yc @ yc.T, yc @ xc.T, xc @ xc.T
    gram = phi @ phi.T
    diag = np.diag(gram)
    best: tuple[float, float, float | None, float] | None = None
    for gamma in gammas:
        sums = np.zeros((len(alphas), 3))
        for val in masks:
            tr = ~val
            k_tt, k_vt = _kernel_blocks(gram, diag, tr, val, kernel, gamma)
            lam, q = np.linalg.eigh(k_tt)
            lam = np.maximum(lam, 0.0)
            kq = k_vt @ q
            n_t = int(tr.sum())
            for j, alpha in enumerate(alphas):
                p = (kq / (lam + alpha)) @ q.T  # validation predictions = p · training targets
                b = np.zeros((int(val.sum()), n))
                b[:, val] = np.eye(int(val.sum()))
                b[:, tr] = -p - np.outer(1.0 - p.sum(axis=1), np.full(n_t, 1.0 / n_t))
                sums[j] += (_quad(b, gram_yy), _quad(b, gram_yx), _quad(b, gram_xx))
        for j, alpha in enumerate(alphas):
            e_yy, e_yx, e_xx = sums[j]
            a = min(1.0, max(0.0, e_yx / e_xx)) if e_xx > 0 else 0.0
            err = max(0.0, e_yy - 2 * a * e_yx + a * a * e_xx)
            if best is None or err < best[0]:
                best = (err, alpha, gamma, a)
    assert best is not None
    err, alpha, gamma, a = best
    return float(alpha), gamma, float(a), float(err)


def _kernel_blocks(
    gram: np.ndarray,
    diag: np.ndarray,
    tr: np.ndarray,
    val: np.ndarray,
    kernel: str,
    gamma: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The kernel among a fold's training rows and from its validation rows
    to them. Linear: on features centred on the fold's training mean (ridge
    with an intercept). RBF: from the squared distances."""
    if kernel == "linear":
        row = gram[:, tr].mean(axis=1)
        total = row[tr].mean()
        k = gram - row[:, None] - row[None, :] + total
        return k[np.ix_(tr, tr)], k[np.ix_(val, tr)]
    assert gamma is not None
    d2 = np.maximum(diag[:, None] + diag[None, :] - 2 * gram, 0.0)
    k = np.exp(-gamma * d2)
    return k[np.ix_(tr, tr)], k[np.ix_(val, tr)]


def _quad(b: np.ndarray, gram: np.ndarray) -> float:
    """``trace(b · gram · bᵀ)``."""
    return float(np.einsum("ij,ij->", b @ gram, b))
