"""``dp-pix evaluate``: the paper's experiments on a data set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dp_pix.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CommandError,
    nonnegative_int,
    positive_int,
    say,
    seed_int,
)

# ---------------------------------------------------------------------------
# dp-pix evaluate


_EVALUATE_DESCRIPTION = """\
Reproduce the experiments of the DP-Pix paper on a data set: utility (MSE and
SSIM against the block size b, the neighbourhood m and epsilon) for DP-Pix,
the mosaic, a Gaussian blur and a noisy mosaic, and a re-identification attack
(several classifiers trained on obfuscated images of known classes), also on
images cut from scenes released in region mode (at m and at m = region); then
a reconstruction attack (maps from obfuscated to original images learned on
other people, scored by PSNR, SSIM and re-identification). Writes report.md,
measurements.csv, summary.csv and PNG plots into DIR. Needs the evaluation
extra: pip install 'dp-pix[eval]'.
"""

_EVALUATE_EPILOG = """\
DATASET is att (AT&T faces: s1..s40/*.pgm), omniglot (images_background.zip or
its folder), miniimagenet (labels.csv with images, or class folders) or folder
(any folder with one subfolder of images per class). Without --data the
paper's sets are looked up in $DP_PIX_DATA.

examples:
  {prog} evaluate --dataset att --data data/att_faces --out eval-att
  {prog} evaluate --dataset att --data data/att_faces --out eval-quick --quick
  {prog} evaluate --dataset folder --data my_photos --out eval-mine --seed 1 --jobs 4
"""


def add(subparsers: Any) -> None:
    """The ``evaluate`` subcommand's parser."""
    p = subparsers.add_parser(
        "evaluate",
        help="reproduce the paper's utility curves and re-identification attack",
        description=_EVALUATE_DESCRIPTION,
        epilog=_EVALUATE_EPILOG.format(prog=PROG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--dataset",
        choices=("att", "omniglot", "miniimagenet", "folder"),
        required=True,
        help="which data set (see below)",
    )
    p.add_argument(
        "--data", type=Path, default=None, metavar="PATH", help="where the data set is"
    )
    p.add_argument(
        "-o", "--out", type=Path, required=True, metavar="DIR", help="folder to write into"
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer points and splits (minutes, not tens)"
    )
    p.add_argument(
        "--splits",
        type=positive_int,
        default=None,
        metavar="N",
        help="random train/test splits of the attack (default: enough for about 1600 test "
        "predictions, 5 to 20, e.g. 20 on AT&T; with --quick: 4)",
    )
    p.add_argument(
        "--reconstruction-splits",
        type=nonnegative_int,
        default=None,
        metavar="N",
        help="random splits of the reconstruction attack into public and target classes "
        "(default: 20; with --quick: 4); 0 skips that attack",
    )
    p.add_argument(
        "--attackers",
        type=_attacker_list,
        default=None,
        metavar="A,B",
        help=f"attackers to run, comma-separated, from: {', '.join(ATTACKERS)} (default: all)",
    )
    p.add_argument(
        "--seed",
        type=seed_int,
        default=None,
        metavar="S",
        help="root of all randomness, for a reproducible run (default: a random one, "
        "recorded in the report)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=None,
        metavar="N",
        help="worker processes (default: the number of CPUs)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="write into DIR even if it is not empty"
    )
    p.set_defaults(run=run)


# The names of dp_pix.attack.ATTACKERS, without importing it (and scikit-learn) here.
ATTACKERS = ("logreg", "linear-svm", "knn", "centroid", "eigenfaces", "fisherfaces")


def _attacker_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown attacker(s) {', '.join(unknown) or text!r}; "
            f"choose from {', '.join(ATTACKERS)}"
        )
    return names


def run(args: argparse.Namespace) -> int:
    from dp_pix import evaluate

    try:
        result = evaluate.run(
            args.dataset,
            args.data,
            args.out,
            quick=args.quick,
            seed=args.seed,
            jobs=args.jobs,
            overwrite=args.overwrite,
            splits=args.splits,
            reconstruction_splits=args.reconstruction_splits,
            attackers=args.attackers,
        )
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    except FileExistsError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    whole = round(result.seconds)
    say(
        f"wrote {result.out / 'report.md'} and {len(result.files) - 1} other files "
        f"in {result.seconds:.0f} s ({whole // 60}:{whole % 60:02d} min:s)"
    )
    return EXIT_OK


