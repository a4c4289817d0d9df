"""The plan of a ``dp-pix pixelate`` run: which files, to which outputs.

``make_plan`` turns the inputs into a sorted list of jobs (source file →
output path under OUT) and refuses, before anything is written, a run that
would write into, over or beside its inputs, write two inputs to one output
name, or publish one image twice (by two names, a link or a hard link).
Nothing here writes.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from dp_pix.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from dp_pix.progress import printable_line

__all__ = [
    "FORMATS",
    "SAME_SUFFIXES",
    "Failure",
    "Job",
    "Plan",
    "RefusedError",
    "default_jobs",
    "for_terminal",
    "is_video",
    "listing",
    "make_plan",
    "noise_index",
    "output_name",
    "printable",
]

FORMATS = ("png", "jpeg", "same")

# --format same keeps these suffixes (and their format); every other input is written as PNG.
SAME_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".pgm",
        ".ppm",
        ".pnm",
        ".tga",
        ".qoi",
    }
)
_FORMAT_SUFFIX = {"png": ".png", "jpeg": ".jpg"}


_LIST_LIMIT = 10  # names shown in a refusal message


class RefusedError(Exception):
    """The run was refused before any output was written; the message says why and what to do."""


# ----------------------------------------------------------------------- plan


class Job(NamedTuple):
    """One file to privatize."""

    number: int  # position in the plan (sorted by rel)
    source: str  # the file to read
    shown: str  # the source as the user named it, printable: for messages and the record
    rel: str  # the output path under OUT, "/"-separated
    stream: int  # the noise stream's index under a seed: noise_index(rel)
    # The input path relative to its input folder ("/"-separated; a file named
    # on the command line: its name): the key of a --regions file.
    name: str = ""
    video: bool = False  # a clip, for dp_pix.video


class Failure(NamedTuple):
    path: str
    reason: str


@dataclass
class Plan:
    inputs: list[str]
    out: Path
    jobs: list[Job]
    ignored: list[str] = field(default_factory=list)  # non-image files found in folders
    unlisted: list[Failure] = field(default_factory=list)  # folders that could not be read


def noise_index(rel: str) -> int:
    """The image index whose noise stream the output ``rel`` draws under a seed:
    the first 8 bytes of SHA-256 of ``rel`` in UTF-8 (undecodable file-name
    bytes as they are), big-endian, masked to 63 bits. A function of the path
    alone, so that no partition of the work into threads, tasks or machines
    changes an image's noise."""
    digest = hashlib.sha256(rel.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def default_jobs() -> int:
    """The CPUs this process may use."""
    count = getattr(os, "process_cpu_count", None)
    if count is not None:
        return count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def is_video(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES


def output_name(name: str, fmt: str, video: str = ".mp4") -> str:
    """The output file name for input ``name`` under ``--format fmt``; a video
    gets the suffix ``video`` (``VideoOptions.suffix``)."""
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in VIDEO_SUFFIXES:
        return stem + video
    if fmt == "same":
        if suffix.lower() in SAME_SUFFIXES:
            return name
        return stem + ".png"
    return stem + _FORMAT_SUFFIX[fmt]


def make_plan(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    fmt: str = "png",
    video: str = ".mp4",
) -> Plan:
    """List the files to privatize and check the run is safe; write nothing.

    Raises ``RefusedError`` when an input is missing, when OUT is an input, is
    inside one or contains one, when two inputs map to one output name, when
    one image would be published twice, or when there is no image at all.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not inputs:
        raise RefusedError("no INPUT given")
    out_path = Path(os.fspath(out))
    out_real = out_path.resolve()
    roots: list[tuple[str, Path, bool]] = []  # (as given, resolved, is a folder)
    for given in inputs:
        text = os.fspath(given)
        path = Path(text)
        if not os.path.lexists(path):
            raise RefusedError(f"{for_terminal(text)}: no such file or folder")
        real = path.resolve()
        if real == out_real:
            raise RefusedError(
                f"OUT {for_terminal(str(out_path))} is the input {for_terminal(text)} itself; "
                "write to a new folder"
            )
        if path.is_dir():
            if out_real.is_relative_to(real):
                raise RefusedError(
                    f"OUT {for_terminal(str(out_path))} is inside the input folder "
                    f"{for_terminal(text)}; dp-pix never writes into its inputs: "
                    "choose an OUT outside it"
                )
            is_dir = True
        elif path.is_file():
            is_dir = False
        else:
            raise RefusedError(f"{for_terminal(text)} is not a regular file or a folder")
        if real.is_relative_to(out_real):
            raise RefusedError(
                f"the input {for_terminal(text)} is inside OUT {for_terminal(str(out_path))}; "
                "dp-pix never writes over or beside its inputs: choose another OUT"
            )
        roots.append((text, real, is_dir))
    if out_path.exists() and not out_path.is_dir():
        raise RefusedError(f"OUT {for_terminal(str(out_path))} is a file; -o must name a folder")

    plan = Plan(inputs=[printable(os.fspath(i)) for i in inputs], out=out_path, jobs=[])
    # (source key, rel, source, shown): the key identifies the file read (resolved path)
    found: list[tuple[str, str, str, str]] = []
    names: dict[str, str] = {}  # source -> its path relative to its input folder
    for text, real, is_dir in roots:
        if not is_dir:
            names[text] = os.path.basename(os.path.normpath(text))
            name = output_name(names[text], fmt, video)
            found.append((str(real), name, text, printable(text)))
            continue
        for source, key, rel_parts, is_link in _walk(text, str(real), plan):
            names[source] = "/".join(rel_parts)
            rel = "/".join([*rel_parts[:-1], output_name(rel_parts[-1], fmt, video)])
            # Only a link can lead into OUT: no input folder contains OUT.
            if is_link and Path(key).is_relative_to(out_real):
                raise RefusedError(
                    f"{for_terminal(source)} is a link into OUT {for_terminal(str(out_path))}; "
                    "choose another OUT"
                )
            found.append((key, rel, source, printable(source)))

    # The same file reached twice — by two names, a link, or a hard link (one
    # inode): one output is fine, two would publish two independent noisy
    # copies of one image and spend epsilon twice.
    by_key: dict[Any, dict[str, tuple[str, str]]] = defaultdict(dict)
    named: dict[Any, str] = {}
    for key, rel, source, shown in found:
        identity = _identity(key)
        named.setdefault(identity, key)
        by_key[identity].setdefault(rel, (source, shown))
    twice = [(named[key], rels) for key, rels in by_key.items() if len(rels) > 1]
    if twice:
        lines = [
            f"  {for_terminal(key)} -> " + ", ".join(sorted(for_terminal(r) for r in rels))
            for key, rels in twice
        ]
        raise RefusedError(
            "these images would be privatized twice, and two noisy copies of one image "
            "spend epsilon twice:\n"
            + listing(lines)
            + "\nname each file once (an input folder already includes its subfolders)"
        )

    # Two files to one output name. Compared case-insensitively and after
    # Unicode normalization, so a run means the same on macOS and Windows.
    by_rel: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key, rels in by_key.items():
        ((rel, (source, shown)),) = rels.items()
        by_rel[unicodedata.normalize("NFC", rel).casefold()].append((rel, source, shown))
    clashes = [group for group in by_rel.values() if len(group) > 1]
    if clashes:
        lines = [
            f"  {for_terminal(group[0][0])} <- " + ", ".join(sorted(printable_line(s) for _, _, s in group))
            for group in clashes
        ]
        raise RefusedError(
            "these inputs would be written to the same output file:\n"
            + listing(lines)
            + "\nrename them, use --format same, or privatize them in separate runs "
            "with different -o folders"
        )

    entries = sorted((group[0] for group in by_rel.values()), key=lambda e: e[0])
    plan.jobs = [
        Job(i, source, shown, rel, noise_index(rel), names[source], is_video(source))
        for i, (rel, source, shown) in enumerate(entries)
    ]
    plan.ignored.sort()
    if not plan.jobs:
        what = f" ({len(plan.ignored)} other files ignored)" if plan.ignored else ""
        raise RefusedError(f"no image or video files in the inputs{what}; nothing to do")
    _check_indices(plan.jobs)
    return plan


def _check_indices(jobs: Sequence[Job]) -> None:
    """Refuse two outputs with one noise index: under a seed they would draw the
    same noise, and the difference of their outputs would show the difference
    of the images. (A 63-bit hash: for a million files the odds are 1 in 2·10^7.)"""
    by_index: dict[int, list[Job]] = defaultdict(list)
    for job in jobs:
        by_index[job.stream].append(job)
    same = [group for group in by_index.values() if len(group) > 1]
    if same:
        lines = [
            f"  {group[0].stream}: " + ", ".join(for_terminal(j.rel) for j in group)
            for group in same
        ]
        raise RefusedError(
            "these outputs hash to the same noise index, and with a seed they would "
            "share their noise:\n"
            + listing(lines)
            + "\nrename one of each group (the index is a hash of the output path)"
        )


def _identity(path: str) -> Any:
    """What makes two paths one file: (device, inode), or the resolved path
    where the file system has no inode numbers."""
    try:
        st = os.stat(path)
    except OSError:
        return path
    return (st.st_dev, st.st_ino) if st.st_ino else os.path.realpath(path)


def _walk(top: str, top_real: str, plan: Plan) -> Iterator[tuple[str, str, list[str], bool]]:
    """(source, resolved path, relative parts, is a link) of every image file
    under ``top``; what is not an image goes to ``plan.ignored`` or ``plan.unlisted``."""
    stack: list[tuple[str, str, list[str]]] = [(top, top_real, [])]
    while stack:
        folder, folder_real, parts = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            plan.unlisted.append(
                Failure(printable(folder), f"cannot list folder: {exc.strerror or exc}")
            )
            continue
        for entry in entries:
            if entry.name.startswith("."):
                plan.ignored.append(printable(os.path.join(folder, entry.name)) + " (hidden)")
                continue
            source = os.path.join(folder, entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(
                        (source, os.path.join(folder_real, entry.name), [*parts, entry.name])
                    )
                    continue
                if entry.is_symlink() and entry.is_dir():
                    plan.ignored.append(printable(source) + " (link to a folder, not followed)")
                    continue
                is_file = entry.is_file()
            except OSError:
                is_file = False
            suffix = os.path.splitext(entry.name)[1].lower()
            if suffix not in IMAGE_SUFFIXES and suffix not in VIDEO_SUFFIXES:
                plan.ignored.append(printable(source))
                continue
            if not is_file:
                plan.unlisted.append(Failure(printable(source), "not a regular file"))
                continue
            is_link = entry.is_symlink()
            key = os.path.realpath(source) if is_link else os.path.join(folder_real, entry.name)
            yield source, key, [*parts, entry.name], is_link


# ------------------------------------------------------------------- helpers


def for_terminal(text: str) -> str:
    """``text`` for a message on the terminal: printable, control characters
    (a newline in a file name could forge a line) escaped."""
    return printable_line(printable(text))


def printable(text: str) -> str:
    """``text`` with undecodable file-name bytes shown as \\xNN (valid UTF-8)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def listing(lines: list[str]) -> str:
    """The first lines of a refusal's list, and how many more."""
    shown = lines[:_LIST_LIMIT]
    if len(lines) > _LIST_LIMIT:
        shown.append(f"  ... and {len(lines) - _LIST_LIMIT} more")
    return "\n".join(shown)
