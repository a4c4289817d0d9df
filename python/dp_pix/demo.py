"""The `dp-pix demo` panel: one photograph, its mosaic, DP-Pix at several ε,
and region mode: the face alone privatized with ``m="region"``.

Everything here runs offline on the photograph that ships in ``dp_pix/data``
(see ``data/README.txt`` for its source and licence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import dp_pix
from dp_pix import regions

__all__ = [
    "DEMO_FACE",
    "DEMO_IMAGE",
    "REGION_EPSILON",
    "demo_panel",
    "encode_png",
    "load_demo_image",
]

#: The bundled photograph, relative to the ``dp_pix`` package.
DEMO_IMAGE = "data/astronaut.png"
DEMO_IMAGE_CREDIT = "NASA portrait of astronaut Eileen Collins (public domain)"
#: The face in the photograph, as ``dp_pix.detect.HaarFaceDetector`` finds it
#: (``tests/test_detect.py`` checks that it still does); fixed here so that the
#: demo runs without OpenCV. The panel grows it by ``regions.DEFAULT_PAD``.
DEMO_FACE = (86, 30, 139, 83)
#: ε of the region-mode tile. With m = the whole face, any ε buries it.
REGION_EPSILON = 1.0

_MARGIN = 8  # around the panel and between tiles, in pixels
_FONT_SIZE = 13
_LINE_GAP = 3
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_WARN_INK = (170, 20, 20)


def load_demo_image() -> np.ndarray:
    """Return the bundled demo photograph as a uint8 array of shape (256, 256, 3)."""
    photo = resources.files("dp_pix").joinpath(*DEMO_IMAGE.split("/"))
    with photo.open("rb") as f, Image.open(f) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def demo_panel(
    image: np.ndarray,
    block: int | tuple[int, int],
    m: int,
    epsilons: Sequence[float],
    seed: Any = None,
    region_epsilon: float | None = REGION_EPSILON,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Build the demo panel: original, mosaic, DP-Pix at each ε, then (unless
    ``region_epsilon`` is None) region mode, side by side: the face
    (:data:`DEMO_FACE` grown by ``regions.DEFAULT_PAD``, clipped to the image)
    privatized at ``region_epsilon`` with ``m="region"``, the rest unchanged.

    Returns ``(panel, panels)``: ``panel`` is a uint8 RGB array holding one
    captioned tile per picture; ``panels`` has one dict per tile, in order,
    with the keys ``"kind"`` (``"original"``, ``"mosaic"``, ``"dp-pix"`` or
    ``"region"``),
    ``"caption"`` (the text under the tile), ``"epsilon"`` (None except for
    DP-Pix), ``"private"`` (bool), ``"line"`` (one line stating what the tile
    guarantees, for the console) and ``"describe"`` (``Pixelizer.describe()``
    for DP-Pix tiles, ``regions.describe()`` for the region tile, else None).

    ``seed`` is passed to every DP-Pix tile, so a seeded panel is reproducible;
    like any dp_pix seed it is a secret key, not something to use for a release.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"image must be a uint8 array, got dtype {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    epsilons = list(epsilons)
    if not epsilons:
        raise ValueError("epsilons must name at least one ε, e.g. [0.5, 2, 8]")
    channels = 1 if image.ndim == 2 else image.shape[2]
    bh, bw = (block, block) if isinstance(block, int) else tuple(block)
    b = f"{bh}" if bh == bw else f"{bh}x{bw}"
    h, w = image.shape[:2]

    tiles = [image, dp_pix.pixelate(image, block=block)]
    panels: list[dict[str, Any]] = [
        {
            "kind": "original",
            "caption": ("original", f"{w}x{h}, {channels} channel{'s' if channels > 1 else ''}"),
            "epsilon": None,
            "private": False,
            "line": "original: the photograph itself; no protection.",
            "describe": None,
        },
        {
            "kind": "mosaic",
            "caption": (f"mosaic b={b}", "(not private)"),
            "epsilon": None,
            "private": False,
            "line": (
                f"mosaic b={b}: NOT private. Exact cell averages with no noise; "
                "no guarantee (mosaicked faces can be re-identified)."
            ),
            "describe": None,
        },
    ]
    for epsilon in epsilons:
        pixelizer = dp_pix.Pixelizer(block=block, epsilon=epsilon, m=m, seed=seed)
        tiles.append(pixelizer(image))
        info = pixelizer.describe(channels=channels)
        std = float(info["grey_std_interior"])
        panels.append(
            {
                "kind": "dp-pix",
                # Pillow's default font has no Greek letters: spell ε out in the picture.
                "caption": (f"DP-Pix eps={epsilon:g}, m={m}", f"noise sd {std:.0f} grey levels"),
                "epsilon": epsilon,
                "private": True,
                "line": (
                    f"DP-Pix ε={epsilon:g}: {info['guarantee']} (noise sd {_fmt(std)} grey levels)"
                ),
                "describe": info,
            }
        )

    if region_epsilon is not None:
        face = regions.layout([DEMO_FACE], (h, w), pad=regions.DEFAULT_PAD)
        params = dp_pix.Params(block=block, epsilon=region_epsilon, m="region")
        tiles.append(dp_pix.dp_pixelate(image, params, regions=face, seed=seed))
        info = regions.describe(params, channels, face)
        x0, y0, x1, y1 = face.boxes[0]
        panels.append(
            {
                "kind": "region",
                "caption": (f"face only, eps={region_epsilon:g}", f"m=region ({info['m']} px)"),
                "epsilon": region_epsilon,
                "private": True,
                "line": (
                    f"region mode, the face box ({x0}, {y0}, {x1}, {y1}), m=region, "
                    f"ε={region_epsilon:g}: {info['guarantee']}; the rest of the photo is "
                    "published unchanged"
                ),
                "describe": info,
            }
        )

    return _compose(tiles, [p["caption"] for p in panels]), panels


def encode_png(panel: np.ndarray) -> bytes:
    """Encode a uint8 RGB array as PNG bytes."""
    import io

    buf = io.BytesIO()
    Image.fromarray(panel).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _compose(tiles: list[np.ndarray], captions: list[tuple[str, ...]]) -> np.ndarray:
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = max(probe.textbbox((0, 0), "Ag(y)", font=font)[3], 1)
    n_lines = max(len(c) for c in captions)
    caption_h = n_lines * (line_h + _LINE_GAP) + _LINE_GAP

    tile_h = max(t.shape[0] for t in tiles)
    widths = []
    for tile, caption in zip(tiles, captions):
        text_w = max(math.ceil(probe.textlength(s, font=font)) for s in caption)
        widths.append(max(tile.shape[1], text_w))

    panel_w = sum(widths) + _MARGIN * (len(tiles) + 1)
    panel_h = tile_h + caption_h + 2 * _MARGIN
    canvas = Image.new("RGB", (panel_w, panel_h), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = _MARGIN
    for tile, caption, col_w in zip(tiles, captions, widths):
        rgb = tile if tile.ndim == 3 else tile[:, :, None]
        if rgb.shape[2] < 3:  # grey (or grey + alpha): show the first channel as grey
            rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
        rgb = rgb[:, :, :3]
        canvas.paste(
            Image.fromarray(np.ascontiguousarray(rgb)), (x + (col_w - rgb.shape[1]) // 2, _MARGIN)
        )
        y = _MARGIN + tile_h + _LINE_GAP
        for i, text in enumerate(caption):
            ink = _WARN_INK if text == "(not private)" else _INK
            line_w = probe.textlength(text, font=font)
            draw.text((x + (col_w - line_w) / 2, y), text, fill=ink, font=font)
            y += line_h + _LINE_GAP
        x += col_w + _MARGIN
    return np.asarray(canvas, dtype=np.uint8)
