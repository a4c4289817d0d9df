"""dp_pix.Params: validated once, immutable, the one place that states the guarantee."""

from __future__ import annotations

import copy
import math
import pickle
from fractions import Fraction
from typing import get_type_hints

import dp_pix
import numpy as np
import pytest
from dp_pix import reference
from dp_pix.params import MAX_BLOCK, MAX_M, ParamsArgs

BASE = {"block": 16, "epsilon": 0.5, "m": 16}


def test_params_and_keywords_give_the_same_release() -> None:
    img = np.random.default_rng(0).integers(0, 256, (40, 36, 3), dtype=np.uint8)
    p = dp_pix.Params(**BASE)
    for api in (dp_pix, reference):
        assert np.array_equal(api.dp_pixelate(img, p, seed=3), api.dp_pixelate(img, seed=3, **BASE))
        batch = np.stack([img, img])
        assert np.array_equal(
            api.dp_pixelate_batch(batch, p, seed=3), api.dp_pixelate_batch(batch, seed=3, **BASE)
        )
        assert api.Pixelizer(p).params is p


def test_keywords_amend_a_params() -> None:
    p = dp_pix.Params(**BASE)
    px = dp_pix.Pixelizer(p, epsilon=2.0, output="grid")
    assert px.params == p.replace(epsilon=2.0, output="grid")
    assert px.params.epsilon == 2.0 and p.epsilon == 0.5  # p itself is unchanged


def test_the_keywords_are_the_fields() -> None:
    """ParamsArgs (the entry points' **kwargs) and Params cannot drift apart."""
    fields = [n for n in dp_pix.Params.__slots__ if not n.startswith("_")]
    assert list(get_type_hints(ParamsArgs)) == fields
    p = dp_pix.Params(**BASE)
    assert list(p.to_dict()) == fields
    assert set(p.args()) <= set(fields)


def test_immutable_hashable_picklable() -> None:
    p = dp_pix.Params(**BASE, edges="pad")
    with pytest.raises(AttributeError, match="immutable"):
        p.epsilon = 8.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.m
    for q in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p)):
        assert q == p and hash(q) == hash(p) and q.describe() == p.describe()
    assert p != p.replace(epsilon=1.0) and len({p, p.replace(m=16)}) == 1
    assert dp_pix.Params.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="unknown"):
        dp_pix.Params.from_dict({**p.to_dict(), "sigma": 3})


def test_replace_switches_mechanism_and_budget_form() -> None:
    lap = dp_pix.Params(**BASE)
    gauss = lap.replace(mechanism="gaussian", delta=1e-6)
    assert (gauss.epsilon, gauss.delta, gauss.rho) == (0.5, 1e-6, None)
    zcdp = gauss.replace(rho=0.25)
    assert (zcdp.epsilon, zcdp.delta, zcdp.rho) == (None, 1e-6, 0.25)
    assert zcdp.zcdp_rho == 0.25 and 0 < gauss.zcdp_rho < 0.5  # type: ignore[operator]
    back = zcdp.replace(mechanism="laplace", epsilon=2.0)
    assert back == dp_pix.Params(**{**BASE, "epsilon": 2.0})
    with pytest.raises(TypeError, match="epsilon"):
        zcdp.replace(mechanism="laplace")  # no epsilon to fall back on


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"block": MAX_BLOCK + 1}, ValueError, r"block must be <= 2\*\*24"),
        ({"block": (1, 2**62)}, ValueError, r"block\[1\] must be <= 2\*\*24"),
        ({"m": MAX_M + 1}, ValueError, r"m must be <= 2\*\*40"),
        ({"m": True}, TypeError, "m must be an int"),
        ({"m": np.int64(4)}, None, None),
        ({"block": (np.uint8(4), 2)}, None, None),
        ({"epsilon": np.float32(0.5)}, None, None),
        ({"epsilon": Fraction(1, 3)}, None, None),
        ({"epsilon": 1e-300}, ValueError, r"epsilon=1e-300 is too small for m=16 .* 2\*\*48"),
    ],
)
def test_bounds_are_the_objects_job(kwargs, exc, match) -> None:
    if exc is None:
        dp_pix.Params(**{**BASE, **kwargs})
        return
    with pytest.raises(exc, match=match):
        dp_pix.Params(**{**BASE, **kwargs})


def test_the_largest_values_accepted_compute() -> None:
    """What Params accepts, the core computes: no panic, no overflow at the limits."""
    img = np.full((3, 5), 200, np.uint8)
    for api in (dp_pix, reference):
        out = api.dp_pixelate(img, block=MAX_BLOCK, epsilon=1e6, m=1, edges="pad")
        assert out.shape == img.shape and np.all(out == out[0, 0])
        api.dp_pixelate(img, block=(1, MAX_BLOCK), epsilon=1e9, m=MAX_M)
        grid = api.pixelate(img, block=MAX_BLOCK, edges="pad", output="grid")
        # 15 pixels of 200 over a padded cell of 2**48: 0 (no i64 overflow to 255).
        assert grid.tolist() == [[0]]


def test_parameters_round_toward_more_noise() -> None:
    third = dp_pix.Params(block=4, epsilon=Fraction(1, 3), m=1)
    assert third.epsilon is not None and Fraction(third.epsilon) <= Fraction(1, 3)
    assert third.describe()["scale"] >= 255 * 3
    big = dp_pix.Params(block=4, epsilon=2**60 + 1, m=1)  # not exactly a float
    assert big.epsilon is not None and Fraction(big.epsilon) <= 2**60 + 1
    d = dp_pix.Params(block=4, epsilon=1, m=1, mechanism="gaussian", delta=Fraction(1, 3))
    assert d.delta is not None and Fraction(d.delta) <= Fraction(1, 3)


def test_describe_is_the_one_statement_of_the_guarantee() -> None:
    p = dp_pix.Params(**BASE)
    assert dp_pix.Pixelizer(p).describe(3) == p.describe(3)
    assert p.describe(3)["guarantee"].startswith("0.5-DP for any change of up to m=16 pixels")
    g = dp_pix.Params(**BASE, mechanism="gaussian", delta=1e-6).describe()
    assert "-zCDP" in g["guarantee"] and "(0.5, 1e-06)-DP" in g["guarantee"]
    assert math.isclose(g["rho"], dp_pix.Params(**BASE, mechanism="gaussian",
                                                delta=1e-6).zcdp_rho, rel_tol=1e-12)


def test_noise_spec_is_what_the_core_takes() -> None:
    p = dp_pix.Params(**BASE)
    assert p.noise(1) == ("laplace", 8160, 1)
    assert p.noise(3) == ("laplace", 3 * 8160, 1)
    kind, num, den = p.replace(mechanism="gaussian", rho=0.5).noise(1)
    assert kind == "gaussian" and Fraction(num, den) == Fraction((255 * 16) ** 2, 1)
    with pytest.raises(ValueError, match="channels"):
        p.noise(0)


def test_entry_points_refuse_a_wrong_params() -> None:
    img = np.zeros((8, 8), np.uint8)
    with pytest.raises(TypeError, match="dp_pix.Params"):
        dp_pix.dp_pixelate(img, {"block": 4})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="block= and m= required"):
        dp_pix.dp_pixelate(img, epsilon=1.0)
