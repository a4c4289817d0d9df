"""Seeded outputs pinned by digest: a refactor must not change a byte.

Each group hashes the seeded outputs of one entry point over a grid of
shapes, blocks, edge modes and output forms. A change here means the noise
streams, the sums, the post-processing or the writers changed: that is only
acceptable in a commit that says why and updates the digest (e.g. a new
stream layout), never as a side effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import dp_pix
import numpy as np
import pytest
from dp_pix import reference

SHAPES = [(13, 17), (16, 16, 3), (31, 29, 4), (64, 48)]
BLOCKS: list[Any] = [1, 3, (4, 6), 16]

Case = Callable[[ModuleType], Any]


def _image(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _crop_leaves_nothing(shape: tuple[int, ...], block: Any) -> bool:
    bh, bw = (block, block) if isinstance(block, int) else block
    return shape[0] < bh or shape[1] < bw


def _grid(group: str) -> Iterator[tuple[tuple[Any, ...], Case]]:
    for si, shape in enumerate(SHAPES):
        x = _image(shape, si)
        for block in BLOCKS:
            for edges in ("partial", "pad", "crop"):
                if edges == "crop" and _crop_leaves_nothing(shape, block):
                    continue
                for output in ("full", "grid"):
                    kw = {"block": block, "edges": edges, "output": output}
                    key = (shape, block, edges, output)
                    if group == "laplace":
                        yield key, lambda api, kw=kw, x=x: api.dp_pixelate(
                            x, epsilon=2.0, m=1, seed=7, **kw
                        )
                    elif group == "gaussian":
                        yield key, lambda api, kw=kw, x=x: api.dp_pixelate(
                            x, epsilon=3.0, m=2, mechanism="gaussian", delta=1e-5, seed=11, **kw
                        )
                    else:
                        yield key, lambda api, kw=kw, x=x: api.noisy_pixelate(
                            x, sigma=5.0, seed=3, **kw
                        )


def _batch(group: str) -> Iterator[tuple[tuple[Any, ...], Case]]:
    b = _image((5, 20, 24, 3), 9)
    if group == "batch":
        yield (), lambda api: api.dp_pixelate_batch(b, block=4, epsilon=1.0, m=1, seed=5)
    elif group == "list":
        yield (), lambda api: api.dp_pixelate_batch(
            [b[0], b[1, :10], b[2, :, :7]], block=3, epsilon=1.0, m=1, seed=5
        )
    elif group == "rho":
        yield (), lambda api: api.dp_pixelate(
            b[0], block=2, rho=0.5, m=1, mechanism="gaussian", seed=1
        )
    else:

        def successive(api: ModuleType) -> np.ndarray:
            p = api.Pixelizer(block=2, epsilon=4.0, m=1, seed=2)
            return np.stack([p(b[0]), p(b[1]), p(b[0], index=17)])

        yield (), successive


def _digest(api: ModuleType, group: str) -> str:
    cases = _grid(group) if group in ("laplace", "gaussian", "noisy") else _batch(group)
    h = hashlib.sha256()
    for key, case in cases:
        out = case(api)
        for a in out if isinstance(out, list) else [out]:
            h.update(repr((key, a.shape, str(a.dtype))).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


PINNED = {
    "rust": {
        "laplace": "4cf2307b54c4a7869809aec75821945d5127acd95c1fa891b65debbd9661ffb1",
        "gaussian": "d8db832a222948c7b8bec868dfdc3ac9837831134bd8e2a4bd1d7bd9347b5864",
        "noisy": "f5767a6487d3cf3cf341ca6cf65e58c010c193ae2bea28c2f742980505aa4391",
        "batch": "046eb192225c56e16262718e04c4b61710732dc1a113d6152f2327d9e515dbb6",
        "list": "e2fd9fc5f6902507ab7ee57941567628805fa357419bff753b40fe559b666ae8",
        "rho": "5d0e4beb8389c725e90f133772a50f3708d4ed77e195b2cb467a346aedbcb5a5",
        "pixelizer": "ef2783a84e1e7aa4e7391b33c8c832302e4cc8444c45f78f17957f80898b822f",
    },
    "reference": {
        "laplace": "cc284cb2a640c2d5c60e927a396b817b810932888e868f0af9a5c1420a0389cb",
        "gaussian": "d546dc39124165575d492be8f5fdd7f6fdc29a65d3abd06713a86c44937617c3",
        "noisy": "86bb2c7ca37ff2fef3fab8c035b9cd176d4226b02cf7f4c5cca07cd5539ad55d",
        "batch": "ac260bf53e77c8d661da13495082fb283b726e003ce8a4ec7197a073ef6fd0bf",
        "list": "cc1f9c34ff12b0942be3d7c0fdee8ed97fe03f086000d634302a323dd74d7425",
        "rho": "63678d87639a59e6df376099efa06e584e950a72d98f051c1a1912909b062e01",
        "pixelizer": "f0f38f65b907b7ca6962d008bf8bcfd7cc1548cb5bbcca5a84cb17f7522b60aa",
    },
}


@pytest.mark.parametrize("backend", ["rust", "reference"])
@pytest.mark.parametrize(
    "group", ["laplace", "gaussian", "noisy", "batch", "list", "rho", "pixelizer"]
)
def test_seeded_outputs_unchanged(backend: str, group: str) -> None:
    if backend == "rust" and dp_pix.BACKEND != "rust":
        pytest.skip("the compiled extension is not loaded")
    api = dp_pix if backend == "rust" else reference
    assert _digest(api, group) == PINNED[backend][group]


def test_digest_sees_one_changed_byte() -> None:
    """The pin can fail: one different input byte changes the digest."""
    x = _image((16, 16, 3), 1)
    y = x.copy()
    y[0, 0, 0] ^= 1
    h = [
        hashlib.sha256(dp_pix.dp_pixelate(a, block=1, epsilon=1e6, m=1, seed=7).tobytes())
        for a in (x, y)
    ]
    assert h[0].hexdigest() != h[1].hexdigest()
