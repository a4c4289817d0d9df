"""The ``dp-pix`` command line.

Each subcommand is a module here with an ``add(subparsers)`` function that
builds its parser and sets ``run`` to the function doing the work; add it to
``SUBCOMMANDS`` and it appears in ``dp-pix --help``. A ``run`` function takes
the parsed arguments and returns the exit status. It reports a user error by
raising ``CommandError`` (or the ``ValueError``/``TypeError`` that the dp_pix
API raises for a bad argument); ``main`` turns those into one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import dp_pix
from dp_pix.cli import audit, demo, evaluate, pixelate
from dp_pix.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CommandError,
    error,
    write_atomically,
)
from dp_pix.cli.demo import DEMO_BLOCK, DEMO_EPSILONS, DEMO_M, DEMO_OUT
from dp_pix.cli.evaluate import ATTACKERS

__all__ = [
    "ATTACKERS",
    "DEMO_BLOCK",
    "DEMO_EPSILONS",
    "DEMO_M",
    "DEMO_OUT",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "SUBCOMMANDS",
    "CommandError",
    "build_parser",
    "main",
    "write_atomically",
]

SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    demo.add,
    pixelate.add,
    audit.add,
    evaluate.add,
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
        return error(str(exc), exc.status)
    except (ValueError, TypeError) as exc:  # the dp_pix API names the bad argument
        return error(str(exc), EXIT_USAGE)
    except OSError as exc:
        return error(str(exc), EXIT_FAILURE)
    except KeyboardInterrupt:
        return 130


