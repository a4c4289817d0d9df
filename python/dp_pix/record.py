"""The privacy record of ``dp-pix pixelate``: ``OUT/dp-pix.json``.

What a folder of outputs guarantees, in one JSON file written atomically at
the start of a run (status ``running``) and again at its end: the
parameters, the guarantee per channel count of the images, and for every
video its frames, window and guarantees per frame, per window and for the
whole clip; counts, failures and ignored files. Never the seed.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dp_pix
from dp_pix.io import write_bytes

if TYPE_CHECKING:
    from dp_pix.pipeline import Options, Plan, Report

__all__ = ["CONVERSIONS", "RECORD_SCHEMA", "VIDEO_MODEL", "build", "now", "parameters", "write"]

RECORD_SCHEMA = 1

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
            str(c): jsonable(options.params.describe(c)) for c in sorted(report.channels)
        },
        "conversions": CONVERSIONS,
        "inputs": plan.inputs,
        "counts": {
            "planned": report.planned,
            "written": report.written,
            "already_present": report.present,
            "failed": len(report.failures),
            "ignored": len(report.ignored),
        },
        # sorted: the record does not depend on the order in which files finished
        "failures": [{"path": f.path, "reason": f.reason} for f in sorted(report.failures)],
        "ignored": report.ignored,
    }
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


def write(path: Path, record: dict[str, Any]) -> None:
    """Replace ``path`` atomically."""
    data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    write_bytes(path, data, overwrite=True)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
