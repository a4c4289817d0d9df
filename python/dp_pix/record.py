"""The privacy record: what a release guarantees, as one JSON-ready dict.

Every tool that publishes privatized images states its guarantee with the
same record, built by :func:`make`: ``dp-pix pixelate`` writes it to
``OUT/dp-pix.json`` (:func:`build`; :class:`RecordFile` keeps room for it so
that it tells the truth even when the outputs fill the disk),
``dp_pix.huggingface.privatize`` puts it in the Dataset's info and returns
it. The record says what was privatized (``inputs``, ``counts``), with which
parameters, the guarantee for each channel count that occurs
(``Params.describe``), in region mode the boxes of every file, for every video
its frames, window and guarantees per frame, per window and for the whole
clip; never the seed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dp_pix
from dp_pix.detect import CARRY_FRAMES
from dp_pix.io import write_bytes
from dp_pix.params import Params

if TYPE_CHECKING:
    from dp_pix.pipeline import Options, Plan, Report

__all__ = [
    "CONVERSIONS",
    "METHOD",
    "NO_SPACE",
    "RECORD_SCHEMA",
    "REGION_VIDEO_MODEL",
    "RESERVE_NAME",
    "RUNS_LISTED",
    "SEED_NOTE",
    "VIDEO_MODEL",
    "NoSpaceForRecord",
    "RecordFile",
    "build",
    "jsonable",
    "make",
    "now",
    "parameters",
    "pixelate_parameters",
]

RECORD_SCHEMA = 1
METHOD = "DP-Pix (L. Fan, DBSec 2018) with exact discrete noise"
#: What ``dp_pix.io.read_image`` does to a file with its defaults.
CONVERSIONS = (
    "grey files stay grey (1 channel), colour files become RGB (3 channels); "
    "1-bit -> 0/255; 16-bit -> high byte (v >> 8); palette -> RGB; CMYK, YCbCr, LAB -> RGB "
    "(no colour management); alpha dropped, not composited; EXIF orientation applied; "
    "first frame only; no metadata written"
)
VIDEO_MODEL = (
    "w-event privacy (Kellaris et al., VLDB 2014): two clips are neighbours when they "
    "differ only within one window of w consecutive released frames, in at most m pixel "
    "positions of each frame there; the budget in 'parameters' is that of one window, "
    "spread over its w frames (Laplace: epsilon/w per frame, basic composition; Gaussian: "
    "rho/w per frame, zCDP composition). A change that lasts longer than a window is "
    "protected window by window: see each clip's guarantee_clip. Frames are decoded to "
    "8-bit RGB (grey for grey sources); size, frame count and timestamps are released as "
    "they are. Audio, subtitles, data streams, chapters, attachments and all metadata "
    "are dropped unless 'audio' says otherwise; copied audio is NOT protected."
)
# Runs of frames with the same regions that the record lists per clip, at most
# (about 250 bytes each); beyond, only the counts: a long clip with moving boxes
# would make a record of many megabytes.
RUNS_LISTED = 1000
REGION_VIDEO_MODEL = (
    "in a clip the regions are those of each frame, listed per clip (videos.clips[].regions, "
    "runs of consecutive frames with the same regions): boxes of the regions file by frame "
    "number (every decoded frame from 0) and/or those a detector finds in each released "
    f"frame, each detected box also covering the {CARRY_FRAMES} released frames before and "
    f"after it; the first {RUNS_LISTED} runs are listed, the counts always. A frame "
    "without regions is published unchanged. The budget of a window is "
    "spread over its w frames as for whole frames (Laplace epsilon/w, Gaussian rho/w per "
    "frame) and covers, in each frame of the window, a change of up to m pixels inside that "
    "frame's regions (m = region: its largest region), given the regions of every frame, "
    "whose positions and sizes are published frame by frame"
)
SEED_NOTE = (
    "the seed, if any, is a secret key and is not recorded: anyone who has it can remove "
    "the noise, so seeded outputs are for tests and papers, not for release"
)
_NO_SEED = "no seed: fresh OS randomness"

# Space kept beside the record while a run writes (a hidden file, removed at
# the end), so that the final record fits even when the outputs fill the disk.
RESERVE_NAME = ".dp-pix.json.reserve"
# The errors of a full file system (or quota).
NO_SPACE = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e)


# ---------------------------------------------------------------------- any tool


def parameters(params: Params, *, seeded: bool, **settings: Any) -> dict[str, Any]:
    """The record's ``parameters``: the privacy parameters, the tool's own
    ``settings`` (e.g. the output format), and whether a seed was used."""
    return {**params.to_dict(), **settings, "seeded": seeded}


def make(
    *,
    tool: str,
    params: Params,
    seeded: bool,
    settings: Mapping[str, Any],
    channels: Iterable[int],
    conversions: str,
    inputs: Any,
    counts: Mapping[str, int],
    status: str,
    started: str,
    region_mode: bool = False,
    **more: Any,
) -> dict[str, Any]:
    """The privacy record of one release.

    ``channels``: the channel counts of the released images (one guarantee
    each; ``region_mode``: the guarantee of region mode). ``inputs``: what was
    read. ``counts``: how many images were planned, written, failed... (the
    tool's own keys). ``status``: ``"running"`` while the release is being
    made, ``"complete"`` or why it stopped; ``more``: further entries at the
    end (failures, ...).
    """
    return {
        "record": "dp-pix privacy record",
        "schema": RECORD_SCHEMA,
        "tool": tool,
        "version": dp_pix.__version__,
        "backend": getattr(dp_pix, "BACKEND", None),
        "status": status,
        "started": started,
        "finished": None if status == "running" else now(),
        "method": METHOD,
        "parameters": parameters(params, seeded=seeded, **settings),
        "seed": SEED_NOTE if seeded else _NO_SEED,
        "guarantees": {
            str(c): jsonable(params.describe(c, regions=region_mode))
            for c in sorted(set(channels))
        },
        "conversions": conversions,
        "inputs": inputs,
        "counts": dict(counts),
        **more,
    }


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def now() -> str:
    """The time, UTC, to the second (ISO 8601)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------- dp-pix pixelate


def pixelate_parameters(options: Options, videos: bool) -> dict[str, Any]:
    """The parameters of a ``dp-pix pixelate`` run, which a resumed run must
    share: the privacy parameters and the run's settings."""
    seeded = options.seed is not None
    return parameters(options.params, seeded=seeded, **_pixelate_settings(options, videos))


def _pixelate_settings(options: Options, videos: bool) -> dict[str, Any]:
    """The format, region mode, and the video options when the run has videos."""
    settings: dict[str, Any] = {"format": options.format}
    if options.regions is not None:
        settings["regions"] = options.regions.to_dict()
    if videos:
        v = options.video
        settings["video"] = {
            "window": "all" if v.window is None else v.window,
            "fps": v.fps,
            "codec": "ffv1/mkv" if v.lossless else f"h264/mp4, crf {v.crf}",
            "keep_audio": v.keep_audio,
        }
    return settings


def build(
    plan: Plan, options: Options, report: Report, started: str, status: str
) -> dict[str, Any]:
    """The record of a ``dp-pix pixelate`` run (``status``: ``"running"`` on
    disk while it runs, or if it was killed)."""
    has_videos = any(job.video for job in plan.jobs)
    more: dict[str, Any] = {}
    if options.regions is not None:
        more["regions"] = {
            **options.regions.to_dict(),
            "scope": "the guarantees hold for changes inside the regions, given the regions; "
            "pixels outside them are published unchanged",
            "files": {name: report.regions[name] for name in sorted(report.regions)},
        }
        if has_videos:
            more["regions"]["videos"] = REGION_VIDEO_MODEL
    if has_videos:
        more["videos"] = {
            "model": VIDEO_MODEL,
            "clips": jsonable(sorted(report.videos, key=lambda v: str(v.get("output")))),
        }
    return make(
        tool="dp-pix pixelate",
        params=options.params,
        seeded=options.seed is not None,
        settings=_pixelate_settings(options, has_videos),
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
        status=status,
        started=started,
        region_mode=options.regions is not None,
        # sorted: the record does not depend on the order in which files finished
        failures=[{"path": f.path, "reason": f.reason} for f in sorted(report.failures)],
        ignored=report.ignored,
        **more,
    )


class NoSpaceForRecord(OSError):
    """OUT has no room for the privacy record: nothing was written."""


class RecordFile:
    """The privacy record of a run, ``OUT/dp-pix.json``, that tells the truth
    even when the outputs fill the disk.

    ``start`` writes the first record and a hidden reserve file beside it (a
    run that cannot is stopped before any output is written:
    ``NoSpaceForRecord``); ``finish`` frees the reserve and writes the final
    record in its place, atomically. If even that does not fit, the list of
    failures is cut (their number stays) until it does.
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
            if exc.errno in NO_SPACE:
                raise NoSpaceForRecord(exc.errno, "no space for the privacy record") from None
            raise

    def finish(self, record: dict[str, Any]) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.reserve)
        failures = record["failures"]
        keep = len(failures)
        while True:
            if keep < len(failures):
                record = {
                    **record,
                    "failures": failures[:keep],
                    "failures_not_listed": len(failures) - keep,
                }
            try:
                write_bytes(self.path, _encode(record), overwrite=True)
                return
            except OSError as exc:
                if exc.errno not in NO_SPACE or keep == 0:
                    raise
                keep //= 2


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
