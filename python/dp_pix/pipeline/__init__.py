"""Privatize files and folders of images: the engine behind ``dp-pix pixelate``.

Two steps. ``make_plan`` (``dp_pix.pipeline.plan``) turns the inputs into a
sorted list of jobs (source file → output path under OUT) and refuses, before
anything is written, a run that would write into, over or beside its inputs,
write two inputs to one output name, or publish one image twice. ``run`` then privatizes the jobs on
a thread pool (each worker reads, privatizes and writes one file; Pillow and
the Rust core release the GIL, so the three stages overlap across cores) and
keeps a privacy record, ``OUT/dp-pix.json``. ``dp_pix.ray`` runs the same
per-file function (``Privatize``) on a Ray cluster through ``run``'s
``runner`` argument; planning, refusals and the record stay here.

Decisions, as documented in ``dp-pix pixelate --help``:

- A folder's contents are mirrored directly under OUT; a file goes to
  ``OUT/<its name>``. The suffix becomes ``.png`` or ``.jpg`` (``--format``);
  ``same`` keeps a suffix from ``SAME_SUFFIXES`` and writes PNG otherwise.
- In folders, files are images or videos by suffix (``IMAGE_SUFFIXES``,
  ``VIDEO_SUFFIXES``); other files are ignored, counted and listed in the
  record. Hidden files and folders (name starting with ".") are skipped,
  symbolic links to folders are not followed (and listed as ignored), links
  to files are read. A file named on the command line is always tried,
  whatever its suffix.
- Pixel formats follow ``dp_pix.io.read_image`` with its defaults: grey stays
  grey, colour is RGB; 1-bit becomes 0/255, 16-bit keeps the high byte
  (v >> 8), palette and CMYK become RGB, and alpha is dropped (not
  composited: transparent pixels keep the colour stored under them). The
  EXIF orientation is applied, so outputs are upright. Outputs are written by
  ``dp_pix.io.write_image``: atomically, without any metadata.
- Videos (``dp_pix.video``, with PyAV) are written as ``.mp4`` (H.264), or
  ``.mkv`` (FFV1) with ``VideoOptions.lossless``; they run one after another
  once the images are done, each with a progress bar of its frames, and the
  record lists each with its frames, window and guarantees. In region mode a
  clip's regions are its boxes by frame number in the regions file and what
  the detector finds in each frame (``dp_pix.video.regions``), listed with it.
- With a seed, each file draws the noise of image index ``noise_index(rel)``,
  a function of its output path under OUT alone: the bytes do not depend on
  ``jobs``, on the order in which files finish, on the other files of the
  run or on how a cluster partitions the work, and a resumed run continues
  the same streams. Two paths with one index (odds about n²/2⁶⁴) are refused.
  Frame k of a video draws ``dp_pix.video.frame_index(noise_index(rel), k)``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from PIL import Image, UnidentifiedImageError

from dp_pix import record as _record
from dp_pix.api import Pixelizer
from dp_pix.io import IMAGE_SUFFIXES, ImageReadError, read_image, write_image
from dp_pix.params import Params, check_int, check_real, seed_bytes
from dp_pix.pipeline.plan import (
    FORMATS,
    SAME_SUFFIXES,
    Failure,
    Job,
    Plan,
    RefusedError,
    default_jobs,
    for_terminal,
    is_video,
    listing,
    make_plan,
    noise_index,
    output_name,
    printable,
)
from dp_pix.progress import Progress
from dp_pix.record import CONVERSIONS, NO_SPACE, NoSpaceForRecord, RecordFile
from dp_pix.regions import Finder, resolve

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
    "RefusedError",
    "Report",
    "VideoOptions",
    "default_jobs",
    "destination",
    "is_video",
    "make_plan",
    "noise_index",
    "output_name",
    "pixelate_paths",
    "remove_stale_temps",
    "run",
    "run_jobs",
]

RECORD_NAME = "dp-pix.json"
# The reason of a failure that stops the run: the file system is full.
OUT_OF_SPACE = "out of space: "
EXISTING = ("refuse", "skip", "overwrite")
_FORMAT_NAME = {"png": "PNG", "jpeg": "JPEG"}
# Temporary files of dp_pix.io.write_image (and of the record): ".<name>.<12 hex>.tmp".
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")


# ------------------------------------------------------------------------ run


@dataclass(frozen=True)
class VideoOptions:
    """What ``run`` does with videos (``dp_pix.video``); see ``dp-pix pixelate
    --help``. The privacy parameters of ``Options.params`` are the budget of
    one window of ``window`` seconds (None: the whole clip)."""

    window: float | None = None  # seconds; None: "all"
    fps: float | None = None  # release at most this many frames per second
    lossless: bool = False  # FFV1 in Matroska, else H.264 in MP4
    keep_audio: bool = False  # copy audio untouched: NOT protected
    crf: int = 20  # H.264 quality, 0 (best) .. 51

    def __post_init__(self) -> None:
        if self.window is not None:
            check_real(self.window, "window", "a number of seconds, or None for the whole clip")
        if self.fps is not None:
            check_real(self.fps, "fps", "a number of frames per second, or None for all")
        check_int(self.crf, "crf", 0, 51, "H.264 quality, 0 (best) to 51")

    @property
    def suffix(self) -> str:
        return ".mkv" if self.lossless else ".mp4"


@dataclass(frozen=True)
class Options:
    """What ``run`` does with each file; see ``dp-pix pixelate --help``. The
    privacy parameters are one ``Params``; the rest is checked here, once."""

    params: Params
    format: str = "png"
    jobs: int | None = None  # default: default_jobs()
    seed: int | None = None
    existing: str = "refuse"  # or "skip" (resume) or "overwrite"
    regions: Finder | None = None  # region mode: where each file's regions come from
    video: VideoOptions = field(default_factory=VideoOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            raise TypeError(f"params must be a dp_pix.Params, got {type(self.params).__name__}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.existing not in EXISTING:
            raise ValueError(f"existing must be one of {', '.join(EXISTING)}")
        if self.jobs is not None:
            check_int(self.jobs, "jobs", 1, 2**16, "the number of files processed at once")
        if not isinstance(self.video, VideoOptions):
            raise TypeError(f"video must be a VideoOptions, got {type(self.video).__name__}")
        seed_bytes(self.seed)
        if self.regions is None and self.params.m == "region":
            raise ValueError("m='region' needs regions: pass --regions FILE or --detect faces")
        if self.regions is not None and self.params.output != "full":
            raise ValueError("regions need output='full' (the rest of each image is kept)")

    def pixelizer(self) -> Pixelizer:
        return Pixelizer(self.params, seed=self.seed)


@dataclass(frozen=True)
class Privatize:
    """Read, privatize and write one job: ``(job, channels, None, regions)``,
    or ``(job, None, reason, None)`` when the file fails (``regions``: the
    layout's record entry in region mode, else None). Picklable, so that an engine
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
    regions: Finder | None = None

    def __call__(self, job: Job) -> Outcome:
        return _privatize(job, self)


# (job, channels, None, regions) or (job, None, reason, None); see Privatize.
Outcome = tuple[Job, "int | None", "str | None", "dict[str, Any] | None"]


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
    regions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by Job.name
    videos: list[dict[str, Any]] = field(default_factory=list)  # the record's entries
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
    plan = make_plan(inputs, out, options.format, options.video.suffix)
    return run(plan, options, stream=stream)


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
    if options.regions is not None:
        unknown = options.regions.unknown(job.name for job in plan.jobs)
        if unknown:
            raise RefusedError(
                f"{options.regions.source} names files that are not among the inputs:\n"
                + listing([f"  {printable(n)}" for n in unknown])
                + "\nits keys are paths relative to the input folder (e.g. a/x.jpg), "
                "or the file's name for a file given on the command line"
            )
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
            kept = previous.get("regions", {}).get("files", {})
            report.regions.update({j.name: kept[j.name] for j in present if j.name in kept})
            if previous.get("status") != "complete":  # killed: its record may lag behind
                report.channels |= _channels_of(
                    destination(out, job) for job in present if not job.video
                )
            kept = {job.rel for job in present if job.video}
            clips = (previous.get("videos") or {}).get("clips", [])
            report.videos = [v for v in clips if v.get("output") in kept]
        started = _record.now()
        entries = len(plan.jobs) + len(plan.unlisted)
        if options.regions is not None:  # room for the regions of every clip
            entries += _record.RUNS_LISTED * sum(job.video for job in plan.jobs)
        record = RecordFile(record_path, entries)
        try:
            record.start(_record.build(plan, options, report, started, "running"))
        except NoSpaceForRecord:
            raise RefusedError(
                f"no space for the privacy record in OUT {for_terminal(str(out))}: free some space first"
            ) from None

        videos = [job for job in todo if job.video]
        todo = [job for job in todo if not job.video]
        bar = Progress(
            len(todo), label="dp-pix", unit="file", stream=stream, initial=len(present),
            enabled=None if stream is not None else False,
        )
        for failure in plan.unlisted:
            bar.note(f"dp-pix: {failure.path}: {failure.reason}")
        t0 = time.perf_counter()
        fmt = None if options.format == "same" else _FORMAT_NAME[options.format]
        overwrite = options.existing == "overwrite"

        work = Privatize(out, pixelizer, fmt, overwrite, regions=options.regions)

        def handle(result: Outcome) -> None:
            job, channels, reason, regions = result
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
                if regions is not None:
                    report.regions[job.name] = regions
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
            bar.close()
            _run_videos(videos, options, out, report, stream)
            report.status = "complete"
        except _OutOfSpace:
            pass
        finally:
            bar.close()
            report.seconds = time.perf_counter() - t0
            report.guarantees = {
                c: options.params.describe(c, regions=options.regions is not None)["guarantee"]
                for c in sorted(report.channels)
            }
            record.finish(_record.build(plan, options, report, started, report.status))
    return report


def _run_videos(
    videos: Sequence[Job], options: Options, out: Path, report: Report, stream: IO[str] | None
) -> None:
    """The clips, one after another on this machine (``dp_pix.video.clips.run``)."""
    if not videos:
        return
    try:
        from dp_pix.video.clips import run as run_videos
    except ImportError as exc:
        for job in videos:
            report.failures.append(Failure(job.shown, str(exc)))
            Progress(0, stream=stream).note(f"dp-pix: {job.shown}: {exc}")
        return
    run_videos(videos, options, out, report, stream)


def destination(out: Path, job: Job) -> str:
    """The output file of ``job`` under ``out``."""
    return os.path.join(out, *job.rel.split("/"))


def _privatize(job: Job, how: Privatize) -> Outcome:
    """Read, privatize and write one file (see ``Privatize``)."""
    try:
        image = read_image(job.source)
    except ImageReadError as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):  # its message shows a file object
            return job, None, "not an image, or in a format Pillow cannot identify", None
        return job, None, exc.reason, None
    except OSError as exc:  # missing since the plan, no permission, ...
        return job, None, f"cannot read: {exc.strerror or exc}", None
    regions = None
    try:
        if how.regions is None:
            private = how.pixelizer(image, index=job.stream)
        else:
            layout = how.regions(job.name, image)
            private = how.pixelizer(image, index=job.stream, regions=layout)
            regions = {**layout.to_dict(), "m": resolve(how.pixelizer.params, layout).m}
    except ValueError as exc:  # e.g. edges='crop' on an image smaller than a cell
        return job, None, str(exc), None
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
            return job, channels, None, regions
        return (
            job,
            None,
            (
                f"{printable(dest)} appeared during the run and was kept; "
                "pass --overwrite to replace it"
            ),
            None,
        )
    except OSError as exc:
        if exc.errno in NO_SPACE:
            return job, None, f"{OUT_OF_SPACE}cannot write {printable(dest)}: {exc.strerror}", None
        return job, None, f"cannot write {printable(dest)}: {exc}", None
    except ValueError as exc:
        return job, None, f"cannot write {printable(dest)}: {exc}", None
    return job, channels, None, regions


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
    out = for_terminal(str(plan.out))
    if options.existing == "overwrite":
        return None
    if options.existing == "refuse":
        if existing or has_record:
            names = ([RECORD_NAME] if has_record else []) + existing
            raise RefusedError(
                f"OUT {out} already holds {len(names)} of this run's output files:\n"
                + listing([f"  {for_terminal(n)}" for n in names])
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
                + listing([f"  {for_terminal(n)}" for n in existing])
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
    ours = _record.pixelate_parameters(options, any(job.video for job in plan.jobs))
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
                    why = f"another dp-pix run is writing to {for_terminal(str(folder))} or inside it"
                else:
                    why = f"another dp-pix run is writing to {for_terminal(str(path))}, which holds OUT"
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: dp-pix pixelate --help")
