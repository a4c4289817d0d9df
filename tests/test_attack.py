"""dp_pix.attack: splits, features, attackers, and statistical sanity checks
that fail if the attack is broken (near 100 % on separable data, near chance
on pure noise)."""

from __future__ import annotations

import dp_pix
import numpy as np
import pytest

pytest.importorskip(
    "sklearn", reason="scikit-learn is missing: install the eval extra, pip install 'dp-pix[eval]'"
)

from dp_pix import attack


def prototypes(n_classes: int, per_class: int, shape=(16, 16), noise=10.0, seed=0):
    """Each class a random image; its members that image plus small noise."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, size=(n_classes, *shape))
    labels = np.repeat(np.arange(n_classes), per_class)
    images = protos[labels] + rng.normal(0, noise, size=(labels.size, *shape))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


# --- splits, features, chance ------------------------------------------------------


def test_split_is_eight_and_two_per_att_subject():
    labels = np.repeat(np.arange(40), 10)
    train, test = attack.split_per_class(labels, seed=0)
    assert np.bincount(labels[train]).tolist() == [8] * 40
    assert np.bincount(labels[test]).tolist() == [2] * 40
    assert np.intersect1d(train, test).size == 0
    assert np.union1d(train, test).tolist() == list(range(400))


def test_split_is_reproducible_and_random():
    labels = np.repeat(np.arange(5), 10)
    a = attack.split_per_class(labels, seed=1)
    b = attack.split_per_class(labels, seed=1)
    c = attack.split_per_class(labels, seed=2)
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_split_of_unequal_classes_and_errors():
    labels = np.array([0] * 5 + [1] * 20 + [2] * 3)
    _train, test = attack.split_per_class(labels, seed=0)
    assert np.bincount(labels[test]).tolist() == [1, 4, 1]
    with pytest.raises(ValueError, match="fewer than 3"):
        attack.split_per_class(np.array([0, 0, 0, 1, 1]), seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        attack.split_per_class(labels, test_fraction=1.0)


def test_chance():
    assert attack.chance(40) == 0.025
    assert attack.chance(40, 5) == 0.125
    assert attack.chance(3, 5) == 1.0


def test_cell_features_are_the_released_grid():
    """One pixel per cell of the full-size output is exactly the grid output."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(4, 37, 29), dtype=np.uint8)  # partial edge cells
    full = dp_pix.dp_pixelate_batch(images, block=8, epsilon=1.0, m=4, seed=5)
    grid = dp_pix.dp_pixelate_batch(images, block=8, epsilon=1.0, m=4, seed=5, output="grid")
    features = attack.cell_features(full, 8)
    assert features.shape == (4, 5 * 4)
    assert np.array_equal(features, grid.reshape(4, -1) / 255.0)
    assert attack.cell_features(images).shape == (4, 37 * 29)
    colour = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    assert attack.cell_features(colour, 4).shape == (2, 4 * 4 * 3)


def test_training_span_keeps_what_the_attackers_use():
    """The change of basis keeps distances among training rows, and shifts the
    squared distance of a test row to every training row by one constant; the
    final scaling multiplies every distance by one number."""
    rng = np.random.default_rng(4)
    train, test = rng.normal(size=(12, 50)), rng.normal(size=(5, 50))
    a, b = attack._training_span(train, test)
    assert a.shape == (12, 11) and b.shape == (5, 11)  # rank of the centred rows
    assert np.mean((a**2).sum(axis=1)) == pytest.approx(1.0)
    centred = train - train.mean(axis=0)
    scale2 = np.mean((centred**2).sum(axis=1))

    def sq(x, y):
        return ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2)

    assert np.allclose(sq(a, a) * scale2, sq(train, train))
    shift = sq(test, train) - sq(b, a) * scale2
    assert np.allclose(shift, shift[:, :1])


# --- the attackers -----------------------------------------------------------------


def test_every_attacker_is_near_perfect_on_separable_data():
    images, labels = prototypes(10, 10)
    train, test = attack.split_per_class(labels, seed=0)
    x = attack.cell_features(images)  # 256 features > 80 training rows: the span path
    results = attack.attack(x[train], labels[train], x[test], labels[test], seed=0)
    assert [r.attacker for r in results] == [*attack.ATTACKERS, "best"]
    for r in results:
        assert r.top1 >= 0.95, r
        assert r.topk is not None and r.topk >= r.top1
        assert r.n_test == 20 and r.n_classes == 10 and r.k == 5


def test_attack_on_pure_noise_is_near_chance():
    """Labels carry no information: over 3 splits × 40 test images, chance is
    5 %; 15 % would take ≥ 18 lucky hits of 120 (p < 1e-5 at chance)."""
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(200, 12, 12), dtype=np.uint8)
    labels = np.repeat(np.arange(20), 10)
    best = []
    for split in range(3):
        train, test = attack.split_per_class(labels, seed=split)
        x = attack.cell_features(images)
        results = attack.attack(
            x[train], labels[train], x[test], labels[test], cv_folds=3, seed=split
        )
        best.append(results[-1].top1)
        assert all(r.top1 <= 0.25 for r in results), results
    assert np.mean(best) <= 0.15


def test_attack_sees_through_a_mosaic_but_not_strong_dp_pix():
    """Prototypes that differ cell by cell survive the mosaic; DP-Pix at a tiny
    ε buries them (chance 10 %)."""
    images, labels = prototypes(10, 10, shape=(32, 32), seed=6)
    train, test = attack.split_per_class(labels, seed=0)
    mosaic = np.stack([dp_pix.pixelate(im, block=8) for im in images])
    noisy = dp_pix.dp_pixelate_batch(images, block=8, epsilon=0.01, m=16, seed=1)
    for released, low, high in ((mosaic, 0.95, 1.0), (noisy, 0.0, 0.35)):
        x = attack.cell_features(released, 8)
        best = attack.attack(
            x[train], labels[train], x[test], labels[test], attackers=["logreg", "centroid"]
        )[-1]
        assert low <= best.top1 <= high, best


def test_attack_sets_scores_one_training_on_several_test_sets():
    """Each attacker is trained once; every test set gets what attack() would give it."""
    images, labels = prototypes(6, 8, seed=9)
    train, test = attack.split_per_class(labels, seed=0)
    x = attack.cell_features(images)
    noisy = attack.cell_features(
        dp_pix.dp_pixelate_batch(images, block=4, epsilon=0.05, m=16, seed=2), 4
    )
    blocky = attack.cell_features(np.stack([dp_pix.pixelate(im, block=4) for im in images]))
    kwargs = {"attackers": ["centroid", "knn"], "cv_folds": 3, "seed": 4}
    tests = [(x[test], labels[test]), (blocky[test], labels[test][::-1])]
    both = attack.attack_sets(x[train], labels[train], tests, **kwargs)
    assert len(both) == 2
    for (tx, ty), results in zip(tests, both):
        assert results == attack.attack(x[train], labels[train], tx, ty, **kwargs)
    with pytest.raises(ValueError, match="at least one"):
        attack.attack_sets(x[train], labels[train], [], **kwargs)
    with pytest.raises(ValueError, match="columns"):
        attack.attack_sets(x[train], labels[train], [(noisy[test], labels[test])], **kwargs)


def test_best_is_chosen_by_cross_validation_not_by_test_accuracy():
    images, labels = prototypes(8, 6, noise=60.0, seed=7)
    train, test = attack.split_per_class(labels, seed=0)
    x = attack.cell_features(images)
    results = attack.attack(x[train], labels[train], x[test], labels[test], cv_folds=2)
    *each, best = results
    chosen = max(each, key=lambda r: r.cv_top1)
    assert best.params["attacker"] == chosen.attacker
    assert (best.top1, best.cv_top1) == (chosen.top1, chosen.cv_top1)


def test_knn_and_centroid_rank_every_class():
    knn_cls = type(attack.make_attacker("knn")[0])
    train = np.array([[0.0], [1.0], [10.0], [11.0], [20.0]])
    y = np.array([0, 0, 1, 1, 2])
    knn = knn_cls(n_neighbors=1).fit(train, y)
    scores = knn.decision_function(np.array([[9.0]]))
    assert knn.predict(np.array([[9.0]])).tolist() == [1]
    assert np.argsort(-scores[0]).tolist() == [1, 0, 2]  # then by distance: 0 (8 away), 2 (11)
    centroid_cls = type(attack.make_attacker("centroid")[0])
    x = np.array([[0.0], [1.0], [100.0], [10.0], [11.0], [12.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    # The class-0 mean (33.7) is pulled away by its outlier; its median (1) is not.
    assert centroid_cls("euclidean").fit(x, y).predict(np.array([[3.0]])).tolist() == [1]
    assert centroid_cls("manhattan").fit(x, y).predict(np.array([[3.0]])).tolist() == [0]


def test_two_classes_and_few_classes():
    images, labels = prototypes(2, 6, seed=8)
    train, test = attack.split_per_class(labels, seed=0)
    x = attack.cell_features(images)
    results = attack.attack(x[train], labels[train], x[test], labels[test], cv_folds=2)
    assert all(r.topk is None for r in results)  # top-5 of 2 classes says nothing
    assert results[-1].top1 == 1.0


def test_attack_errors():
    x = np.zeros((6, 3))
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="columns"):
        attack.attack(x, y, np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="2 classes"):
        attack.attack(x, np.zeros(6), x, np.zeros(6))
    with pytest.raises(ValueError, match="one label per row"):
        attack.attack(x, y[:5], x, y)
    with pytest.raises(ValueError, match="attacker must be one of"):
        attack.attack(x, y, x, y, attackers=["oracle"])
