"""What every ``dp-pix`` subcommand shares: the exit statuses, the user-error
exception, the argument types (argparse turns their errors into usage errors,
status 2) and printing that is safe on any terminal."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from dp_pix.progress import escape_controls

PROG = "dp-pix"

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


def whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def nonnegative_int(text: str) -> int:
    return whole_number(text, 0)


def seed_int(text: str) -> int:
    return whole_number(text, 0)


def m_value(text: str) -> int | str:
    """A pixel count, or ``region``: the largest region of each image."""
    if text.strip().lower() == "region":
        return "region"
    return positive_int(text)


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` whole or not at all, never over a file
    unless ``overwrite`` (``dp_pix.io.write_bytes``)."""
    from dp_pix.io import write_bytes

    try:
        write_bytes(path, data, overwrite=overwrite)
    except FileExistsError:
        raise CommandError(f"{path} already exists; pass --overwrite to replace it") from None


def say(text: str, file: Any = None) -> None:
    """Print ``text`` (stdout by default), control characters escaped, ε δ ρ spelt
    out where the console cannot show them."""
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


def error(message: str, status: int) -> int:
    """Print ``dp-pix: error: message`` on stderr; return ``status``."""
    say(f"{PROG}: error: {message}", file=sys.stderr)
    return status


