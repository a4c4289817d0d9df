"""Privatize files and folders of images: the engine behind ``dp-pix pixelate``.

Two steps. ``make_plan`` turns the inputs into a sorted list of jobs (source
file → output path under OUT) and refuses, before anything is written, a run
that would write into, over or beside its inputs, write two inputs to one
output name, or publish one image twice. ``run`` then privatizes the jobs on
a thread pool (each worker reads, privatizes and writes one file; Pillow and
the Rust core release the GIL, so the three stages overlap across cores) and
keeps a privacy record, ``OUT/dp-pix.json``. ``dp_pix.ray`` runs the same
per-file function (``Privatize``) on a Ray cluster through ``run``'s
``runner`` argument; planning, refusals and the record stay here.

Decisions, as documented in ``dp-pix pixelate --help``:

- A folder's contents are mirrored directly under OUT; a file goes to
  ``OUT/<its name>``. The suffix becomes ``.png`` or ``.jpg`` (``--format``);
  ``same`` keeps a suffix from ``SAME_SUFFIXES`` and writes PNG otherwise.
- In folders, files are images by suffix (``IMAGE_SUFFIXES``); other files
  are ignored, counted and listed in the record. Hidden files and folders
  (name starting with ".") are skipped, symbolic links to folders are not
  followed (and listed as ignored), links to files are read. A file named on
  the command line is always tried, whatever its suffix.
- Pixel formats follow ``dp_pix.io.read_image`` with its defaults: grey stays
  grey, colour is RGB; 1-bit becomes 0/255, 16-bit keeps the high byte
  (v >> 8), palette and CMYK become RGB, and alpha is dropped (not
  composited: transparent pixels keep the colour stored under them). The
  EXIF orientation is applied, so outputs are upright. Outputs are written by
  ``dp_pix.io.write_image``: atomically, without any metadata.
- With a seed, each file draws the noise of image index ``noise_index(rel)``,
  a function of its output path under OUT alone: the bytes do not depend on
  ``jobs``, on the order in which files finish, on the other files of the
  run or on how a cluster partitions the work, and a resumed run continues
  the same streams. Two paths with one index (odds about n²/2⁶⁴) are refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import re
import sys
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from PIL import Image, UnidentifiedImageError

from dp_pix import record as _record
from dp_pix.api import Pixelizer
from dp_pix.io import IMAGE_SUFFIXES, ImageReadError, read_image, write_bytes, write_image
from dp_pix.params import Params, check_int, seed_bytes
from dp_pix.progress import Progress, printable_line
from dp_pix.record import CONVERSIONS, RECORD_SCHEMA

__all__ = [
    "CONVERSIONS",
    "FORMATS",
    "IMAGE_SUFFIXES",
    "RECORD_NAME",
    "SAME_SUFFIXES",
    "Failure",
    "Job",
    "Options",
    "Plan",
    "Privatize",
    "RECORD_SCHEMA",
    "RefusedError",
    "Report",
    "default_jobs",
    "destination",
    "make_plan",
    "noise_index",
    "pixelate_paths",
    "remove_stale_temps",
    "run",
    "run_jobs",
]

RECORD_NAME = "dp-pix.json"
# Space kept beside the record while a run writes (a hidden file, removed at
# the end), so that the final record fits even when the images fill the disk.
RESERVE_NAME = ".dp-pix.json.reserve"
# The reason of a failure that stops the run: the file system is full.
OUT_OF_SPACE = "out of space: "
_NO_SPACE = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e)
FORMATS = ("png", "jpeg", "same")
EXISTING = ("refuse", "skip", "overwrite")

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
_FORMAT_NAME = {"png": "PNG", "jpeg": "JPEG"}

# Temporary files of dp_pix.io.write_image (and of the record): ".<name>.<12 hex>.tmp".
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")

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


def output_name(name: str, fmt: str) -> str:
    """The output file name for input ``name`` under ``--format fmt``."""
    stem, suffix = os.path.splitext(name)
    if fmt == "same":
        if suffix.lower() in SAME_SUFFIXES:
            return name
        return stem + ".png"
    return stem + _FORMAT_SUFFIX[fmt]


def make_plan(
    inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], fmt: str = "png"
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
            raise RefusedError(f"{_shown(text)}: no such file or folder")
        real = path.resolve()
        if real == out_real:
            raise RefusedError(
                f"OUT {_shown(str(out_path))} is the input {_shown(text)} itself; "
                "write to a new folder"
            )
        if path.is_dir():
            if out_real.is_relative_to(real):
                raise RefusedError(
                    f"OUT {_shown(str(out_path))} is inside the input folder "
                    f"{_shown(text)}; dp-pix never writes into its inputs: "
                    "choose an OUT outside it"
                )
            is_dir = True
        elif path.is_file():
            is_dir = False
        else:
            raise RefusedError(f"{_shown(text)} is not a regular file or a folder")
        if real.is_relative_to(out_real):
            raise RefusedError(
                f"the input {_shown(text)} is inside OUT {_shown(str(out_path))}; "
                "dp-pix never writes over or beside its inputs: choose another OUT"
            )
        roots.append((text, real, is_dir))
    if out_path.exists() and not out_path.is_dir():
        raise RefusedError(f"OUT {_shown(str(out_path))} is a file; -o must name a folder")

    plan = Plan(inputs=[_printable(os.fspath(i)) for i in inputs], out=out_path, jobs=[])
    # (source key, rel, source, shown): the key identifies the file read (resolved path)
    found: list[tuple[str, str, str, str]] = []
    for text, real, is_dir in roots:
        if not is_dir:
            name = output_name(os.path.basename(os.path.normpath(text)), fmt)
            found.append((str(real), name, text, _printable(text)))
            continue
        for source, key, rel_parts, is_link in _walk(text, str(real), plan):
            rel = "/".join([*rel_parts[:-1], output_name(rel_parts[-1], fmt)])
            # Only a link can lead into OUT: no input folder contains OUT.
            if is_link and Path(key).is_relative_to(out_real):
                raise RefusedError(
                    f"{_shown(source)} is a link into OUT {_shown(str(out_path))}; "
                    "choose another OUT"
                )
            found.append((key, rel, source, _printable(source)))

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
            f"  {_shown(key)} -> " + ", ".join(sorted(_shown(r) for r in rels))
            for key, rels in twice
        ]
        raise RefusedError(
            "these images would be privatized twice, and two noisy copies of one image "
            "spend epsilon twice:\n"
            + _listing(lines)
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
            f"  {_shown(group[0][0])} <- " + ", ".join(sorted(printable_line(s) for _, _, s in group))
            for group in clashes
        ]
        raise RefusedError(
            "these inputs would be written to the same output file:\n"
            + _listing(lines)
            + "\nrename them, use --format same, or privatize them in separate runs "
            "with different -o folders"
        )

    entries = sorted((group[0] for group in by_rel.values()), key=lambda e: e[0])
    plan.jobs = [
        Job(i, source, shown, rel, noise_index(rel))
        for i, (rel, source, shown) in enumerate(entries)
    ]
    plan.ignored.sort()
    if not plan.jobs:
        what = f" ({len(plan.ignored)} other files ignored)" if plan.ignored else ""
        raise RefusedError(f"no image files in the inputs{what}; nothing to do")
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
            f"  {group[0].stream}: " + ", ".join(_shown(j.rel) for j in group)
            for group in same
        ]
        raise RefusedError(
            "these outputs hash to the same noise index, and with a seed they would "
            "share their noise:\n"
            + _listing(lines)
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
                Failure(_printable(folder), f"cannot list folder: {exc.strerror or exc}")
            )
            continue
        for entry in entries:
            if entry.name.startswith("."):
                plan.ignored.append(_printable(os.path.join(folder, entry.name)) + " (hidden)")
                continue
            source = os.path.join(folder, entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(
                        (source, os.path.join(folder_real, entry.name), [*parts, entry.name])
                    )
                    continue
                if entry.is_symlink() and entry.is_dir():
                    plan.ignored.append(_printable(source) + " (link to a folder, not followed)")
                    continue
                is_file = entry.is_file()
            except OSError:
                is_file = False
            if os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                plan.ignored.append(_printable(source))
                continue
            if not is_file:
                plan.unlisted.append(Failure(_printable(source), "not a regular file"))
                continue
            is_link = entry.is_symlink()
            key = os.path.realpath(source) if is_link else os.path.join(folder_real, entry.name)
            yield source, key, [*parts, entry.name], is_link


# ------------------------------------------------------------------------ run


@dataclass(frozen=True)
class Options:
    """What ``run`` does with each file; see ``dp-pix pixelate --help``. The
    privacy parameters are one ``Params``; the rest is checked here, once."""

    params: Params
    format: str = "png"
    jobs: int | None = None  # default: default_jobs()
    seed: int | None = None
    existing: str = "refuse"  # or "skip" (resume) or "overwrite"

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            raise TypeError(f"params must be a dp_pix.Params, got {type(self.params).__name__}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.existing not in EXISTING:
            raise ValueError(f"existing must be one of {', '.join(EXISTING)}")
        if self.jobs is not None:
            check_int(self.jobs, "jobs", 1, 2**16, "the number of files processed at once")
        seed_bytes(self.seed)

    def pixelizer(self) -> Pixelizer:
        return Pixelizer(self.params, seed=self.seed)


@dataclass(frozen=True)
class Privatize:
    """Read, privatize and write one job: ``(job, channels, None)``, or
    ``(job, None, reason)`` when the file fails. Picklable, so that an engine
    can ship it to other processes or machines (``dp_pix.ray``); it never
    raises for a bad file."""

    out: Path
    pixelizer: Pixelizer
    fmt: str | None  # a Pillow format name, None: from the output suffix
    overwrite: bool
    # An output that appears at its path during the run is an earlier attempt
    # of the same job (an engine that retries lost tasks, e.g. Ray): kept and
    # counted when its size and channels match, not reported as a clash.
    own_existing: bool = False

    def __call__(self, job: Job) -> tuple[Job, int | None, str | None]:
        return _privatize(job, self)


Runner = Callable[[Privatize, Sequence[Job], Callable[[Any], None]], None]


@dataclass
class Report:
    """What a run did; the same numbers as the record."""

    planned: int = 0
    written: int = 0
    present: int = 0  # outputs of an earlier run, kept (--skip-existing)
    failures: list[Failure] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    channels: set[int] = field(default_factory=set)
    seconds: float = 0.0
    record: Path | None = None
    guarantees: dict[int, str] = field(default_factory=dict)
    # "complete", "interrupted" (Ctrl-C, a crash) or "out of space": the run
    # stopped at the first file that did not fit, since every later one would fail too.
    status: str = "running"

    @property
    def ok(self) -> bool:
        return not self.failures and self.status == "complete"

    @property
    def remaining(self) -> int:
        """Planned files neither written, kept nor failed: left for --skip-existing."""
        return self.planned - self.written - self.present - len(self.failures)


class _OutOfSpace(Exception):
    """The file system holding OUT is full: stop the run (every file would fail)."""


def pixelate_paths(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    options: Options,
    *,
    stream: IO[str] | None = None,
) -> Report:
    """Plan and run: ``dp-pix pixelate`` without the command line (``options``
    were checked when they were built, before the file system is touched)."""
    return run(make_plan(inputs, out, options.format), options, stream=stream)


def run(
    plan: Plan,
    options: Options,
    *,
    stream: IO[str] | None = None,
    runner: Runner | None = None,
) -> Report:
    """Privatize the jobs of ``plan`` into ``plan.out`` and write the record.

    ``stream`` (e.g. ``sys.stderr``) gets one line per failed file and, when it
    is a terminal, a progress bar. Raises ``RefusedError`` before writing any
    output when OUT holds outputs that ``options.existing`` does not allow to
    skip or replace, or when another run is writing to OUT.

    ``runner(work, todo, handle)`` calls ``work`` on every job of ``todo``,
    anywhere, and ``handle`` on each result in this thread; the default is a
    pool of ``options.jobs`` threads.
    """
    pixelizer = options.pixelizer()
    jobs = options.jobs or default_jobs()
    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        record_path = out / RECORD_NAME
        existing = [job for job in plan.jobs if os.path.lexists(destination(out, job))]
        previous = _check_existing(plan, options, record_path, [job.rel for job in existing])
        present = [] if options.existing == "overwrite" else existing
        skip = {job.number for job in present}
        todo = [job for job in plan.jobs if job.number not in skip]
        remove_stale_temps(out, plan.jobs)

        # Entries the walk found but could not read are failures of the plan:
        # planned = written + already present + failed once the run is complete.
        report = Report(
            planned=len(plan.jobs) + len(plan.unlisted), present=len(present),
            ignored=plan.ignored,
        )
        report.failures.extend(plan.unlisted)
        report.record = record_path
        if previous is not None:  # resuming: the kept outputs' channel counts
            report.channels.update(int(c) for c in previous.get("guarantees", {}))
            if previous.get("status") != "complete":  # killed: its record may lag behind
                report.channels |= _channels_of(destination(out, job) for job in present)
        started = _record.now()
        record = _RecordFile(record_path, len(plan.jobs) + len(plan.unlisted))
        record.start(_record_of(plan, options, report, started, "running"))

        bar = Progress(
            len(todo), label="dp-pix", unit="file", stream=stream, initial=len(present),
            enabled=None if stream is not None else False,
        )
        for failure in plan.unlisted:
            bar.note(f"dp-pix: {failure.path}: {failure.reason}")
        t0 = time.perf_counter()
        fmt = None if options.format == "same" else _FORMAT_NAME[options.format]
        overwrite = options.existing == "overwrite"

        work = Privatize(out, pixelizer, fmt, overwrite)

        def handle(result: tuple[Job, int | None, str | None]) -> None:
            job, channels, reason = result
            if reason is not None and reason.startswith(OUT_OF_SPACE):
                # Not this file's fault: it stays to do (--skip-existing), and
                # the run stops, since every later file would fail the same way.
                if report.status != "out of space":
                    report.status = "out of space"
                    bar.note(f"dp-pix: {reason[len(OUT_OF_SPACE):]}")
                    raise _OutOfSpace()
                return
            if reason is None:
                report.written += 1
                report.channels.add(channels)  # type: ignore[arg-type]
            else:
                report.failures.append(Failure(job.shown, reason))
                bar.note(f"dp-pix: {job.shown}: {reason}")
            bar.advance(failed=reason is not None)

        report.status = "interrupted"
        try:
            if runner is None:
                run_jobs(work, todo, jobs, handle)
            else:
                runner(work, todo, handle)
            report.status = "complete"
        except _OutOfSpace:
            pass
        finally:
            bar.close()
            report.seconds = time.perf_counter() - t0
            report.guarantees = {
                c: options.params.describe(c)["guarantee"] for c in sorted(report.channels)
            }
            record.finish(_record_of(plan, options, report, started, report.status))
    return report


def destination(out: Path, job: Job) -> str:
    """The output file of ``job`` under ``out``."""
    return os.path.join(out, *job.rel.split("/"))


def _privatize(job: Job, how: Privatize) -> tuple[Job, int | None, str | None]:
    """Read, privatize and write one file: (job, channels, None) or (job, None, reason)."""
    try:
        image = read_image(job.source)
    except ImageReadError as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):  # its message shows a file object
            return job, None, "not an image, or in a format Pillow cannot identify"
        return job, None, exc.reason
    except OSError as exc:  # missing since the plan, no permission, ...
        return job, None, f"cannot read: {exc.strerror or exc}"
    try:
        private = how.pixelizer(image, index=job.stream)
    except ValueError as exc:  # e.g. edges='crop' on an image smaller than a cell
        return job, None, str(exc)
    del image
    dest = destination(how.out, job)
    channels = 1 if private.ndim == 2 else private.shape[2]
    try:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        write_image(dest, private, format=how.fmt, overwrite=how.overwrite)
    except FileExistsError:
        if how.own_existing and _shape_of(dest) == (*private.shape[:2], channels):
            # A retried task: the first attempt wrote it whole (atomically) and
            # was lost before reporting. This attempt's noise is discarded.
            return job, channels, None
        return (
            job,
            None,
            (
                f"{_printable(dest)} appeared during the run and was kept; "
                "pass --overwrite to replace it"
            ),
        )
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            return job, None, f"{OUT_OF_SPACE}cannot write {_printable(dest)}: {exc.strerror}"
        return job, None, f"cannot write {_printable(dest)}: {exc}"
    except ValueError as exc:
        return job, None, f"cannot write {_printable(dest)}: {exc}"
    return job, channels, None


def _shape_of(path: str) -> tuple[int, int, int] | None:
    """(height, width, channels) of an image file from its header, None if unreadable."""
    try:
        with Image.open(path) as im:
            return im.height, im.width, len(im.getbands())
    except (OSError, ValueError):
        return None


def run_jobs(
    work: Callable[[Job], Any],
    todo: Iterable[Job],
    workers: int,
    handle: Callable[[Any], None],
) -> None:
    """``work`` on every job on ``workers`` threads and ``handle`` on each result
    (in the calling thread, in completion order). At most ``2 * workers`` jobs
    are in flight, so memory stays bounded for any number of files. On an
    exception (Ctrl-C), jobs not yet started are cancelled, and the running
    ones finish and are handled before it propagates: the counts stay true."""
    jobs = iter(todo)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dp-pix") as pool:
        pending: set[Future[Any]] = set()

        def fill() -> None:
            for job in itertools.islice(jobs, 2 * workers - len(pending)):
                pending.add(pool.submit(work, job))

        fill()
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.discard(future)
                    handle(future.result())
                fill()
        except BaseException:
            for future in pending:
                future.cancel()
            for future in pending:
                if not future.cancelled():
                    handle(future.result())
            raise


def _channels_of(paths: Iterable[str]) -> set[int]:
    """Channel counts of outputs, from their headers; stops once grey and RGB are seen."""
    seen: set[int] = set()
    for path in paths:
        try:
            with Image.open(path) as im:
                seen.add(len(im.getbands()))
        except (OSError, ValueError):
            continue
        if seen >= {1, 3}:
            break
    return seen


def _check_existing(
    plan: Plan, options: Options, record_path: Path, existing: list[str]
) -> dict[str, Any] | None:
    """Refuse a run that would clobber or mix with what is in OUT (``existing``:
    the outputs there already); return the record of the earlier run that
    ``--skip-existing`` resumes, if any."""
    has_record = os.path.lexists(record_path)
    out = _shown(str(plan.out))
    if options.existing == "overwrite":
        return None
    if options.existing == "refuse":
        if existing or has_record:
            names = ([RECORD_NAME] if has_record else []) + existing
            raise RefusedError(
                f"OUT {out} already holds {len(names)} of this run's output files:\n"
                + _listing([f"  {_shown(n)}" for n in names])
                + "\npass --skip-existing to resume an interrupted run, --overwrite to "
                "replace them, or choose another OUT"
            )
        return None
    # skip: only outputs that a run with the same parameters made may be kept
    if not has_record:
        if existing:
            raise RefusedError(
                f"OUT {out} holds {len(existing)} of this run's output files but no "
                f"{RECORD_NAME}, so nothing shows they are private:\n"
                + _listing([f"  {_shown(n)}" for n in existing])
                + "\npass --overwrite to replace them, or choose another OUT"
            )
        return None
    try:
        previous = json.loads(record_path.read_text(encoding="utf-8"))
        theirs = previous["parameters"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RefusedError(
            f"cannot resume into {out}: its {RECORD_NAME} is unreadable ({exc}); "
            "pass --overwrite to start again"
        ) from None
    ours = _parameters(options)
    if theirs != json.loads(json.dumps(ours)):
        diff = ", ".join(
            f"{k}: {theirs.get(k)!r} there, {ours[k]!r} now"
            for k in ours
            if theirs.get(k) != json.loads(json.dumps(ours[k]))
        )
        raise RefusedError(
            f"OUT {out} was written with other parameters ({diff}); resuming would mix "
            "two guarantees in one folder: use the same parameters, --overwrite, or "
            "another OUT"
        )
    return previous


def remove_stale_temps(out: Path, jobs: Iterable[Job]) -> None:
    """Remove the hidden temporary files that a killed run left beside its
    outputs; only those of this run's own output names (OUT is locked)."""
    names: dict[str, set[str]] = defaultdict(set)
    for job in jobs:
        folder, _, name = job.rel.rpartition("/")
        names[folder].add(name)
    names[""].add(RECORD_NAME)
    for folder, wanted in names.items():
        path = os.path.join(out, *folder.split("/")) if folder else str(out)
        try:
            with os.scandir(path) as it:
                stale = [
                    e.path for e in it if (m := _TEMP_RE.match(e.name)) and m["name"] in wanted
                ]
        except OSError:
            continue
        for temp in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` and a shared lock on each folder
    above it (POSIX): two runs never write to one OUT at once, and a run into
    a folder inside another run's OUT (or around it) is refused too, so one
    folder never mixes two guarantees. The kernel drops the locks when a
    process dies."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    real = folder.resolve()
    fds: list[int] = []
    try:
        for path, mode in [(real, fcntl.LOCK_EX)] + [(p, fcntl.LOCK_SH) for p in real.parents]:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:  # a folder above that cannot be opened: nothing to lock there
                continue
            fds.append(fd)
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if path == real:  # a run into OUT, or into a folder inside it
                    why = f"another dp-pix run is writing to {_shown(str(folder))} or inside it"
                else:
                    why = f"another dp-pix run is writing to {_shown(str(path))}, which holds OUT"
                raise RefusedError(
                    f"{why}; wait for it to end, or choose another OUT (one folder never "
                    "mixes the outputs of two runs)"
                ) from None
            except OSError:  # a file system without flock on folders
                continue
        yield
    finally:
        for fd in fds:
            os.close(fd)


# --------------------------------------------------------------------- record


def _parameters(options: Options) -> dict[str, Any]:
    return _record.parameters(
        options.params, seeded=options.seed is not None, format=options.format
    )


def _record_of(
    plan: Plan, options: Options, report: Report, started: str, status: str
) -> dict[str, Any]:
    return _record.make(
        tool="dp-pix pixelate",
        params=options.params,
        seeded=options.seed is not None,
        settings={"format": options.format},
        channels=report.channels,
        conversions=CONVERSIONS,
        inputs=plan.inputs,
        counts={
            "planned": report.planned,
            "written": report.written,
            "already_present": report.present,
            "failed": len(report.failures),
            "not_done": report.remaining,  # left for --skip-existing (a run that stopped)
            "ignored": len(report.ignored),
        },
        # "running" on disk while a run is going or if it was killed
        status=status,
        started=started,
        # sorted: the record does not depend on the order in which files finished
        failures=[{"path": f.path, "reason": f.reason} for f in sorted(report.failures)],
        ignored=report.ignored,
    )


class _RecordFile:
    """The privacy record of a run, ``OUT/dp-pix.json``, that tells the truth
    even when the images fill the disk.

    ``start`` writes the first record and a hidden reserve file beside it (a
    run that cannot is refused before any image is written); ``finish`` frees
    the reserve and writes the final record in its place, atomically. If even
    that does not fit, the list of failures is cut (their number stays) until
    it does.
    """

    _PER_ENTRY = 256  # bytes kept per planned file, for its failure line
    _MAX = 4 << 20

    def __init__(self, path: Path, entries: int) -> None:
        self.path = path
        self.reserve = path.with_name(RESERVE_NAME)
        self.size = min(self._MAX, (64 << 10) + self._PER_ENTRY * entries)

    def start(self, record: dict[str, Any]) -> None:
        try:
            write_bytes(self.path, _encode(record), overwrite=True)
            with open(self.reserve, "wb") as fp:
                fp.write(bytes(self.size))
                fp.flush()
                os.fsync(fp.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(self.reserve)
            if exc.errno in _NO_SPACE:
                raise RefusedError(
                    f"no space for the privacy record in OUT {_shown(str(self.path.parent))}: "
                    "free some space first"
                ) from None
            raise

    def finish(self, record: dict[str, Any]) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.reserve)
        failures = record["failures"]
        keep = len(failures)
        while True:
            if keep < len(failures):
                record = {**record, "failures": failures[:keep],
                          "failures_not_listed": len(failures) - keep}
            try:
                write_bytes(self.path, _encode(record), overwrite=True)
                return
            except OSError as exc:
                if exc.errno not in _NO_SPACE or keep == 0:
                    raise
                keep //= 2


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# ------------------------------------------------------------------- helpers


def _shown(text: str) -> str:
    """``text`` for a message on the terminal: printable, control characters
    (a newline in a file name could forge a line) escaped."""
    return printable_line(_printable(text))


def _printable(text: str) -> str:
    """``text`` with undecodable file-name bytes shown as \\xNN (valid UTF-8)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _listing(lines: list[str]) -> str:
    shown = lines[:_LIST_LIMIT]
    if len(lines) > _LIST_LIMIT:
        shown.append(f"  ... and {len(lines) - _LIST_LIMIT} more")
    return "\n".join(shown)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: dp-pix pixelate --help")
