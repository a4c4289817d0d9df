"""The ``dp-pix`` command line.

Each subcommand is one ``_add_<name>(subparsers)`` function that builds its
parser and sets ``run`` to the function doing the work; add it to
``SUBCOMMANDS`` and it appears in ``dp-pix --help``. A ``run`` function takes
the parsed arguments and returns the exit status. It reports a user error by
raising ``CommandError`` (or the ``ValueError``/``TypeError`` that the dp_pix
API raises for a bad argument); ``main`` turns those into one line on stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dp_pix
from dp_pix.params import Mechanism
from dp_pix.progress import escape_controls

PROG = "dp-pix"

# Chosen by looking at the panel (256x256 colour face, b=16, m=16): at ε=0.5 the
# noise (sd ≈ 135 grey levels per cell) buries the face, at ε=2 (sd ≈ 34) the
# silhouette shows through, at ε=8 (sd ≈ 8) it is close to the plain mosaic.
DEMO_EPSILONS = (0.5, 2.0, 8.0)
DEMO_BLOCK = 16
DEMO_M = 16  # the paper's default
DEMO_OUT = "dp-pix-demo.png"

EXIT_OK = 0
EXIT_FAILURE = 1  # the command could not do its work (e.g. a file could not be written)
EXIT_USAGE = 2  # bad arguments, as argparse uses


class CommandError(Exception):
    """A user-facing error: printed as ``dp-pix: error: <message>``, no traceback."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------
# argument types: argparse turns their ArgumentTypeError into a usage error (status 2)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def nonnegative_int(text: str) -> int:
    return _whole_number(text, 0)


def seed_int(text: str) -> int:
    return _whole_number(text, 0)


# ---------------------------------------------------------------------------
# dp-pix demo


_DEMO_DESCRIPTION = """\
Pixelate the photograph that ships with dp-pix (a NASA portrait of astronaut
Eileen Collins, public domain) and write one PNG panel: the original, its
plain mosaic, and DP-Pix at each privacy level epsilon. Print what each
picture guarantees. Needs no network.
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


def _add_demo(subparsers: Any) -> None:
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
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
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
    _print(
        f"{PROG} demo: {demo.DEMO_IMAGE_CREDIT}, {w}x{h} RGB, "
        f"{args.block}x{args.block} cells, m={args.m}"
    )
    for p in panels:
        _print(f"  {p['line']}")
    _print(f"wrote {out} ({panel.shape[1]}x{panel.shape[0]} PNG, {len(panels)} pictures)")
    return EXIT_OK


# ---------------------------------------------------------------------------
# dp-pix pixelate


_PIXELATE_DESCRIPTION = """\
Privatize image files and folders with DP-Pix and write them under OUT,
together with a privacy record, OUT/dp-pix.json. Folders are read
recursively and mirrored under OUT; files keep their names (the suffix
follows --format). Changing any M pixels of an input changes the
probability of any output by a factor of at most exp(EPSILON).
"""

_PIXELATE_EPILOG = """\
inputs and outputs:
  A folder's contents go directly under OUT (photos/a/x.jpg -> OUT/a/x.png);
  a file goes to OUT/NAME. In folders, files with an image suffix (.png .jpg
  .jpeg .tif .tiff .webp .bmp .gif .pgm .ppm ...) are read; other files,
  hidden files and links to folders are ignored, counted and listed in the
  record. A file named on the command line is always tried. Refused before
  any work: two inputs that map to one output name, an image reached twice
  (two noisy copies spend epsilon twice), and an OUT that is an input, lies
  inside one or contains one.

conversions (as dp_pix.io.read_image):
  Grey stays grey, colour becomes RGB; 1-bit -> 0/255; 16-bit -> v >> 8;
  palette, CMYK -> RGB; alpha is dropped (not composited); the EXIF
  orientation is applied. Outputs carry no metadata (EXIF, GPS, ICC,
  comments). --format jpeg writes quality 95 without chroma subsampling;
  re-encoding costs no privacy. --format same keeps .png .jpg .jpeg .tif
  .tiff .webp .bmp .gif .pgm .ppm .pnm .tga .qoi and writes PNG otherwise.
  A file that cannot be read or written is reported on stderr and in the
  record, and the run goes on.

interrupted runs:
  Every file is written to a hidden temporary file and renamed into place,
  so an interrupted run leaves only whole files. Run the same command with
  --skip-existing to finish it; it refuses an OUT whose dp-pix.json has other
  parameters. Without --skip-existing or --overwrite a run refuses an OUT
  that already holds any of its output files.

on a Ray cluster (pip install 'dp-pix[ray]'):
  --ray runs the same command on Ray Data: the same checks, outputs and
  record, and with --seed the same bytes (each file's noise is keyed by its
  output path). Every worker must see INPUT and OUT at the same paths.
  Without ADDRESS Ray picks: $RAY_ADDRESS, a cluster started on this
  machine, else a new local one.

exit status:
  0 every file written; 1 some file failed (listed on stderr and in the
  record); 2 bad arguments, or refused before any work.

examples:
  {prog} pixelate photos/ -o private/ --block 16 --epsilon 0.5 --m 16
  {prog} pixelate a.jpg b.png -o out/ -b 8 -e 1 -m 64 --format jpeg
  {prog} pixelate faces/ -o grids/ -b 16 -e 0.5 -m 16 --output grid --jobs 4
  {prog} pixelate scans/ -o out/ -b 16 -e 1 -m 360 --mechanism gaussian --delta 1e-6
  {prog} pixelate scans/ -o out/ -b 16 -m 360 --mechanism gaussian --rho 0.05
  {prog} pixelate photos/ -o private/ -b 16 -e 0.5 -m 16 --skip-existing
  {prog} pixelate /shared/photos -o /shared/private -b 16 -e 0.5 -m 16 --ray head:6379
"""


def block_size(text: str) -> int | tuple[int, int]:
    """``16`` or ``16x8`` (height x width)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"not a block size B or BHxBW: {text!r}")
    sizes = [positive_int(p) for p in parts]
    return sizes[0] if len(sizes) == 1 else (sizes[0], sizes[1])


def probability(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text!r}")
    return value


def _add_pixelate(subparsers: Any) -> None:
    from dp_pix import pipeline

    p = subparsers.add_parser(
        "pixelate",
        help="privatize image files and folders into OUT, with a privacy record",
        description=_PIXELATE_DESCRIPTION,
        epilog=_PIXELATE_EPILOG.format(prog=PROG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and folders")
    p.add_argument(
        "-o", "--out", required=True, metavar="OUT",
        help="folder to write to (created if missing); never an input or inside one",
    )
    p.add_argument(
        "-b", "--block", type=block_size, required=True, metavar="B",
        help="cell size in pixels: B for B x B cells, or BHxBW (e.g. 16x8)",
    )
    p.add_argument(
        "-e", "--epsilon", type=positive_float, default=None, metavar="E",
        help="privacy level; smaller means more noise and a stronger guarantee "
        "(required, unless --rho is given)",
    )
    p.add_argument(
        "-m", "--m", type=positive_int, required=True, metavar="M",
        help="pixels protected: any change of up to M pixels is covered (the paper uses 16)",
    )
    p.add_argument(
        "--mechanism", choices=("laplace", "gaussian"), default="laplace",
        help="noise: 'laplace' (pure epsilon-DP) or 'gaussian' ((epsilon, delta)-DP, "
        "needs --delta) (default: laplace)",
    )
    p.add_argument(
        "--delta", type=probability, default=None, metavar="D",
        help="delta for --mechanism gaussian, e.g. 1e-6 (default: none)",
    )
    p.add_argument(
        "--rho", type=positive_float, default=None, metavar="R",
        help="zCDP budget for --mechanism gaussian, instead of -e/--delta (--delta may be "
        "added to also state the (epsilon, delta) reading) (default: none)",
    )
    p.add_argument(
        "--edges", choices=("partial", "pad", "crop"), default="partial",
        help="cells cut by the right and bottom edges: 'partial' (unbiased), 'pad' (the "
        "paper's formula) or 'crop' (dropped) (default: partial)",
    )
    p.add_argument(
        "--output", choices=("full", "grid"), default="full",
        help="'full': the image size; 'grid': one pixel per cell (default: full)",
    )
    p.add_argument(
        "--format", choices=pipeline.FORMATS, default="png",
        help="file format written: png (lossless), jpeg (.jpg), or same as the input "
        "(default: png)",
    )
    p.add_argument(
        "-j", "--jobs", type=positive_int, default=None, metavar="N",
        help="files processed at once (default: the number of CPUs, "
        f"{pipeline.default_jobs()} here); with --ray, Ray tasks at once (default: "
        "as many as the cluster runs)",
    )
    p.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="run on a Ray cluster at ADDRESS (default: Ray's choice, a new local "
        "instance when none runs); needs pip install 'dp-pix[ray]'",
    )
    p.add_argument(
        "--seed", type=seed_int, default=None, metavar="S",
        help="make the noise reproducible (the same bytes for any --jobs, with or without "
        "--ray); a seed is a "
        "secret key, never use one for a real release; not stored in the record "
        "(default: fresh randomness from the OS)",
    )
    p.add_argument(
        "--max-pixels", type=positive_int, default=None, metavar="N",
        help="images with more pixels fail (a guard against decompression bombs) "
        f"(default: Pillow's limit, {_pillow_limit():,})",
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--skip-existing", action="store_true",
        help="keep outputs that exist already: resume an interrupted run",
    )
    existing.add_argument(
        "--overwrite", action="store_true", help="replace outputs that exist already",
    )
    p.set_defaults(run=_run_pixelate)


def _pillow_limit() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 0)


def _run_pixelate(args: argparse.Namespace) -> int:
    import warnings

    from PIL import Image

    from dp_pix import pipeline

    # A large image fails with its name instead of a bare warning on stderr.
    if args.max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = args.max_pixels
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

    if args.mechanism == "laplace" and (args.delta is not None or args.rho is not None):
        raise CommandError(
            "--delta and --rho apply to --mechanism gaussian; the Laplace mechanism is pure "
            "epsilon-DP: drop them", EXIT_USAGE,
        )
    if args.rho is not None and args.epsilon is not None:
        raise CommandError("give either --rho, or -e/--epsilon with --delta, not both", EXIT_USAGE)
    if args.rho is None and args.epsilon is None:
        raise CommandError("-e/--epsilon is required, e.g. -e 0.5", EXIT_USAGE)
    if args.mechanism == "gaussian" and args.rho is None and args.delta is None:
        raise CommandError(
            "--mechanism gaussian needs --delta (e.g. --delta 1e-6), or --rho", EXIT_USAGE
        )
    params = dp_pix.Params(
        block=args.block, epsilon=args.epsilon, m=args.m, mechanism=args.mechanism,
        delta=args.delta, rho=args.rho, edges=args.edges, output=args.output,
    )  # checked once, before any file is touched: a bad value is a usage error
    options = pipeline.Options(
        params, format=args.format, jobs=args.jobs, seed=args.seed,
        existing="skip" if args.skip_existing else "overwrite" if args.overwrite else "refuse",
    )
    try:
        if args.ray is None:
            report = pipeline.pixelate_paths(args.inputs, args.out, options, stream=sys.stderr)
        else:
            try:
                from dp_pix import ray as dp_ray
            except ImportError as exc:
                raise CommandError(f"--ray: {exc}", EXIT_USAGE) from None
            report = dp_ray.pixelate_paths(
                args.inputs, args.out, options, address=args.ray or None, stream=sys.stderr
            )
    except pipeline.RefusedError as exc:
        raise CommandError(f"refused, nothing written: {exc}", EXIT_USAGE) from None
    except KeyboardInterrupt:
        _print(
            f"{PROG}: interrupted; the files written so far are whole. Run the same command "
            "with --skip-existing to finish", file=sys.stderr,
        )
        raise

    counts = [f"{report.written} written"]
    if report.present:
        counts.append(f"{report.present} already present")
    counts.append(f"{len(report.failures)} failed")
    if report.remaining:
        counts.append(f"{report.remaining} not done")
    if report.ignored:
        counts.append(f"{len(report.ignored)} other files ignored")
    rate = report.written / report.seconds if report.seconds > 0 else 0.0
    _print(f"{PROG} pixelate: {', '.join(counts)} in {report.seconds:.1f} s ({rate:.1f} files/s)")
    for channels, guarantee in report.guarantees.items():
        kind = "grey" if channels == 1 else f"{channels}-channel"
        _print(f"  {kind} images: {guarantee}")
    _print(f"privacy record: {report.record}")
    if report.status == "out of space":
        _print(
            f"{PROG}: stopped: the disk holding OUT is full. Free some space, then run the same "
            "command with --skip-existing to finish",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if report.failures:
        _print(
            f"{PROG}: {len(report.failures)} file(s) failed; see above or {report.record}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK


# ---------------------------------------------------------------------------
# dp-pix audit


_AUDIT_DESCRIPTION = """\
Check the privacy of the installed build empirically. For worst-case pairs of
neighbouring images (M pixels flipped 0 -> 255 in an interior cell, in a
partial edge cell, in a colour image, spread over several cells) run DP-Pix
many times, exactly as the API calibrates it, and bound the privacy loss from
the outputs alone: a lower confidence bound on epsilon (Laplace), on delta at
the claimed epsilon and along the zCDP curve (Gaussian). Exit status 1 when
a bound exceeds the claim.
"""

_AUDIT_EPILOG = """\
A row passes when its lower bound is at most the claim. A correct build shows
Laplace bounds just below epsilon (the Laplace mechanism is tight). Gaussian
rows can only measure delta of about 10/RUNS and more: at delta = 1e-6 the row
at the claimed epsilon catches gross errors only, the zCDP-curve row does better.
See PRIVACY.md.

examples:
  {prog} audit --quick
  {prog} audit --block 8 --m 4 --epsilon 2 --delta 0.01 --runs 1000000
"""


def _add_audit(subparsers: Any) -> None:
    from dp_pix import audit

    p = subparsers.add_parser(
        "audit",
        help="bound the privacy loss of the installed build empirically",
        description=_AUDIT_DESCRIPTION,
        epilog=_AUDIT_EPILOG.format(prog=PROG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-b", "--block", type=positive_int, default=16, metavar="B",
                   help="cell size in pixels, B x B (default: 16)")
    p.add_argument("-m", "--m", type=positive_int, default=16, metavar="M",
                   help="pixels an adversary may change (default: 16)")
    p.add_argument("-e", "--epsilon", type=positive_float, default=1.0, metavar="E",
                   help="claimed epsilon (default: 1)")
    p.add_argument("--delta", type=positive_float, default=1e-6, metavar="D",
                   help="claimed delta of the Gaussian mechanism (default: 1e-6)")
    p.add_argument("--mechanism", choices=("laplace", "gaussian", "both"), default="both",
                   help="which mechanism to audit (default: both)")
    p.add_argument("--runs", type=positive_int, default=None, metavar="N",
                   help=f"runs per image per scenario (default: {audit.DEFAULT_RUNS:,}; "
                   f"--quick: {audit.QUICK_RUNS:,})")
    p.add_argument("--quick", action="store_true",
                   help="fewer runs: about half a minute on two cores")
    p.add_argument("--confidence", type=positive_float, default=audit.DEFAULT_CONFIDENCE,
                   metavar="C", help=f"confidence of each row (default: {audit.DEFAULT_CONFIDENCE})")
    p.add_argument("--seed", type=seed_int, default=None, metavar="S",
                   help="reproducible noise (default: fresh randomness from the OS, as a "
                   "real release uses)")
    p.set_defaults(run=_run_audit)


def _run_audit(args: argparse.Namespace) -> int:
    import time

    from dp_pix import audit

    if args.runs is not None and args.runs < 100:
        raise CommandError("--runs must be at least 100", EXIT_USAGE)
    if not 0.5 < args.confidence < 1:
        raise CommandError("--confidence must lie strictly between 0.5 and 1", EXIT_USAGE)
    runs = args.runs or (audit.QUICK_RUNS if args.quick else audit.DEFAULT_RUNS)
    mechanisms: tuple[Mechanism, ...] = (
        audit.MECHANISMS if args.mechanism == "both" else (args.mechanism,)
    )
    params = [
        dp_pix.Params(
            block=args.block, m=args.m, epsilon=args.epsilon, mechanism=mech,
            delta=args.delta if mech == "gaussian" else None,
        )
        for mech in mechanisms
    ]
    delta = f", delta={args.delta:g}" if "gaussian" in mechanisms else ""
    _print(
        f"{PROG} audit: {dp_pix.BACKEND} backend, dp-pix {dp_pix.__version__}; "
        f"block {args.block}x{args.block}, m={args.m}, epsilon={args.epsilon:g}{delta}; "
        f"{runs:,} runs per image, confidence {args.confidence:g} per row"
    )
    start = time.monotonic()
    report = audit.audit(
        params, runs=runs, confidence=args.confidence, seed=args.seed, stream=sys.stderr,
    )
    try:
        "εδ".encode(getattr(sys.stdout, "encoding", None) or "utf-8")
        plain = False
    except (UnicodeEncodeError, LookupError):
        plain = True
    _print(report.table(plain=plain))
    failed = [r for r in report.rows if not r.passed]
    elapsed = time.monotonic() - start
    if failed:
        _print(
            f"{PROG} audit: VIOLATION in {len(failed)} of {len(report.rows)} rows: the build "
            f"leaks more than it claims ({elapsed:.0f} s)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    _print(f"all {len(report.rows)} rows within their claims ({elapsed:.0f} s)")
    return EXIT_OK


# ---------------------------------------------------------------------------
# dp-pix evaluate


_EVALUATE_DESCRIPTION = """\
Reproduce the experiments of the DP-Pix paper on a data set: utility (MSE and
SSIM against the block size b, the neighbourhood m and epsilon) for DP-Pix,
the mosaic, a Gaussian blur and a noisy mosaic, and a re-identification attack
(several classifiers trained on obfuscated images of known classes); then a
reconstruction attack (maps from obfuscated to original images learned on
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


def _add_evaluate(subparsers: Any) -> None:
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
        help=f"attackers to run, comma-separated, from: {', '.join(_ATTACKERS)} (default: all)",
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
    p.set_defaults(run=_run_evaluate)


# The names of dp_pix.attack.ATTACKERS, without importing it (and scikit-learn) here.
_ATTACKERS = ("logreg", "linear-svm", "knn", "centroid", "eigenfaces", "fisherfaces")


def _attacker_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in _ATTACKERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown attacker(s) {', '.join(unknown) or text!r}; "
            f"choose from {', '.join(_ATTACKERS)}"
        )
    return names


def _run_evaluate(args: argparse.Namespace) -> int:
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
    _print(
        f"wrote {result.out / 'report.md'} and {len(result.files) - 1} other files "
        f"in {result.seconds:.0f} s ({whole // 60}:{whole % 60:02d} min:s)"
    )
    return EXIT_OK


# ---------------------------------------------------------------------------
# the command


SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_demo,
    _add_pixelate,
    _add_audit,
    _add_evaluate,
)


def build_parser() -> argparse.ArgumentParser:
    version = f"{PROG} {dp_pix.__version__}"
    backend = getattr(dp_pix, "BACKEND", None)
    if backend:
        version += f" ({backend} backend)"
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Publish images with a provable privacy guarantee: DP-Pix, differentially "
            "private pixelization (L. Fan, DBSec 2018), with exact noise."
        ),
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=version)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dp-pix`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return run(args)
    except CommandError as exc:
        return _error(str(exc), exc.status)
    except (ValueError, TypeError) as exc:  # the dp_pix API names the bad argument
        return _error(str(exc), EXIT_USAGE)
    except OSError as exc:
        return _error(str(exc), EXIT_FAILURE)
    except KeyboardInterrupt:
        return 130


def write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` whole or not at all, never over a file
    unless ``overwrite`` (``dp_pix.io.write_bytes``)."""
    from dp_pix.io import write_bytes

    try:
        write_bytes(path, data, overwrite=overwrite)
    except FileExistsError:
        raise CommandError(f"{path} already exists; pass --overwrite to replace it") from None


def _print(text: str, file: Any = None) -> None:
    stream = sys.stdout if file is None else file
    # A control character (from a file name, say) must not forge or hide a line.
    text = "\n".join(escape_controls(line) for line in text.split("\n"))
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):  # e.g. an ASCII console: spell ε out
        text = text.replace("ε", "epsilon").replace("δ", "delta").replace("ρ", "rho")
        text = text.encode(encoding, errors="replace").decode(encoding)
    print(text, file=stream)


def _error(message: str, status: int) -> int:
    _print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
