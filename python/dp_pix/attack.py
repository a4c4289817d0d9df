"""Re-identification attacks: how well can a classifier tell who (or what) is in
an obfuscated image?

The setting of Fan (2018), Sec. 5: the attacker holds obfuscated images of
known people (the training set, with identities), and must name the people in
other obfuscated images of them (the test set). Each attacker here is a
scikit-learn pipeline, tuned by cross-validation **on the training images
only** over a small grid, then refitted on all of them and scored once on the
test images: top-1 accuracy (the paper's measure) and top-5.

Attackers (:data:`ATTACKERS`):

- ``logreg``: multinomial logistic regression (L2, C tuned);
- ``linear-svm``: linear support vector machine, one-vs-rest (C tuned);
- ``knn``: k nearest neighbours (k tuned), classes ranked by votes, ties
  and the top-5 broken by the distance to the class's nearest example;
- ``centroid``: nearest class centroid, either the class mean with Euclidean
  distance or the class median with Manhattan (L1) distance (tuned): with
  Laplace noise on every cell, the L1 distance to the median is close to the
  likelihood an informed attacker would use;
- ``eigenfaces``: PCA with whitening (kept variance tuned) + RBF SVM (C tuned),
  Turk & Pentland 1991;
- ``fisherfaces``: PCA (kept variance tuned) + linear discriminant analysis
  with Ledoit-Wolf shrinkage, Belhumeur et al. 1997 — the classical choice
  when classes differ in their means and share a covariance, as they do when
  independent noise is added to every cell.

``best`` is the attacker an adversary would pick without looking at the test
set: the one with the highest cross-validation accuracy on the training
images. (Taking the maximum of the test accuracies instead would be biased
upwards, most of all near chance.)

Features: the attacker sees the released image. For a pixelized image it
reads one pixel per cell (:func:`cell_features`): the full-size output holds
nothing else, and the block size is visible in the image. Where there are
more features than training images the training images are first expressed
in a basis of the space they span (:func:`attack` explains why this loses
nothing).

scikit-learn comes with the ``eval`` extra: ``pip install 'dp-pix[eval]'``.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dp_pix.metrics import import_extra

__all__ = [
    "ATTACKERS",
    "ATTACKER_LABELS",
    "AttackResult",
    "FittedAttack",
    "attack",
    "attack_sets",
    "cell_features",
    "chance",
    "fit_attack",
    "make_attacker",
    "split_per_class",
]

ATTACKERS = ("logreg", "linear-svm", "knn", "centroid", "eigenfaces", "fisherfaces")
ATTACKER_LABELS = {
    "logreg": "logistic regression",
    "linear-svm": "linear SVM",
    "knn": "k-NN",
    "centroid": "nearest centroid",
    "eigenfaces": "eigenfaces (PCA + RBF SVM)",
    "fisherfaces": "fisherfaces (PCA + LDA)",
    "best": "best (chosen by CV on training images)",
}
TOP_K = 5


@dataclass(frozen=True)
class AttackResult:
    """One attacker's score on one train/test split."""

    attacker: str
    top1: float
    """Fraction of test images whose label is the attacker's first guess."""
    topk: float | None
    """Fraction whose label is among its ``k`` first guesses (None with ≤ k classes)."""
    k: int
    cv_top1: float
    """Mean cross-validation accuracy on the training images, at the chosen parameters."""
    n_test: int
    n_classes: int
    params: dict[str, Any] = field(default_factory=dict)
    """The chosen hyperparameters (for ``best``, also ``attacker``)."""


def chance(n_classes: int, k: int = 1) -> float:
    """Accuracy of random guessing among ``n_classes``: ``min(k, n) / n``."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    return min(k, n_classes) / n_classes


def split_per_class(
    labels: Any, *, test_fraction: float = 0.2, seed: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with ``round(test_fraction · n_c)`` test images
    (at least 1) from every class, chosen at random, the rest for training.

    AT&T faces (10 per subject) give the paper's 8 training and 2 test
    images per subject. Every class needs at least 2 training images (the
    attackers are tuned by cross-validation on them): a class with fewer
    than 3 images is a ``ValueError``; drop such classes first.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_test = max(1, round(test_fraction * idx.size))
        if idx.size - n_test < 2:
            raise ValueError(
                f"class {c!r} has {idx.size} image(s); a split needs at least 2 training images "
                "and 1 test image per class: drop classes with fewer than 3 images"
            )
        chosen = rng.permutation(idx)
        test.append(chosen[:n_test])
        train.append(chosen[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def cell_features(images: Any, block: int | tuple[int, int] | None = None) -> np.ndarray:
    """The attacker's view of uint8 images ``(N, H, W[, C])``: one row per image,
    grey levels scaled to [0, 1].

    With ``block`` (of a pixelized full-size image), one pixel per cell — its
    top-left one, which carries the cell's value; without, every pixel.
    """
    x = np.asarray(images)
    if x.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {x.shape}")
    if block is not None:
        bh, bw = (block, block) if isinstance(block, int) else block
        x = x[:, ::bh, ::bw]
    return x.reshape(x.shape[0], -1).astype(np.float64) / 255.0


# ------------------------------------------------------------------ attackers


@functools.cache
def _knn_class() -> type:
    # A module loaded at run time: its classes are known to mypy as Any.
    base: Any = import_extra("sklearn.base", "the k-NN attacker")

    class KNNAttacker(base.ClassifierMixin, base.BaseEstimator):
        """k nearest neighbours (Euclidean, uniform votes) that ranks every class.

        Score of a class: its votes among the k nearest training images, plus
        a fraction below one that grows as its nearest example gets closer; so
        the first guess is the majority vote (ties to the nearer class) and the
        rest of the ranking (top-5) goes by distance to each class.
        """

        def __init__(self, n_neighbors: int = 1) -> None:
            self.n_neighbors = n_neighbors

        def fit(self, X: Any, y: Any) -> KNNAttacker:
            self.classes_, self._codes = np.unique(np.asarray(y), return_inverse=True)
            self._train = np.asarray(X, dtype=np.float64)
            self._norms = np.einsum("ij,ij->i", self._train, self._train)
            return self

        def decision_function(self, X: Any) -> np.ndarray:
            x = np.asarray(X, dtype=np.float64)
            d = np.einsum("ij,ij->i", x, x)[:, None] + self._norms[None, :] - 2 * x @ self._train.T
            n, n_classes = x.shape[0], self.classes_.size
            k = max(1, min(int(self.n_neighbors), d.shape[1]))
            nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
            votes = np.zeros((n, n_classes))
            np.add.at(votes, (np.repeat(np.arange(n), k), self._codes[nearest].ravel()), 1.0)
            closest = np.full((n, n_classes), np.inf)
            for c in range(n_classes):
                closest[:, c] = d[:, self._codes == c].min(axis=1)
            closest = np.maximum(closest, 0.0)
            nearness = 1.0 - closest / (closest.max(axis=1, keepdims=True) + 1e-12)
            return votes + 0.5 * nearness

        def predict(self, X: Any) -> np.ndarray:
            return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    return KNNAttacker


@functools.cache
def _centroid_class() -> type:
    base: Any = import_extra("sklearn.base", "the nearest-centroid attacker")

    class CentroidAttacker(base.ClassifierMixin, base.BaseEstimator):
        """Nearest class centroid: the mean with ``metric="euclidean"``, the
        per-feature median with ``metric="manhattan"``. Classes are ranked by
        distance."""

        def __init__(self, metric: str = "euclidean") -> None:
            self.metric = metric

        def fit(self, X: Any, y: Any) -> CentroidAttacker:
            x = np.asarray(X, dtype=np.float64)
            self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
            centre = np.median if self.metric == "manhattan" else np.mean
            self.centroids_ = np.stack(
                [centre(x[codes == c], axis=0) for c in range(self.classes_.size)]
            )
            return self

        def decision_function(self, X: Any) -> np.ndarray:
            x = np.asarray(X, dtype=np.float64)
            if self.metric == "manhattan":
                return -np.stack([np.abs(x - c).sum(axis=1) for c in self.centroids_], axis=1)
            if self.metric != "euclidean":
                raise ValueError(f"metric must be 'euclidean' or 'manhattan', got {self.metric!r}")
            c = self.centroids_
            return -(np.einsum("ij,ij->i", c, c)[None, :] - 2 * x @ c.T)

        def predict(self, X: Any) -> np.ndarray:
            return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    return CentroidAttacker


def make_attacker(name: str) -> tuple[Any, dict[str, list[Any]]]:
    """A fresh (estimator, parameter grid) for attacker ``name`` (see :data:`ATTACKERS`)."""
    if name not in ATTACKERS:
        raise ValueError(f"attacker must be one of {', '.join(ATTACKERS)}; got {name!r}")
    feature = f"the {name} attacker"
    pipeline = import_extra("sklearn.pipeline", feature)
    if name == "logreg":
        lm = import_extra("sklearn.linear_model", feature)
        est = lm.LogisticRegression(tol=1e-3, max_iter=300)
        return est, {"C": [0.1, 1.0, 10.0, 100.0]}
    if name == "linear-svm":
        svm = import_extra("sklearn.svm", feature)
        return svm.LinearSVC(max_iter=2000), {"C": [0.01, 0.1, 1.0, 10.0]}
    if name == "knn":
        return _knn_class()(), {"n_neighbors": [1, 3, 5, 9]}
    if name == "centroid":
        return _centroid_class()(), {"metric": ["euclidean", "manhattan"]}
    decomposition = import_extra("sklearn.decomposition", feature)
    if name == "eigenfaces":
        svm = import_extra("sklearn.svm", feature)
        est = pipeline.Pipeline(
            [
                ("pca", decomposition.PCA(whiten=True, svd_solver="full")),
                ("svm", svm.SVC(kernel="rbf", gamma="scale")),
            ]
        )
        return est, {"pca__n_components": [0.8, 0.9, 0.95], "svm__C": [1.0, 10.0, 100.0]}
    da = import_extra("sklearn.discriminant_analysis", feature)
    est = pipeline.Pipeline(
        [
            ("pca", decomposition.PCA(svd_solver="full")),
            ("lda", da.LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")),
        ]
    )
    return est, {"pca__n_components": [0.8, 0.9, 0.95, 0.99]}


def _training_span(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre on the training mean; with more features than training images,
    change to an orthonormal basis of the span of the centred training images.
    Then divide by one number, so the centred training rows have a mean squared
    norm of 1: the C grids then mean the same whatever the image size."""
    projection, a = _Projection.fit(train)
    return a, projection(test)


@dataclass(frozen=True, eq=False)
class _Projection:
    """What :func:`_training_span` does to a test row: centre, change basis, scale."""

    mean: np.ndarray
    basis: np.ndarray | None
    """None: keep the features (no more of them than training rows)."""
    scale: float

    @classmethod
    def fit(cls, train: np.ndarray) -> tuple[_Projection, np.ndarray]:
        """The projection of ``train``, and the training rows projected."""
        mean = train.mean(axis=0)
        a = train - mean
        basis = None
        if a.shape[1] > a.shape[0]:
            # The basis from the eigenvectors of the small Gram matrix a·aᵀ = U·S²·Uᵀ:
            # V = aᵀ·U/S. Much faster than an SVD of the wide matrix a.
            w, u = np.linalg.eigh(a @ a.T)
            keep = w > max(float(w[-1]), 0.0) * 1e-10
            if not keep.any():  # all training images are equal: nothing to learn from
                basis, a = np.zeros((a.shape[1], 1)), np.zeros((a.shape[0], 1))
            else:
                s = np.sqrt(w[keep])
                basis = (a.T @ u[:, keep]) / s
                a = u[:, keep] * s
        scale = math.sqrt(float(np.mean(np.einsum("ij,ij->i", a, a))))
        if not scale > 0:
            scale = 1.0
        return cls(mean, basis, scale), a / scale

    def __call__(self, x: np.ndarray) -> np.ndarray:
        b = x - self.mean
        if self.basis is not None:
            b = b @ self.basis
        return b / self.scale


def _scores(estimator: Any, x: np.ndarray) -> np.ndarray:
    if hasattr(estimator, "decision_function"):
        s = np.asarray(estimator.decision_function(x), dtype=np.float64)
    else:
        s = np.asarray(estimator.predict_proba(x), dtype=np.float64)
    if s.ndim == 1:  # two classes: one score for the second class
        s = np.stack([-s, s], axis=1)
    return s


def _short(params: dict[str, Any]) -> dict[str, Any]:
    return {k.rsplit("__", 1)[-1]: v for k, v in params.items()}


def attack(
    train_x: Any,
    train_y: Any,
    test_x: Any,
    test_y: Any,
    *,
    attackers: Sequence[str] = ATTACKERS,
    cv_folds: int = 4,
    k: int = TOP_K,
    seed: int = 0,
) -> list[AttackResult]:
    """Train every attacker on ``(train_x, train_y)``, score it on the test set.

    ``train_x``/``test_x`` are feature rows (see :func:`cell_features`). Each
    attacker is tuned by stratified ``cv_folds``-fold cross-validation (fewer
    folds if a class has fewer training images) on the training rows only,
    refitted on all of them, and scored on the test rows. The result has one
    :class:`AttackResult` per attacker, then ``best``.

    When there are more features than training rows, both sets are first
    centred and projected onto the span of the centred training rows. That
    is lossless for these attackers: an L2-penalized linear model's weights
    lie in that span (representer theorem), PCA components do too, and a test
    row's distance to every training row grows by the same amount (its part
    outside the span), so neighbour rankings do not change. It makes the
    high-dimensional originals (10,304 pixels of an AT&T face) fast to attack.
    Finally all features are divided by one number (centred training rows of
    mean squared norm 1), which changes no ranking and only sets the scale on
    which the C grids of the linear models and SVMs are laid out.
    """
    return attack_sets(
        train_x, train_y, [(test_x, test_y)], attackers=attackers, cv_folds=cv_folds, k=k,
        seed=seed,
    )[0]  # fmt: skip


def attack_sets(
    train_x: Any,
    train_y: Any,
    tests: Sequence[tuple[Any, Any]],
    *,
    attackers: Sequence[str] = ATTACKERS,
    cv_folds: int = 4,
    k: int = TOP_K,
    seed: int = 0,
) -> list[list[AttackResult]]:
    """:func:`attack` with several test sets: each attacker is tuned and
    trained once on ``(train_x, train_y)`` and scored on every ``(test_x,
    test_y)`` of ``tests``; one list of results (every attacker, then
    ``best``, chosen once by cross-validation) per test set.

    For a gallery of known images scored against several versions of the
    same probes (e.g. their reconstructions by different attacks,
    :mod:`dp_pix.reconstruct`).
    """
    if not tests:
        raise ValueError("tests must hold at least one (test_x, test_y) pair")
    n_features = np.shape(train_x)[-1] if np.ndim(train_x) == 2 else None
    for test_x, test_y in tests:
        _check_test(n_features, test_x, test_y)
    fitted = fit_attack(
        train_x, train_y, attackers=attackers, cv_folds=cv_folds, k=k, seed=seed
    )
    return [fitted.score(test_x, test_y) for test_x, test_y in tests]


def _check_test(n_features: int | None, test_x: Any, test_y: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(test_x, dtype=np.float64), np.asarray(test_y)
    if x.ndim != 2 or (n_features is not None and x.shape[1] != n_features):
        raise ValueError(
            f"train_x and test_x must be 2-D with the same number of columns, got "
            f"{n_features} and {x.shape}"
        )
    if y.shape != (x.shape[0],):
        raise ValueError("train_y and test_y must have one label per row of train_x and test_x")
    return x, y


@dataclass(frozen=True, eq=False)
class FittedAttack:
    """Every attacker tuned and trained on one training set (:func:`fit_attack`);
    :meth:`score` scores them on a test set."""

    searches: tuple[tuple[str, Any], ...]
    """``(attacker, fitted GridSearchCV)`` in the order asked for."""
    classes: np.ndarray
    k: int
    n_features: int
    projection: _Projection

    def score(self, test_x: Any, test_y: Any) -> list[AttackResult]:
        """Every attacker's :class:`AttackResult` on ``(test_x, test_y)``, then ``best``."""
        x, y = _check_test(self.n_features, test_x, test_y)
        threadpoolctl = import_extra("threadpoolctl", "the attack")
        out = []
        with threadpoolctl.threadpool_limits(1):
            z = self.projection(x)
            for name, search in self.searches:
                scores = _scores(search.best_estimator_, z)
                order = np.argsort(-scores, axis=1, kind="stable")
                ranked = search.best_estimator_.classes_[order]
                top1 = float(np.mean(ranked[:, 0] == y))
                topk = None
                if self.classes.size > self.k:
                    topk = float(np.mean(np.any(ranked[:, : self.k] == y[:, None], axis=1)))
                out.append(
                    AttackResult(
                        attacker=name,
                        top1=top1,
                        topk=topk,
                        k=self.k,
                        cv_top1=float(search.best_score_),
                        n_test=int(y.size),
                        n_classes=int(self.classes.size),
                        params=_short(search.best_params_),
                    )
                )
        best = max(out, key=lambda r: r.cv_top1)  # the first of equals
        out.append(
            replace(best, attacker="best", params={"attacker": best.attacker, **best.params})
        )
        return out


def fit_attack(
    train_x: Any,
    train_y: Any,
    *,
    attackers: Sequence[str] = ATTACKERS,
    cv_folds: int = 4,
    k: int = TOP_K,
    seed: int = 0,
) -> FittedAttack:
    """Tune and train every attacker on ``(train_x, train_y)`` as :func:`attack`
    does; score the result on test sets with :meth:`FittedAttack.score`."""
    ms = import_extra("sklearn.model_selection", "the attack")
    exceptions = import_extra("sklearn.exceptions", "the attack")
    train_x = np.asarray(train_x, dtype=np.float64)
    train_y = np.asarray(train_y)
    if train_x.ndim != 2:
        raise ValueError(f"train_x must be 2-D, got shape {train_x.shape}")
    if train_y.shape != (train_x.shape[0],):
        raise ValueError("train_y and test_y must have one label per row of train_x and test_x")
    classes, counts = np.unique(train_y, return_counts=True)
    if classes.size < 2:
        raise ValueError("the attack needs at least 2 classes in the training set")
    if counts.min() < 2:
        raise ValueError("every class needs at least 2 training images for cross-validation")
    unknown = [a for a in attackers if a not in ATTACKERS]
    if unknown or not attackers:
        raise ValueError(
            f"attacker must be one of {', '.join(ATTACKERS)}; got {', '.join(map(repr, unknown))}"
            if unknown
            else f"attackers must name at least one of {', '.join(ATTACKERS)}"
        )
    folds = int(min(cv_folds, counts.min()))
    threadpoolctl = import_extra("threadpoolctl", "the attack")
    searches = []
    # One BLAS thread: the matrices are small, and on a busy machine BLAS threads
    # that wait for each other are many times slower. Run attacks in parallel
    # processes instead (dp_pix.evaluate does).
    with threadpoolctl.threadpool_limits(1):
        projection, train_z = _Projection.fit(train_x)
        for name in attackers:
            estimator, grid = make_attacker(name)
            search = ms.GridSearchCV(
                estimator,
                grid,
                scoring="accuracy",
                cv=ms.StratifiedKFold(folds, shuffle=True, random_state=seed),
                n_jobs=1,
                refit=True,
                error_score="raise",
            )
            with warnings.catch_warnings():
                # Small grids reach C values where the solvers stop at max_iter; the
                # model is still usable and CV judges it like any other.
                warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
                search.fit(train_z, train_y)
            searches.append((name, search))
    return FittedAttack(
        searches=tuple(searches),
        classes=classes,
        k=k,
        n_features=train_x.shape[1],
        projection=projection,
    )
