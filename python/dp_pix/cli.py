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
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dp_pix

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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


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
# the command


SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_demo,)


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
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file beside ``path`` first. Without ``overwrite``
    the final step is a hard link, which fails rather than replace a file that
    appeared in the meantime.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open honours the umask, unlike mkstemp's 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise CommandError(f"{path} already exists; pass --overwrite to replace it") from None
        except OSError:  # no hard links on this file system
            if path.exists():
                raise CommandError(
                    f"{path} already exists; pass --overwrite to replace it"
                ) from None
            os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _print(text: str, file: Any = None) -> None:
    stream = sys.stdout if file is None else file
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
