"""dp_pix.reconstruct: the attacks run; they can succeed (an image left as it
is, or scrambled by an invertible map, is reconstructed near-perfectly on
people never seen) and can fail (pure noise gives the mean face back); the
closed-form cross-validation agrees with scikit-learn; on real faces the
mosaic is undone far better than DP-Pix at a small ε."""

from __future__ import annotations

import dp_pix
import numpy as np
import pytest

pytest.importorskip(
    "sklearn", reason="scikit-learn is missing: install the eval extra, pip install 'dp-pix[eval]'"
)
pytest.importorskip(
    "skimage", reason="scikit-image is missing: install the eval extra, pip install 'dp-pix[eval]'"
)

from dp_pix import metrics, reconstruct


def people(n_people: int, per_person: int, shape=(12, 10), seed=0):
    """Smooth random "faces": a shared mean, a per-person pattern, small
    per-image variation; labels 0..n_people-1."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 40 * np.sin(yy / h * np.pi) * np.cos(xx / w * np.pi)
    persons = rng.normal(0, 35, size=(n_people, 3, 3))
    labels = np.repeat(np.arange(n_people), per_person)
    images = []
    for p in labels:
        up = np.kron(persons[p], np.ones((h // 3 + 1, w // 3 + 1)))[:h, :w]
        images.append(base + up + rng.normal(0, 6, size=shape))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


def mean_psnr(truth, images) -> float:
    return float(np.mean([metrics.psnr(a, b) for a, b in zip(truth, images)]))


def mean_ssim(truth, images) -> float:
    return float(np.mean([metrics.ssim(a, b) for a, b in zip(truth, images)]))


def split_people(labels, n_public):
    public = labels < n_public
    return public, ~public


# --- the attack can succeed ----------------------------------------------------------


@pytest.mark.parametrize("method", reconstruct.RECONSTRUCTORS)
def test_an_image_left_as_it_is_is_reconstructed_exactly(method):
    images, labels = people(30, 6)
    public, target = split_people(labels, 20)
    recon, fitted = reconstruct.reconstruct(
        images[public], images[public], labels[public], images[target], method=method
    )
    assert fitted.skip == 1.0 and fitted.cv_mse < 1e-9
    assert np.array_equal(recon, images[target])


def test_an_invertible_scrambling_is_undone_on_unseen_people():
    """A fixed pixel permutation: the linear map must learn its inverse from
    other people's pairs (more pairs than pixels, so it can)."""
    images, labels = people(60, 8, shape=(8, 8), seed=1)
    order = np.random.default_rng(2).permutation(64)
    scrambled = images.reshape(len(images), -1)[:, order].reshape(images.shape)
    public, target = split_people(labels, 45)
    recon, fitted = reconstruct.reconstruct(
        scrambled[public], images[public], labels[public], scrambled[target], method="ridge"
    )
    assert fitted.skip < 0.05  # the scrambled image itself is no help
    assert mean_psnr(images[target], recon) > 35
    assert mean_psnr(images[target], scrambled[target]) < 25


# --- the attack can fail -------------------------------------------------------------


@pytest.mark.parametrize("method", reconstruct.RECONSTRUCTORS)
def test_pure_noise_gives_about_the_mean_face(method):
    """Released images independent of the originals: nothing to learn, so the
    reconstruction is about as good as the public people's mean face."""
    images, labels = people(30, 8, seed=3)
    noise = np.random.default_rng(4).integers(0, 256, size=images.shape, dtype=np.uint8)
    public, target = split_people(labels, 20)
    recon, fitted = reconstruct.reconstruct(
        noise[public], images[public], labels[public], noise[target], method=method, folds=4
    )
    face = np.rint(images[public].astype(np.float64).mean(axis=0)).astype(np.uint8)
    baseline = mean_psnr(images[target], np.broadcast_to(face, images[target].shape))
    got = mean_psnr(images[target], recon)
    assert fitted.skip < 0.1
    assert baseline - 1.0 < got < baseline + 0.3, (got, baseline)


# --- what is chosen, and how ---------------------------------------------------------


def test_closed_form_cross_validation_matches_scikit_learn():
    """The chosen (α, γ, a) minimize the grouped CV error that scikit-learn's
    KernelRidge, refitted on every fold, gives; and the reported error is it."""
    from sklearn.kernel_ridge import KernelRidge

    images, labels = people(12, 5, shape=(9, 9), seed=5)
    released = np.stack([dp_pix.pixelate(im, block=3) for im in images])
    noisy = np.clip(
        released.astype(int) + np.random.default_rng(6).integers(-30, 31, size=released.shape),
        0,
        255,
    ).astype(np.uint8)
    alphas, gammas = (0.01, 1.0, 100.0), (0.1, 1.0)
    for method, kernel in (("ridge", "linear"), ("kernel-ridge", "rbf")):
        fitted = reconstruct.fit_reconstructor(
            noisy, images, labels, method=method, folds=3, seed=7, alphas=alphas, gammas=gammas
        )
        masks = reconstruct.grouped_folds(labels, 3, 7)
        x = noisy.reshape(len(noisy), -1).astype(float)
        y = images.reshape(len(images), -1).astype(float)
        phi = x - x.mean(axis=0)  # every pixel: block=None
        phi /= np.sqrt(np.mean((phi**2).sum(axis=1)))

        def cv_error(alpha, gamma, a, masks=masks, x=x, y=y, phi=phi, kernel=kernel):
            total = 0.0
            for val in masks:
                tr = ~val
                t = y[tr] - a * x[tr]
                centre = phi[tr].mean(axis=0) if kernel == "linear" else 0.0
                model = KernelRidge(alpha=alpha, kernel=kernel, gamma=gamma)
                model.fit(phi[tr] - centre, t - t.mean(axis=0))
                pred = a * x[val] + t.mean(axis=0) + model.predict(phi[val] - centre)
                total += float(((y[val] - pred) ** 2).sum())
            return total / y.size

        chosen = cv_error(fitted.alpha, fitted.gamma, fitted.skip)
        assert fitted.cv_mse == pytest.approx(chosen, rel=1e-6)
        for alpha in alphas:
            for gamma in gammas if kernel == "rbf" else (None,):
                for a in np.linspace(0, 1, 6):
                    assert cv_error(alpha, gamma, a) >= chosen * (1 - 1e-9)


def test_grouped_folds_never_split_a_person():
    labels = np.repeat(np.arange(7), [3, 1, 4, 2, 2, 5, 1])
    masks = reconstruct.grouped_folds(labels, 3, seed=1)
    assert len(masks) == 3
    assert np.array_equal(np.sum(masks, axis=0), np.ones(labels.size))  # each row once
    for mask in masks:
        assert mask.any()
        inside = set(labels[mask].tolist())
        assert not inside & set(labels[~mask].tolist())
    assert len(reconstruct.grouped_folds(labels[:4], 9)) == 2  # no more folds than people


def test_pixelized_images_are_read_one_value_per_cell():
    images, labels = people(20, 5, shape=(12, 12), seed=8)
    mosaic = np.stack([dp_pix.pixelate(im, block=4) for im in images])
    public, target = split_people(labels, 14)
    fitted = reconstruct.fit_reconstructor(
        mosaic[public], images[public], labels[public], block=4
    )
    assert fitted.block == 4 and fitted.shape == (12, 12)
    out = fitted.predict(mosaic[target])
    assert out.shape == images[target].shape and out.dtype == np.uint8
    assert set(fitted.params) == {"alpha", "skip"}
    # The map adds what a regression learns to the cells: better than the mosaic itself.
    assert mean_psnr(images[target], out) > mean_psnr(images[target], mosaic[target])


def test_colour_images():
    grey, labels = people(12, 4, seed=9)
    images = np.stack([grey, 255 - grey, grey // 2], axis=-1)
    public, target = split_people(labels, 8)
    recon, _ = reconstruct.reconstruct(
        images[public], images[public], labels[public], images[target], method="kernel-ridge"
    )
    assert np.array_equal(recon, images[target])


def test_errors():
    images, labels = people(6, 3)
    with pytest.raises(ValueError, match="method must be one of"):
        reconstruct.fit_reconstructor(images, images, labels, method="cnn")
    with pytest.raises(TypeError, match="uint8"):
        reconstruct.fit_reconstructor(images.astype(float), images, labels)
    with pytest.raises(ValueError, match="same shape"):
        reconstruct.fit_reconstructor(images[:, :5], images, labels)
    with pytest.raises(ValueError, match="one entry per image"):
        reconstruct.fit_reconstructor(images, images, labels[:-1])
    with pytest.raises(ValueError, match="at least 2 groups"):
        reconstruct.fit_reconstructor(images, images, np.zeros(len(images)))
    with pytest.raises(ValueError, match="alphas"):
        reconstruct.fit_reconstructor(images, images, labels, alphas=(0.0,))
    fitted = reconstruct.fit_reconstructor(images, images, labels)
    with pytest.raises(ValueError, match="shape the map was trained on"):
        fitted.predict(images[:, :5])


# --- real faces (skipped where absent) ------------------------------------------------


@pytest.fixture(scope="module")
def att(data_root):
    path = data_root / "att_faces"
    if not path.exists():
        pytest.skip(f"{path} is absent (set DP_PIX_DATA to the folder of the data sets)")
    from dp_pix.datasets import load_att_faces

    ds = load_att_faces(path)
    return ds.as_array(), np.asarray(ds.labels)


def test_att_faces_left_as_they_are_are_reconstructed_exactly(att):
    images, labels = att
    public, target = split_people(labels, 30)
    recon, _ = reconstruct.reconstruct(
        images[public], images[public], labels[public], images[target], method="kernel-ridge"
    )
    assert mean_ssim(images[target], recon) > 0.95 and np.array_equal(recon, images[target])


def test_att_mosaic_is_undone_far_better_than_dp_pix_at_small_epsilon(att):
    """b = 16 on 20 public and 20 target people: the mosaic's reconstruction
    beats the mosaic itself and the mean face by dB; DP-Pix at ε = 0.05
    (noise scale 319 grey levels per cell) leaves little beyond the mean face."""
    images, labels = att
    public, target = split_people(labels, 20)
    truth = images[target]
    face = np.rint(images[public].astype(np.float64).mean(axis=0)).astype(np.uint8)
    baseline = mean_psnr(truth, np.broadcast_to(face, truth.shape))
    mosaic = np.stack([dp_pix.pixelate(im, block=16) for im in images])
    private = dp_pix.dp_pixelate_batch(images, block=16, epsilon=0.05, m=16, seed=11)
    got = {}
    for name, released in (("mosaic", mosaic), ("dp-pix", private)):
        recon, _ = reconstruct.reconstruct(
            released[public], images[public], labels[public], released[target], block=16
        )
        got[name] = (mean_psnr(truth, recon), mean_ssim(truth, recon))
    assert got["mosaic"][0] > mean_psnr(truth, mosaic[target]) + 0.5
    assert got["mosaic"][0] > got["dp-pix"][0] + 2.0
    assert got["mosaic"][1] > got["dp-pix"][1] + 0.04
    assert abs(got["dp-pix"][0] - baseline) < 1.0, (got, baseline)
