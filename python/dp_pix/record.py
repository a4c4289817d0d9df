"""The privacy record of ``dp-pix pixelate``: ``OUT/dp-pix.json``.

What a folder of outputs guarantees, in one JSON file written atomically at
the start of a run (status ``running``) and again at its end: the
parameters, the guarantee per channel count of the images, in region mode the
boxes of every file, for every video its frames, window and guarantees per
frame, per window and for the whole clip; counts, failures and ignored files.
Never the seed. :class:`RecordFile` keeps room for the final record beside
it, so that it tells the truth even when the outputs fill the disk.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dp_pix
from dp_pix.detect import CARRY_FRAMES
from dp_pix.io import write_bytes

if TYPE_CHECKING:
    from dp_pix.pipeline import Options, Plan, Report

__all__ = [
    "CONVERSIONS",
    "NO_SPACE",
    "RECORD_SCHEMA",
    "REGION_VIDEO_MODEL",
    "RESERVE_NAME",
    "RUNS_LISTED",
    "VIDEO_MODEL",
    "NoSpaceForRecord",
    "RecordFile",
    "build",
    "now",
    "parameters",
]

RECORD_SCHEMA = 1
# Space kept beside the record while a run writes (a hidden file, removed at
# the end), so that the final record fits even when the outputs fill the disk.
RESERVE_NAME = ".dp-pix.json.reserve"
# The errors of a full file system (or quota).
NO_SPACE = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e)

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
_SEED_NOTE = (
    "the seed, if any, is a secret key and is not recorded: anyone who has it can remove "
    "the noise, so seeded outputs are for tests and papers, not for release"
)


def parameters(options: Options, videos: bool) -> dict[str, Any]:
    """The parameters a resumed run must share; the video options when the
    run has videos."""
    out = {
        **options.params.to_dict(),
        "format": options.format,
        "seeded": options.seed is not None,
    }
    if options.regions is not None:
        out["regions"] = options.regions.to_dict()
    if videos:
        v = options.video
        out["video"] = {
            "window": "all" if v.window is None else v.window,
            "fps": v.fps,
            "codec": "ffv1/mkv" if v.lossless else f"h264/mp4, crf {v.crf}",
            "keep_audio": v.keep_audio,
        }
    return out


def build(
    plan: Plan, options: Options, report: Report, started: str, status: str
) -> dict[str, Any]:
    has_videos = any(job.video for job in plan.jobs)
    record: dict[str, Any] = {
        "record": "dp-pix privacy record",
        "schema": RECORD_SCHEMA,
        "tool": "dp-pix pixelate",
        "version": dp_pix.__version__,
        "backend": getattr(dp_pix, "BACKEND", None),
        "status": status,  # "running" on disk while a run is going or if it was killed
        "started": started,
        "finished": None if status == "running" else now(),
        "method": "DP-Pix (L. Fan, DBSec 2018) with exact discrete noise",
        "parameters": parameters(options, has_videos),
        "seed": _SEED_NOTE if options.seed is not None else "no seed: fresh OS randomness",
        "guarantees": {
            str(c): jsonable(options.params.describe(c, regions=options.regions is not None))
            for c in sorted(report.channels)
        },
        "conversions": CONVERSIONS,
        "inputs": plan.inputs,
        "counts": {
            "planned": report.planned,
            "written": report.written,
            "already_present": report.present,
            "failed": len(report.failures),
            "not_done": report.remaining,  # left for --skip-existing (a run that stopped)
            "ignored": len(report.ignored),
        },
        # sorted: the record does not depend on the order in which files finished
        "failures": [{"path": f.path, "reason": f.reason} for f in sorted(report.failures)],
        "ignored": report.ignored,
    }
    if options.regions is not None:
        record["regions"] = {
            **options.regions.to_dict(),
            "scope": "the guarantees hold for changes inside the regions, given the regions; "
            "pixels outside them are published unchanged",
            "files": {name: report.regions[name] for name in sorted(report.regions)},
        }
        if has_videos:
            record["regions"]["videos"] = REGION_VIDEO_MODEL
    if has_videos:
        record["videos"] = {
            "model": VIDEO_MODEL,
            "clips": jsonable(sorted(report.videos, key=lambda v: str(v.get("output")))),
        }
    return record


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class NoSpaceForRecord(OSError):
    """OUT has no room for the privacy record: nothing was written."""


class RecordFile:
    """The privacy record of a run, ``OUT/dp-pix.json``, that tells the truth
    even when the outputs fill the disk.

    ``start`` writes the first record and a hidden reserve file beside it (a
    run that cannot is stopped before any output is written: ``NoSpaceForRecord``);
    ``finish`` frees the reserve and writes the final record in its place,
    atomically. If even that does not fit, the list of failures is cut (their
    number stays) until it does.
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

    def write(self, record: dict[str, Any]) -> None:
        """Replace the record atomically (the reserve stays)."""
        write_bytes(self.path, _encode(record), overwrite=True)

    def finish(self, record: dict[str, Any]) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.reserve)
        failures = record["failures"]
        keep = len(failures)
        while True:
            if keep < len(failures):
                record = {**record, "failures": failures[:keep],
                          "failures_not_listed": len(failures) - keep}  # fmt: skip
            try:
                write_bytes(self.path, _encode(record), overwrite=True)
                return
            except OSError as exc:
                if exc.errno not in NO_SPACE or keep == 0:
                    raise
                keep //= 2


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
