"""The public API (DESIGN.md §3) on both backends: shapes, layouts, errors, seeds."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import dp_pix
import dp_pix.reference
import numpy as np
import pytest

BACKENDS = [pytest.param(dp_pix, id="rust"), pytest.param(dp_pix.reference, id="reference")]


@pytest.fixture(params=BACKENDS)
def api(request):
    return request.param


def test_the_compiled_core_is_in_use():
    assert dp_pix.BACKEND == "rust"


def rng_image(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (112, 92), (5, 7, 3), (9, 4, 4), (3, 3, 1)])
@pytest.mark.parametrize("edges", ["partial", "pad", "crop"])
@pytest.mark.parametrize("output", ["full", "grid"])
def test_output_shapes(api, shape, edges, output):
    img = rng_image(*shape)
    block = (2, 3)
    h, w = shape[:2]
    if edges == "crop" and (h < 2 or w < 3):
        with pytest.raises(ValueError, match="crop"):
            api.dp_pixelate(img, block=block, epsilon=1, m=1, edges=edges, output=output)
        return
    out = api.dp_pixelate(img, block=block, epsilon=1, m=1, edges=edges, output=output)
    if output == "grid":
        hw = (h // 2, w // 3) if edges == "crop" else (-(-h // 2), -(-w // 3))
    else:
        hw = (h // 2 * 2, w // 3 * 3) if edges == "crop" else (h, w)
    assert out.shape == hw + shape[2:]
    assert out.dtype == np.uint8 and out.flags.c_contiguous


def test_block_larger_than_image_gives_one_cell(api):
    img = rng_image(5, 7, 3)
    out = api.pixelate(img, block=64)
    expected = np.rint(img.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    assert (out == expected).all()
    assert api.pixelate(img, block=64, output="grid").shape == (1, 1, 3)


def test_mosaic_matches_numpy_reshape_mean(api):
    img = rng_image(32, 48)
    out = api.pixelate(img, block=8, output="grid")
    means = img.reshape(4, 8, 6, 8).mean(axis=(1, 3))
    assert (out == np.rint(means)).all()


def test_partial_and_pad_differ_only_at_edges(api):
    img = np.full((10, 10), 200, np.uint8)
    partial = api.pixelate(img, block=4)
    pad = api.pixelate(img, block=4)
    assert (partial == 200).all()
    pad = api.pixelate(img, block=4, edges="pad")
    assert (pad[:8, :8] == 200).all()
    # Bottom-right cell has 2x2 = 4 real pixels of 16: 200·4/16 = 50.
    assert (pad[8:, 8:] == 50).all() and (pad[:8, 8:] == 100).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda a: np.asfortranarray(a),
        lambda a: a[::-1, ::2],
        lambda a: a[1:-1, 2:-1],
        lambda a: np.ascontiguousarray(np.swapaxes(np.swapaxes(a, 0, 1).copy(), 0, 1)),
    ],
    ids=["fortran", "negative-strides", "slice", "transposed-copy"],
)
def test_any_strides(api, make):
    base = rng_image(23, 31, 3)
    view = make(base)
    expected = api.pixelate(np.ascontiguousarray(view), block=(4, 5))
    assert np.array_equal(api.pixelate(view, block=(4, 5)), expected)
    a = api.dp_pixelate(view, block=4, epsilon=1, m=2, seed=5)
    b = api.dp_pixelate(np.ascontiguousarray(view), block=4, epsilon=1, m=2, seed=5)
    assert np.array_equal(a, b)


def test_batch_shapes_and_lists(api):
    batch = rng_image(4, 20, 30)
    out = api.dp_pixelate_batch(batch, block=8, epsilon=1, m=4, output="grid")
    assert out.shape == (4, 3, 4)
    colour = rng_image(2, 9, 9, 3)
    assert api.dp_pixelate_batch(colour, block=3, epsilon=1, m=4).shape == (2, 9, 9, 3)
    mixed = [rng_image(10, 12), rng_image(7, 5, 3), rng_image(1, 1)]
    outs = api.dp_pixelate_batch(mixed, block=4, epsilon=1, m=4)
    assert isinstance(outs, list)
    assert [o.shape for o in outs] == [(10, 12), (7, 5, 3), (1, 1)]
    empty = api.dp_pixelate_batch(np.zeros((0, 8, 8), np.uint8), block=4, epsilon=1, m=1,
                                  output="grid")
    assert empty.shape == (0, 2, 2)
    assert api.dp_pixelate_batch([], block=4, epsilon=1, m=1) == []


def test_seeded_batch_equals_seeded_list(api):
    batch = rng_image(3, 16, 16)
    a = api.dp_pixelate_batch(batch, block=4, epsilon=1, m=4, seed=11)
    b = api.dp_pixelate_batch(list(batch), block=4, epsilon=1, m=4, seed=11)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_seeds(api):
    img = rng_image(40, 40)
    kw = {"block": 4, "epsilon": 0.5, "m": 4}
    assert np.array_equal(api.dp_pixelate(img, seed=1, **kw), api.dp_pixelate(img, seed=1, **kw))
    assert not np.array_equal(api.dp_pixelate(img, seed=1, **kw), api.dp_pixelate(img, seed=2, **kw))
    assert not np.array_equal(api.dp_pixelate(img, **kw), api.dp_pixelate(img, **kw))
    # A seeded Pixelizer never reuses noise across calls.
    p = api.Pixelizer(seed=3, **kw)
    assert not np.array_equal(p(img), p(img))
    q = api.Pixelizer(seed=3, **kw)
    r = api.Pixelizer(seed=3, **kw)
    assert np.array_equal(q(img), r(img))


def test_gaussian_and_rho(api):
    img = rng_image(32, 32, 3)
    out = api.dp_pixelate(img, block=8, epsilon=1, m=4, mechanism="gaussian", delta=1e-6)
    assert out.shape == img.shape
    out = api.dp_pixelate(img, block=8, m=4, mechanism="gaussian", rho=0.5, seed=1)
    assert out.shape == img.shape


def test_noisy_pixelate_zero_sigma_is_the_mosaic(api):
    img = rng_image(17, 13, 3)
    for noise in ("gaussian", "laplace"):
        got = api.noisy_pixelate(img, block=4, sigma=0, noise=noise)
        assert np.array_equal(got, api.pixelate(img, block=4))
    noisy = api.noisy_pixelate(img, block=4, sigma=30, seed=1)
    assert not np.array_equal(noisy, api.pixelate(img, block=4))


# ---------------------------------------------------------------- describe


def test_describe_matches_design_example(api):
    d = api.Pixelizer(block=16, epsilon=0.5, m=16).describe()
    assert d["scale"] == 8160 and d["epsilon"] == 0.5 and d["delta"] == 0.0
    assert d["grey_scale_interior"] == pytest.approx(31.875)
    assert d["grey_std_interior"] == pytest.approx(math.sqrt(2) * 31.875, rel=1e-3)
    assert "m=16" in d["guarantee"]
    c3 = api.Pixelizer(block=16, epsilon=0.5, m=16).describe(channels=3)
    assert c3["scale"] == 3 * 8160


def test_describe_rounds_toward_more_noise(api):
    d = api.Pixelizer(block=16, epsilon=0.1, m=16).describe()
    assert d["scale"] >= 4080 / 0.1 * (1 - 1e-15)
    assert d["epsilon"] <= 0.1


def test_describe_gaussian(api):
    d = api.Pixelizer(block=16, epsilon=1, m=16, mechanism="gaussian", delta=1e-6).describe()
    # Δ2 = 255·m for m ≤ b², not 255·√m.
    assert d["sensitivity_l2"] == pytest.approx(255 * 16)
    assert d["rho"] > 0 and d["delta"] == 1e-6
    assert d["scale"] == pytest.approx(math.sqrt(d["sensitivity_l2"] ** 2 / (2 * d["rho"])))
    assert float(api.Pixelizer(block=16, m=16, mechanism="gaussian",
                               rho=d["rho"], delta=1e-6).describe()["epsilon"]) <= 1.0


# ------------------------------------------------------------------ errors

GOOD = {"block": 4, "epsilon": 1.0, "m": 4}


@pytest.mark.parametrize(
    ("image", "kwargs", "exc", "match"),
    [
        (np.zeros((8, 8), np.float32), {}, TypeError, "uint8"),
        (np.zeros((8, 8), bool), {}, TypeError, "uint8"),
        ([[1, 2], [3, 4]], {}, TypeError, "numpy uint8 array"),
        (np.zeros((8,), np.uint8), {}, ValueError, r"\(H, W\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), {}, ValueError, r"\(H, W\)"),
        (np.zeros((0, 8), np.uint8), {}, ValueError, "empty"),
        (np.zeros((8, 8, 0), np.uint8), {}, ValueError, "empty"),
        (np.zeros((8, 8), np.uint8), {"epsilon": 0}, ValueError, "epsilon"),
        (np.zeros((8, 8), np.uint8), {"epsilon": -1}, ValueError, "epsilon"),
        (np.zeros((8, 8), np.uint8), {"epsilon": float("nan")}, ValueError, "epsilon"),
        (np.zeros((8, 8), np.uint8), {"epsilon": float("inf")}, ValueError, "epsilon"),
        (np.zeros((8, 8), np.uint8), {"epsilon": "1"}, TypeError, "epsilon"),
        (np.zeros((8, 8), np.uint8), {"epsilon": None}, TypeError, "epsilon"),
        (np.zeros((8, 8), np.uint8), {"m": 0}, ValueError, "m must be >= 1"),
        (np.zeros((8, 8), np.uint8), {"m": 1.5}, TypeError, "m must be an int"),
        (np.zeros((8, 8), np.uint8), {"block": 0}, ValueError, "block"),
        (np.zeros((8, 8), np.uint8), {"block": (4, 0)}, ValueError, "block"),
        (np.zeros((8, 8), np.uint8), {"block": (4, 4, 4)}, ValueError, "block"),
        (np.zeros((8, 8), np.uint8), {"block": 2.0}, TypeError, "block"),
        (np.zeros((8, 8), np.uint8), {"edges": "wrap"}, ValueError, "edges"),
        (np.zeros((8, 8), np.uint8), {"output": "small"}, ValueError, "output"),
        (np.zeros((8, 8), np.uint8), {"mechanism": "exp"}, ValueError, "mechanism"),
        (np.zeros((8, 8), np.uint8), {"delta": 1e-6}, ValueError, "delta"),
        (np.zeros((8, 8), np.uint8), {"mechanism": "gaussian"}, ValueError, "delta"),
        (np.zeros((8, 8), np.uint8), {"mechanism": "gaussian", "delta": 0}, ValueError, "delta"),
        (np.zeros((8, 8), np.uint8), {"mechanism": "gaussian", "delta": 1}, ValueError, "delta"),
        (np.zeros((8, 8), np.uint8), {"mechanism": "gaussian", "delta": 2.0}, ValueError,
         "delta"),
        (np.zeros((8, 8), np.uint8), {"mechanism": "gaussian", "rho": -1, "epsilon": None},
         ValueError, "rho"),
        (np.zeros((8, 8), np.uint8), {"seed": -1}, ValueError, "seed"),
        (np.zeros((8, 8), np.uint8), {"seed": 2**256}, ValueError, "seed"),
        (np.zeros((8, 8), np.uint8), {"seed": "x"}, TypeError, "seed"),
        (np.zeros((2, 8), np.uint8), {"edges": "crop"}, ValueError, "crop"),
        (np.zeros((8, 8), np.uint8), {"epsilon": 1e-40}, ValueError, "too small"),
        # Values the core could not compute with: refused by name, with the limit.
        (np.zeros((8, 8), np.uint8), {"block": 2**62}, ValueError, r"block must be <= 2\*\*24"),
        (np.zeros((8, 8), np.uint8), {"block": 2**28, "edges": "pad"}, ValueError,
         r"block must be <= 2\*\*24"),
        (np.zeros((8, 8), np.uint8), {"block": (4, 10**30)}, ValueError, r"block\[1\] must be <="),
        (np.zeros((8, 8), np.uint8), {"m": 10**30}, ValueError, r"m must be <= 2\*\*40"),
        (np.zeros((8, 8), np.uint8), {"epsilon": 1e-300}, ValueError, "epsilon=1e-300 is too small"),
        (np.zeros((8, 8), np.uint8), {"epsilon": 10**400}, ValueError, "epsilon must be finite"),
        (np.zeros((8, 8), np.uint8), {"mechanism": "gaussian", "rho": 1e-300, "epsilon": None},
         ValueError, "rho=1e-300 is too small"),
    ],
)
def test_bad_input_is_named(api, image, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        api.dp_pixelate(image, **{**GOOD, **kwargs})


def test_bad_batches(api):
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        api.dp_pixelate_batch(np.zeros((8, 8), np.uint8), **GOOD)
    with pytest.raises(TypeError, match=r"images\[1\]"):
        api.dp_pixelate_batch([np.zeros((8, 8), np.uint8), np.zeros((8, 8))], **GOOD)
    with pytest.raises(TypeError, match="list"):
        api.dp_pixelate_batch("images", **GOOD)


def test_bad_input_to_baselines(api):
    img = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="sigma"):
        api.noisy_pixelate(img, block=4, sigma=-1)
    with pytest.raises(ValueError, match="noise"):
        api.noisy_pixelate(img, block=4, sigma=1, noise="poisson")
    with pytest.raises(TypeError, match="uint8"):
        api.pixelate(img.astype(np.int16), block=4)
    with pytest.raises(ValueError, match="channels"):
        api.Pixelizer(**GOOD).describe(channels=0)


# ---------------------------------------------------------- processes, threads


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=full_env, check=True,
    )
    return done.stdout + done.stderr


def test_seeded_bytes_do_not_depend_on_thread_count():
    code = """
        import hashlib, numpy as np, dp_pix
        imgs = np.random.default_rng(0).integers(0, 256, (64, 112, 92, 3), dtype=np.uint8)
        out = dp_pix.dp_pixelate_batch(imgs, block=8, epsilon=0.5, m=16, seed=42)
        g = dp_pix.dp_pixelate_batch(imgs, block=8, epsilon=0.5, m=16, seed=42,
                                     mechanism="gaussian", delta=1e-6)
        print(hashlib.sha256(out.tobytes() + g.tobytes()).hexdigest())
    """
    one = run_python(code, {"RAYON_NUM_THREADS": "1"})
    two = run_python(code, {"RAYON_NUM_THREADS": "2"})
    assert one == two and len(one.strip()) == 64


def test_fallback_to_reference_warns():
    code = """
        import sys, warnings
        sys.modules["dp_pix._dp_pix"] = None  # the extension cannot be imported
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import dp_pix
        import numpy as np
        print(dp_pix.BACKEND, [str(w.message)[:40] for w in caught])
        print(dp_pix.pixelate(np.full((4, 4), 9, np.uint8), block=2).sum())
    """
    out = run_python(code)
    assert "reference" in out and "compiled extension could not" in out
    assert out.strip().endswith(str(9 * 16))


def test_gil_is_released():
    """Python code keeps running in another thread while the core computes.

    If the call held the GIL, the counting loop would stall for the whole call
    (a share near 0); released, it keeps a good part of its speed even on a
    loaded machine.
    """
    code = """
        import threading, time, numpy as np, dp_pix
        imgs = np.random.default_rng(0).integers(0, 256, (200, 256, 256, 3), dtype=np.uint8)
        def count(stop):
            n = 0
            while not stop():
                n += 1
            return n
        t = time.perf_counter()
        solo = count(lambda: time.perf_counter() - t > 0.3) / 0.3
        th = threading.Thread(target=lambda: [dp_pix.dp_pixelate_batch(
            imgs, block=4, epsilon=1, m=16) for _ in range(3)])
        t = time.perf_counter()
        th.start()
        n = count(lambda: not th.is_alive())
        print(n / (time.perf_counter() - t) / solo)
    """
    share = float(run_python(code, {"RAYON_NUM_THREADS": "1"}).split()[-1])
    assert share > 0.05, f"Python ran at {share:.0%} of its speed during the call: GIL held?"
