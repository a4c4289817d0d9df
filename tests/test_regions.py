"""Region mode: DP-Pix inside boxes or a mask, every other pixel unchanged."""

from __future__ import annotations

import dp_pix
import numpy as np
import pytest
from dp_pix import reference, regions
from dp_pix.params import REGION_TERMS, discrete_laplace_variance

RNG = np.random.default_rng(2018)
IMAGE = RNG.integers(0, 256, (120, 160, 3), dtype=np.uint8)


def changed(out: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The pixels where ``out`` differs from ``image`` (any channel)."""
    diff = out != image
    return diff.any(axis=2) if diff.ndim == 3 else diff


def inside(shape: tuple[int, int], boxes) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


# ------------------------------------------------------------ outside pixels


@pytest.mark.parametrize("edges", ["partial", "pad", "crop"])
@pytest.mark.parametrize("api", [dp_pix, reference], ids=["rust", "reference"])
def test_outside_pixels_are_unchanged_byte_for_byte(api, edges):
    boxes = [(5, 7, 45, 50), (100, 60, 157, 118), (60, 0, 90, 20)]
    out = api.dp_pixelate(IMAGE, block=8, epsilon=0.5, m=16, edges=edges, regions=boxes, seed=1)
    assert out.shape == IMAGE.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    outside = ~inside(IMAGE.shape[:2], boxes)
    assert np.array_equal(out[outside], IMAGE[outside])
    assert changed(out, IMAGE)[~outside].mean() > 0.9  # inside: noisy


def test_grey_image_and_strided_input():
    grey = np.asfortranarray(IMAGE[::2, ::-1, 1])  # (60, 160), Fortran order, negative stride
    out = dp_pix.dp_pixelate(grey, block=4, epsilon=1, m=4, regions=[(10, 10, 30, 40)], seed=2)
    assert out.shape == grey.shape and out.dtype == np.uint8
    outside = ~inside(grey.shape, [(10, 10, 30, 40)])
    assert np.array_equal(out[outside], grey[outside])
    assert np.array_equal(grey, np.asfortranarray(IMAGE[::2, ::-1, 1]))  # input untouched


def test_no_region_returns_an_unchanged_copy():
    out = dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1, m="region", regions=[])
    assert np.array_equal(out, IMAGE) and out is not IMAGE


# ------------------------------------------------------------ cells inside


def cells_constant(out: np.ndarray, box, block: int) -> bool:
    x0, y0, x1, y1 = box
    crop = out[y0:y1, x0:x1].astype(np.int64)
    for r in range(0, y1 - y0, block):
        for c in range(0, x1 - x0, block):
            cell = crop[r : r + block, c : c + block]
            if not np.all(cell == cell[:1, :1]):
                return False
    return True


def test_cells_are_anchored_at_each_box_and_constant():
    boxes = [(3, 5, 43, 38), (101, 61, 150, 117)]  # corners off the global 8-grid
    out = dp_pix.dp_pixelate(IMAGE, block=8, epsilon=2, m=16, regions=boxes, seed=4)
    for box in boxes:
        assert cells_constant(out, box, 8)
    # the same box released alone is whole-image DP-Pix of the crop, in distribution:
    # here, with the mosaic's cell means as the centre, the errors are small at ε = 1e6
    x0, y0, x1, y1 = boxes[0]
    near = dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1e6, m=1, regions=[boxes[0]])
    mosaic = dp_pix.pixelate(np.ascontiguousarray(IMAGE[y0:y1, x0:x1]), block=8)
    assert np.abs(near[y0:y1, x0:x1].astype(int) - mosaic).max() <= 1


def test_inside_noise_has_the_calibrated_scale():
    """Laplace noise of scale 255·m·C/ε on each region-cell sum, nothing less."""
    flat = np.full((200, 200), 128, dtype=np.uint8)
    boxes = [(x, y, x + 40, y + 40) for x in range(0, 200, 40) for y in range(0, 200, 40)]
    block, m, epsilon = 8, 1, 1.0
    p = dp_pix.Params(block=block, epsilon=epsilon, m=m)
    t = p.describe(1)["scale"]
    values = []
    for seed in range(40):
        out = dp_pix.dp_pixelate(flat, p, regions=boxes, seed=seed)
        values.append(out[::block, ::block].astype(np.float64))
    noise = (np.concatenate(values) - 128) * block * block  # S + Z - S, up to rounding
    expected = discrete_laplace_variance(t) + (block * block) ** 2 / 12
    assert noise.size == 40 * 25 * 25
    assert noise.var() == pytest.approx(expected, rel=0.08)
    assert abs(noise.mean()) < 5 * np.sqrt(expected / noise.size)


def test_partial_cells_follow_edges():
    flat = np.full((50, 50), 100, dtype=np.uint8)
    box = (0, 0, 20, 20)  # 8x8 cells: 2 full, then a 4-pixel strip
    big = {"block": 8, "epsilon": 1e6, "m": 1, "regions": [box]}
    partial = dp_pix.dp_pixelate(flat, **big)
    assert np.abs(partial[:20, :20].astype(int) - 100).max() <= 1  # unbiased
    pad = dp_pix.dp_pixelate(flat, **big, edges="pad")
    assert pad[18, 18] == 25 and pad[2, 2] in (99, 100, 101)  # 100·16/64: the paper's dark edge
    crop = dp_pix.dp_pixelate(flat, **big, edges="crop")
    assert np.all(crop[16:20, :20] == 0) and np.all(crop[:20, 16:20] == 0)  # not released
    assert np.abs(crop[:16, :16].astype(int) - 100).max() <= 1
    small = dp_pix.dp_pixelate(flat, block=8, epsilon=1, m=1, edges="crop", regions=[(0, 0, 5, 5)])
    assert np.all(small[:5, :5] == 0) and np.all(small[5:] == 100)
    for out in (partial, pad, crop):
        assert np.all(out[20:] == 100) and np.all(out[:, 20:] == 100)


# ------------------------------------------------------------ boxes


def test_overlapping_boxes_are_merged_and_touching_ones_kept():
    shape = (100, 100)
    lay = regions.layout([(0, 0, 10, 10), (5, 5, 20, 20), (30, 30, 40, 40), (20, 0, 30, 10)], shape)
    assert lay.boxes == ((0, 0, 20, 20), (20, 0, 30, 10), (30, 30, 40, 40))
    # a merge that makes a new overlap merges again
    chain = regions.merge([(0, 0, 10, 10), (8, 8, 12, 30), (0, 25, 5, 28)])
    assert chain == [(0, 0, 12, 30)]
    assert regions.merge([]) == []


def test_merged_boxes_release_each_pixel_once():
    boxes = [(10, 10, 50, 50), (30, 30, 70, 70)]
    out = dp_pix.dp_pixelate(IMAGE, block=8, epsilon=2, m=16, regions=boxes, seed=8)
    assert cells_constant(out, (10, 10, 70, 70), 8)  # one grid over the merged box
    outside = ~inside(IMAGE.shape[:2], [(10, 10, 70, 70)])
    assert np.array_equal(out[outside], IMAGE[outside])


def test_padded_and_clipped_boxes():
    assert regions.grow([(50, 40, 150, 90)], 0.2, (200, 300)) == [(30, 30, 170, 100)]
    assert regions.grow([(5, 5, 15, 25)], 0.5, (26, 18)) == [(0, 0, 18, 26)]  # clipped
    assert regions.grow([(5, 5, 8, 8)], 0.1, (100, 100)) == [(4, 4, 9, 9)]  # rounded up
    lay = regions.layout([(0, 0, 10, 10), (13, 0, 23, 10)], (50, 50), pad=0.2)
    assert lay.boxes == ((0, 0, 25, 12),)  # grown into each other, then merged
    apart = regions.layout([(0, 0, 10, 10), (14, 0, 24, 10)], (50, 50), pad=0.2)
    assert apart.boxes == ((0, 0, 12, 12), (12, 0, 26, 12))  # grown to touch: kept apart
    with pytest.raises(ValueError, match="pad"):
        regions.grow([], -0.1, (1, 1))


def test_boxes_are_checked():
    shape = (100, 80)
    assert regions.boxes_of([(-5, -5, 10.2, 9.5)], shape) == [(0, 0, 11, 10)]
    assert regions.boxes_of(np.array([[1, 2, 3, 4]]), shape) == [(1, 2, 3, 4)]
    with pytest.raises(TypeError, match=r"write \[\(1, 2, 3, 4\)\]"):
        regions.boxes_of((1, 2, 3, 4), shape)
    with pytest.raises(ValueError, match="empty"):
        regions.boxes_of([(10, 10, 10, 20)], shape)
    with pytest.raises(ValueError, match="outside the 80x100 image"):
        regions.boxes_of([(90, 0, 95, 10)], shape)
    with pytest.raises(ValueError, match="4 numbers"):
        regions.boxes_of([(1, 2, 3)], shape)
    with pytest.raises(ValueError, match="finite"):
        regions.boxes_of([(0, 0, float("nan"), 3)], shape)
    with pytest.raises(TypeError):
        regions.boxes_of("0,0,1,1", shape)
    with pytest.raises(TypeError, match="regions"):
        dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1, m=1, regions=[("a", 0, 1, 1)])


# ------------------------------------------------------------ mask form


def test_mask_form_changes_only_mask_pixels():
    yy, xx = np.mgrid[:120, :160]
    mask = (yy - 60) ** 2 + (xx - 70) ** 2 < 30**2  # a disc
    mask[5:9, 150:155] = True  # and a far speck: one region, one grid
    out = dp_pix.dp_pixelate(IMAGE, block=8, epsilon=0.5, m=16, regions=mask, seed=3)
    assert np.array_equal(out[~mask], IMAGE[~mask])
    assert changed(out, IMAGE)[mask].mean() > 0.9
    # cells are grid cells restricted to the mask: one value per cell of the
    # grid anchored at the mask's bounding box
    y0, x0 = np.nonzero(mask.any(axis=1))[0][0], np.nonzero(mask.any(axis=0))[0][0]
    cell = ((yy - y0) // 8) * 100 + (xx - x0) // 8
    for k in np.unique(cell[mask]):
        values = out[mask & (cell == k)]
        assert np.all(values == values[0])


def test_mask_cells_average_over_mask_pixels_only():
    image = np.zeros((16, 16), dtype=np.uint8)
    image[:, :8] = 200  # inside the mask
    mask = np.zeros((16, 16), dtype=bool)
    mask[:, :8] = True
    mask[0, 8] = True  # one black mask pixel in the second column of cells
    out = dp_pix.dp_pixelate(image, block=16, epsilon=1e6, m=1, regions=mask)
    # one 16x16 cell holding 129 mask pixels: sum 200·128, so the mean is 198.4...
    assert np.all(out[mask] == 198) and np.all(out[~mask] == 0)
    pad = dp_pix.dp_pixelate(image, block=16, epsilon=1e6, m=1, regions=mask, edges="pad")
    assert np.all(pad[mask] == 100)  # 200·128/256


def test_a_rectangular_mask_matches_its_box_in_distribution():
    flat = np.full((64, 64), 90, dtype=np.uint8)
    box = (8, 8, 40, 40)
    mask = inside((64, 64), [box])
    stats = []
    for form in ([box], mask):
        vals = np.concatenate(
            [dp_pix.dp_pixelate(flat, block=8, epsilon=2, m=2, regions=form)[8:40:8, 8:40:8]
             for _ in range(60)]
        ).astype(float)  # fmt: skip
        stats.append((vals.mean(), vals.std()))
    (m1, s1), (m2, s2) = stats
    assert abs(m1 - m2) < 1.0 and s1 == pytest.approx(s2, rel=0.15)


def test_mask_is_checked():
    with pytest.raises(ValueError, match="height and width"):
        dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1, m=1, regions=np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match="shape"):
        dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1, m=1, regions=np.zeros((120, 160), np.uint8))
    empty = dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1, m=1, regions=np.zeros((120, 160), bool))
    assert np.array_equal(empty, IMAGE)


# ------------------------------------------------------------ m = "region"


def test_m_region_is_the_largest_region():
    boxes = [(0, 0, 30, 20), (50, 50, 90, 100)]
    lay = regions.layout(boxes, (120, 160))
    assert lay.largest == 40 * 50 and lay.pixels == 600 + 2000
    p = dp_pix.Params(block=8, epsilon=1, m="region")
    assert regions.resolve(p, lay) == p.replace(m=2000)
    info = regions.describe(p, 3, lay)
    assert info["m"] == 2000 and info["m_requested"] == "region"
    assert info["regions"]["boxes"] == [[0, 0, 30, 20], [50, 50, 90, 100]]
    assert info["scale"] == pytest.approx(255 * 2000 * 3 / 1.0)
    mask = inside((120, 160), boxes)
    assert regions.layout(mask, (120, 160)).largest == 2600  # a mask is one region


def test_m_region_buries_the_region():
    out = dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1, m="region", regions=[(0, 0, 64, 64)])
    crop = out[:64:8, :64:8].astype(int)
    assert np.mean((crop == 0) | (crop == 255)) > 0.9  # noise of ~10^5 grey levels: saturated


def test_m_region_without_regions_is_refused():
    p = dp_pix.Params(block=8, epsilon=1, m="region")
    for call in (
        lambda: dp_pix.dp_pixelate(IMAGE, p),
        lambda: dp_pix.dp_pixelate_batch(np.stack([IMAGE] * 2), p),
        lambda: dp_pix.Pixelizer(p).batch([IMAGE]),
        lambda: p.noise(3),
    ):
        with pytest.raises(ValueError, match="m='region'.*regions="):
            call()


def test_params_take_m_region():
    p = dp_pix.Params(block=8, epsilon=1, m="region")
    assert p.m == "region" and dp_pix.Params.from_dict(p.to_dict()) == p
    assert p.to_dict()["m"] == "region"
    info = p.describe(3)
    assert info["scope"] == "regions" and info["scale"] is None
    assert "m being the pixel count of the image's largest region" in info["guarantee"]
    assert REGION_TERMS in info["guarantee"]
    g = dp_pix.Params(block=8, epsilon=1, delta=1e-6, m="region", mechanism="gaussian")
    assert g.describe(1)["guarantee"].startswith("(1, 1e-06)-DP")
    with pytest.raises(ValueError, match="pixel count or 'region'"):
        dp_pix.Params(block=8, epsilon=1, m="regions")
    with pytest.raises(ValueError, match="too small"):
        dp_pix.Params(block=8, epsilon=1e-13, m="region")


def test_the_guarantee_sentence_is_exact():
    p = dp_pix.Params(block=16, epsilon=0.5, m=16)
    whole = p.describe(3)["guarantee"]
    region = p.describe(3, regions=True)["guarantee"]
    assert REGION_TERMS not in whole
    assert region.startswith(
        "0.5-DP for any change of up to m=16 pixels inside the regions (all 3 channel(s)), "
        "given the regions; the regions' positions and sizes are published as they are and "
        "were found on the raw image; a face the detector misses has no protection; "
    )
    assert whole.split("; ", 1)[1] == region.rsplit("; ", 1)[1]  # the same noise
    assert dp_pix.Pixelizer(p).describe(3, regions=True)["guarantee"] == region


# ------------------------------------------------------------ options and streams


def test_grid_output_is_refused():
    with pytest.raises(ValueError, match="output='full'"):
        dp_pix.dp_pixelate(IMAGE, block=8, epsilon=1, m=1, output="grid", regions=[(0, 0, 8, 8)])


def test_seeded_regions_are_reproducible_and_use_distinct_streams():
    flat = np.full((32, 96), 128, dtype=np.uint8)
    boxes = [(0, 0, 32, 32), (32, 0, 64, 32), (64, 0, 96, 32)]
    kw = {"block": 8, "epsilon": 1, "m": 4, "regions": boxes}
    a, b = dp_pix.dp_pixelate(flat, seed=5, **kw), dp_pix.dp_pixelate(flat, seed=5, **kw)
    assert np.array_equal(a, b)
    tiles = [a[:, x : x + 32] for x in (0, 32, 64)]
    assert not np.array_equal(tiles[0], tiles[1]) and not np.array_equal(tiles[1], tiles[2])
    # not the whole-image streams of the same index either
    whole = dp_pix.dp_pixelate(flat[:, :32], block=8, epsilon=1, m=4, seed=5)
    assert not np.array_equal(whole, tiles[0])
    assert len({regions.stream_index(i, k) for i in range(50) for k in range(50)}) == 2500
    # a seeded Pixelizer moves on: a second call draws other noise
    px = dp_pix.Pixelizer(block=8, epsilon=1, m=4, seed=5)
    assert not np.array_equal(px(flat, regions=boxes), px(flat, regions=boxes))
    assert np.array_equal(dp_pix.Pixelizer(block=8, epsilon=1, m=4, seed=5)(flat, regions=boxes), a)


def test_batch_takes_one_entry_per_image():
    images = np.stack([IMAGE, IMAGE[::-1]])
    mask = np.zeros(IMAGE.shape[:2], bool)
    mask[40:60, 40:90] = True
    both = [[(0, 0, 16, 16)], mask]
    outs = dp_pix.dp_pixelate_batch(images, block=8, epsilon=1, m=8, regions=both)
    assert outs.shape == images.shape
    assert np.array_equal(outs[0, 16:], images[0, 16:])
    assert np.array_equal(outs[1][~mask], images[1][~mask])
    as_list = dp_pix.dp_pixelate_batch(list(images), block=8, epsilon=1, m=8, regions=[[], []])
    assert isinstance(as_list, list) and all(np.array_equal(o, i) for o, i in zip(as_list, images))
    seeded = {"block": 8, "epsilon": 1, "m": 8, "regions": [[(0, 0, 16, 16)], mask], "seed": 9}
    assert np.array_equal(
        dp_pix.dp_pixelate_batch(images, **seeded), dp_pix.dp_pixelate_batch(images, **seeded)
    )
    with pytest.raises(ValueError, match="one entry per image"):
        dp_pix.dp_pixelate_batch(images, block=8, epsilon=1, m=8, regions=[[]])
    with pytest.raises(TypeError, match="one entry per image"):
        dp_pix.dp_pixelate_batch(images, block=8, epsilon=1, m=8, regions=mask)
    empty = dp_pix.dp_pixelate_batch(images[:0], block=8, epsilon=1, m=8, regions=[])
    assert empty.shape == (0, *IMAGE.shape)


def test_gaussian_mechanism_in_region_mode():
    out = dp_pix.dp_pixelate(
        IMAGE, block=8, epsilon=1, delta=1e-6, m="region", mechanism="gaussian",
        regions=[(0, 0, 16, 16)], seed=1,
    )  # fmt: skip
    assert np.array_equal(out[16:], IMAGE[16:]) and cells_constant(out, (0, 0, 16, 16), 8)


def test_reference_core_agrees_in_distribution():
    flat = np.full((48, 48), 60, dtype=np.uint8)
    box = [(0, 0, 48, 48)]
    for api in (dp_pix, reference):
        vals = np.concatenate(
            [api.dp_pixelate(flat, block=8, epsilon=4, m=1, regions=box, seed=s)[::8, ::8]
             for s in range(8)]
        ).astype(float)  # fmt: skip
        assert abs(vals.mean() - 60) < 2.5 and 0.5 < vals.std() < 3
