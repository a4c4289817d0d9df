"""What the loaders share: where the data live, the order of paths, labels."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Union

import numpy as np

from dp_pix.datasets.dataset import LabelSet, Skipped
from dp_pix.datasets.sources import Source
from dp_pix.io import IMAGE_SUFFIXES

__all__ = [
    "DATA_ENV",
    "IMAGE_EXTENSIONS",
    "NaturalKey",
    "PathLike",
    "check_on_error",
    "encode",
    "is_hidden",
    "is_image",
    "missing_message",
    "natural_key",
    "resolve_root",
    "sort_files",
    "sorted_paths",
]

PathLike = Union[str, "os.PathLike[str]"]

DATA_ENV = "DP_PIX_DATA"
"""Environment variable naming the folder that holds the data sets."""

IMAGE_EXTENSIONS = IMAGE_SUFFIXES
"""File suffixes treated as images (compared case-insensitively)."""

_ON_ERROR = ("raise", "skip")

_DIGITS = re.compile(r"([0-9]+)")


NaturalKey = tuple[tuple[str | int, ...], str]


def natural_key(text: str) -> NaturalKey:
    """Digit runs compare as numbers ("s2" < "s10"); the text itself breaks
    ties ("s01" vs "s1"), so the order is total and deterministic."""
    parts: list[str | int] = list(_DIGITS.split(text))
    parts[1::2] = [int(p) for p in parts[1::2]]
    return (tuple(parts), text)


def sorted_paths(paths: Sequence[str]) -> list[str]:
    """``paths`` ("a/b/c") in natural order, folder by folder."""
    cache: dict[str, NaturalKey] = {}

    def part_key(part: str) -> NaturalKey:
        key = cache.get(part)
        if key is None:
            key = cache[part] = natural_key(part)
        return key

    return sorted(paths, key=lambda p: tuple(map(part_key, p.split("/"))))


def encode(values: Sequence[str], names: Sequence[str] | None = None) -> LabelSet:
    """Integer labels for ``values``; names in natural order unless given."""
    if names is None:
        names = sorted(set(values), key=natural_key)
    index = {name: i for i, name in enumerate(names)}
    return LabelSet(np.array([index[v] for v in values], dtype=np.int64), tuple(names))


def check_on_error(on_error: str) -> None:
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}")


def is_image(rel: str, extensions: frozenset[str]) -> bool:
    return PurePosixPath(rel).suffix.lower() in extensions


def is_hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def resolve_root(root: PathLike | None, folders: Sequence[str], what: str, expect: str) -> Path:
    """The argument, else the first of ``$DP_PIX_DATA/<folder>`` that exists."""
    if root is not None:
        path = Path(os.fspath(root))
        if not path.exists():
            raise FileNotFoundError(f"{what} not found: {path} does not exist")
        return path
    env = os.environ.get(DATA_ENV)
    hint = (
        f"pass the location as an argument, or set {DATA_ENV} to a folder holding "
        f"{' or '.join(f'{f}/' for f in folders)} ({expect})"
    )
    if not env:
        raise FileNotFoundError(f"{what} not found: {DATA_ENV} is not set; {hint}")
    for folder in folders:
        path = Path(env) / folder
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{what} not found in {DATA_ENV}={env}: no {' or '.join(folders)} there; {hint}"
    )


def missing_message(what: str, root: Path, missing: Sequence[str], total: int) -> str:
    shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
    return f"{what} in {root}: {len(missing)} of {total} files missing: {shown}"


def sort_files(
    source: Source, files: Sequence[str], prefix: str, is_member: Callable[[str], str | None]
) -> tuple[list[str], list[Skipped]]:
    """Split the files under ``prefix`` into members and skipped ones.

    ``is_member(rel)`` gets the path below ``prefix`` and returns ``None``
    for a member or the reason it is not one. Hidden folders (not entered)
    and files directly under ``prefix`` that are not images (a README, a
    CSV, a checksum list) are the only things not reported.
    """
    members: list[str] = []
    skipped: list[Skipped] = []
    for rel in sorted_paths(files):
        if not rel.startswith(prefix):
            continue
        inner = rel[len(prefix) :]
        if inner.endswith("/"):
            skipped.append(Skipped(source.display(rel), "hidden folder, not searched"))
            continue
        reason = is_member(inner)
        if reason is None:
            members.append(rel)
        elif "/" in inner or is_image(inner, IMAGE_EXTENSIONS):
            skipped.append(Skipped(source.display(rel), reason))
    return members, skipped
