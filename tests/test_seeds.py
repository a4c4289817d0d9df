"""Seeds never reuse noise across different images.

A seed is a secret key for reproducible research releases; the danger is
noise reuse: two different images privatized with the same noise stream give
outputs whose difference is the difference of the images, noise-free. Under a
seed each image's streams are keyed by the seed, the parameters, its index and
its own pixels, so reuse is impossible by construction — across copies of a
Pixelizer, threads, runs, output folders and Ray keys — while the same seed,
image, parameters and index (or name) reproduce the same bytes.
"""

from __future__ import annotations

import copy
import pickle
import threading
import time

import dp_pix
import numpy as np
import pytest
from dp_pix import reference
from test_cli_pixelate import load, noise_image, run_cli, save

# Big cells of one pixel and a moderate ε: the noise is visible at every pixel.
ONE_PIXEL = {"block": 1, "epsilon": 8.0, "m": 1, "output": "grid"}


def neighbours() -> tuple[np.ndarray, np.ndarray]:
    x = np.full((24, 24), 128, np.uint8)
    y = x.copy()
    y[3, 5] = 0
    return x, y


def shared_noise(a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether outputs a (of x) and b (of y) carry the same noise: then they
    agree wherever the inputs agree (one-pixel cells), and only the pixels
    that differ tell the images apart."""
    same = x == y
    assert same.sum() > 100
    return bool(np.array_equal(a[same], b[same]))


@pytest.mark.parametrize("api", [dp_pix, reference], ids=["rust", "reference"])
@pytest.mark.parametrize("clone", ["pickle", "copy", "deepcopy"])
def test_copies_of_a_seeded_pixelizer_never_share_noise(api, clone) -> None:
    x, y = neighbours()
    p = api.Pixelizer(seed=7, **ONE_PIXEL)
    make = {
        "pickle": lambda q: pickle.loads(pickle.dumps(q)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
    }[clone]
    first, second = make(p), make(p)  # the same counter
    a, b = first(x), second(y)
    assert not shared_noise(a, b, x, y)
    assert int((a != b).sum()) > 100  # fresh noise nearly everywhere, not at one pixel
    # The same image through two copies: the same index and pixels, the same bytes
    # (one release, not two).
    assert np.array_equal(make(p)(x), make(p)(x))


@pytest.mark.parametrize("api", [dp_pix, reference], ids=["rust", "reference"])
def test_same_seed_image_and_index_reproduce_the_bytes(api) -> None:
    x, y = neighbours()
    p, q = api.Pixelizer(seed=7, **ONE_PIXEL), api.Pixelizer(seed=7, **ONE_PIXEL)
    assert np.array_equal(p(x), q(x)) and np.array_equal(p(y), q(y))
    r = api.Pixelizer(seed=7, **ONE_PIXEL)
    assert not np.array_equal(r(x), r(x))  # successive calls: successive indices, fresh noise
    assert np.array_equal(p(x, index=41), q(x, index=41))
    assert not shared_noise(p(x, index=41), q(y, index=41), x, y)
    # Other parameters: another stream, not a rescaled copy of the same draws.
    other = api.Pixelizer(seed=7, **{**ONE_PIXEL, "epsilon": 4.0})
    base = api.Pixelizer(seed=7, **ONE_PIXEL)
    za = base(x).astype(int) - 128
    zb = other(x).astype(int) - 128
    assert abs(np.corrcoef(za.ravel(), zb.ravel())[0, 1]) < 0.5


class SlowCounter(dp_pix.Pixelizer):
    """A Pixelizer whose counter is slow to read: a read-and-increment that is
    not atomic then hands one index to two threads."""

    @property
    def _next_index(self) -> int:
        time.sleep(1e-4)
        return int(self.__dict__["_counter"])

    @_next_index.setter
    def _next_index(self, value: int) -> None:
        self.__dict__["_counter"] = value


def test_the_counter_hands_out_each_index_once_under_threads() -> None:
    p = SlowCounter(seed=7, **ONE_PIXEL)
    x = np.full((4, 4), 100, np.uint8)
    outs: list[np.ndarray] = []

    def work() -> None:
        for _ in range(25):
            outs.append(p(x))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p._next_index == 200
    # 200 calls on one image, 200 indices: 200 different outputs.
    assert len({o.tobytes() for o in outs}) == 200


def test_cli_runs_into_other_folders_never_share_noise(tmp_path) -> None:
    x, y = (np.stack([a] * 3, axis=-1) for a in neighbours())
    save(tmp_path / "one" / "img.png", x)
    save(tmp_path / "two" / "img.png", y)
    args = ("-b", "1", "-e", "8", "-m", "1", "--seed", "5")
    for name in ("one", "two"):
        proc = run_cli("pixelate", name, "-o", f"out-{name}", *args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    a, b = load(tmp_path / "out-one" / "img.png"), load(tmp_path / "out-two" / "img.png")
    assert not shared_noise(a, b, x, y)
    # An input that changed, then --overwrite: fresh noise for the new pixels.
    save(tmp_path / "one" / "img.png", y)
    proc = run_cli("pixelate", "one", "-o", "out-one", *args, "--overwrite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    c = load(tmp_path / "out-one" / "img.png")
    assert not shared_noise(a, c, x, y)
    # Same seed, same image, same name: the same bytes.
    assert np.array_equal(c, b)


def test_a_seed_is_still_a_key() -> None:
    x = noise_image((16, 16, 3))
    assert not np.array_equal(
        dp_pix.dp_pixelate(x, seed=1, **ONE_PIXEL), dp_pix.dp_pixelate(x, seed=2, **ONE_PIXEL)
    )


@pytest.mark.parametrize("form", ["boxes", "mask"])
def test_regions_of_different_images_never_share_noise(form) -> None:
    x, y = neighbours()
    if form == "boxes":
        where: object = [(0, 0, 24, 24)]
    else:
        where = np.zeros((24, 24), bool)
        where[:, :20] = True
    kw = {"block": 1, "epsilon": 8.0, "m": 1}
    p = dp_pix.Pixelizer(seed=7, **kw)
    a = pickle.loads(pickle.dumps(p))(x, regions=where)
    b = pickle.loads(pickle.dumps(p))(y, regions=where)
    assert not shared_noise(a, b, x, y)
    # Same seed, image, index and regions: the same bytes.
    assert np.array_equal(a, dp_pix.Pixelizer(seed=7, **kw)(x, regions=where))
