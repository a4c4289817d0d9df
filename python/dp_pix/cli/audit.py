"""``dp-pix audit``: bound the privacy loss of the installed build."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import dp_pix
from dp_pix.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CommandError,
    positive_float,
    positive_int,
    say,
    seed_int,
)
from dp_pix.params import Mechanism

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


def add(subparsers: Any) -> None:
    """The ``audit`` subcommand's parser."""
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
    say(
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
    say(report.table(plain=plain))
    failed = [r for r in report.rows if not r.passed]
    elapsed = time.monotonic() - start
    if failed:
        say(
            f"{PROG} audit: VIOLATION in {len(failed)} of {len(report.rows)} rows: the build "
            f"leaks more than it claims ({elapsed:.0f} s)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    say(f"all {len(report.rows)} rows within their claims ({elapsed:.0f} s)")
    return EXIT_OK


