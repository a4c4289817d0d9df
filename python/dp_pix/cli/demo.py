"""``dp-pix demo``: a panel of the mosaic and DP-Pix on a bundled photograph."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dp_pix.cli.common import (
    EXIT_OK,
    PROG,
    CommandError,
    positive_float,
    positive_int,
    say,
    seed_int,
    write_atomically,
)

# Chosen by looking at the panel (256x256 colour face, b=16, m=16): at ε=0.5 the
# noise (sd ≈ 135 grey levels per cell) buries the face, at ε=2 (sd ≈ 34) the
# silhouette shows through, at ε=8 (sd ≈ 8) it is close to the plain mosaic.
DEMO_EPSILONS = (0.5, 2.0, 8.0)
DEMO_BLOCK = 16
DEMO_M = 16  # the paper's default
DEMO_OUT = "dp-pix-demo.png"


# ---------------------------------------------------------------------------
# dp-pix demo


_DEMO_DESCRIPTION = """\
Pixelate the photograph that ships with dp-pix (a NASA portrait of astronaut
Eileen Collins, public domain) and write one PNG panel: the original, its
plain mosaic, DP-Pix at each privacy level epsilon, and region mode (the face
alone privatized with m = the face's pixel count, the rest unchanged). Print
what each picture guarantees. Needs no network.
"""

_DEMO_EPILOG = """\
Smaller epsilon means more noise and a stronger guarantee: changing any M
pixels of the photo changes the probability of any DP-Pix output by a factor
of at most exp(epsilon). The mosaic has no such guarantee.

examples:
  {prog} demo
  {prog} demo --out panel.png --epsilon 0.1 1 10 --overwrite
  {prog} demo --block 8 --m 4 --seed 7
"""


def add(subparsers: Any) -> None:
    """The ``demo`` subcommand's parser."""
    eps = " ".join(f"{e:g}" for e in DEMO_EPSILONS)
    p = subparsers.add_parser(
        "demo",
        help="write a panel comparing mosaic and DP-Pix on a bundled photo",
        description=_DEMO_DESCRIPTION,
        epilog=_DEMO_EPILOG.format(prog=PROG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path(DEMO_OUT),
        metavar="PATH",
        help=f"PNG file to write (default: ./{DEMO_OUT})",
    )
    p.add_argument(
        "-e",
        "--epsilon",
        type=positive_float,
        nargs="+",
        default=list(DEMO_EPSILONS),
        metavar="E",
        help=f"privacy levels, one DP-Pix picture each (default: {eps})",
    )
    p.add_argument(
        "-b",
        "--block",
        type=positive_int,
        default=DEMO_BLOCK,
        metavar="B",
        help=f"cell size in pixels, B x B (default: {DEMO_BLOCK})",
    )
    p.add_argument(
        "-m",
        "--m",
        type=positive_int,
        default=DEMO_M,
        metavar="M",
        help=f"pixels an adversary may change: the neighbourhood size (default: {DEMO_M})",
    )
    p.add_argument(
        "--seed",
        type=seed_int,
        default=None,
        metavar="S",
        help="make the noise reproducible; a seed is a secret key, never use one for a "
        "real release (default: fresh randomness from the OS)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace PATH if it already exists",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dp_pix import demo

    out: Path = args.out
    if out.is_dir():
        raise CommandError(f"{out} is a directory; --out must name a file")
    if out.exists() and not args.overwrite:
        raise CommandError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise CommandError(f"cannot write {out}: directory {out.parent} does not exist")

    image = demo.load_demo_image()
    panel, panels = demo.demo_panel(
        image, block=args.block, m=args.m, epsilons=args.epsilon, seed=args.seed
    )
    write_atomically(out, demo.encode_png(panel), overwrite=args.overwrite)

    h, w = image.shape[:2]
    say(
        f"{PROG} demo: {demo.DEMO_IMAGE_CREDIT}, {w}x{h} RGB, "
        f"{args.block}x{args.block} cells, m={args.m}"
    )
    for p in panels:
        say(f"  {p['line']}")
    say(f"wrote {out} ({panel.shape[1]}x{panel.shape[0]} PNG, {len(panels)} pictures)")
    return EXIT_OK


