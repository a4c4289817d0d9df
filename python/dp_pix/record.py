"""The privacy record: what a release guarantees, as one JSON-ready dict.

Every tool that publishes a set of privatized images states its guarantee
with the same record, built by :func:`make`: ``dp-pix pixelate`` writes it to
``OUT/dp-pix.json`` (``dp_pix.pipeline``), ``dp_pix.huggingface.privatize``
puts it in the Dataset's info and returns it. The record says what was
privatized (``inputs``, ``counts``), with which parameters, and the guarantee
for each channel count that occurs (``Params.describe``); never the seed.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

import dp_pix
from dp_pix.params import Params

__all__ = ["CONVERSIONS", "METHOD", "RECORD_SCHEMA", "SEED_NOTE", "jsonable", "make", "now",
           "parameters"]

RECORD_SCHEMA = 1
METHOD = "DP-Pix (L. Fan, DBSec 2018) with exact discrete noise"
#: What ``dp_pix.io.read_image`` does to a file with its defaults.
CONVERSIONS = (
    "grey files stay grey (1 channel), colour files become RGB (3 channels); "
    "1-bit -> 0/255; 16-bit -> high byte (v >> 8); palette -> RGB; CMYK, YCbCr, LAB -> RGB "
    "(no colour management); alpha dropped, not composited; EXIF orientation applied; "
    "first frame only; no metadata written"
)
SEED_NOTE = (
    "the seed, if any, is a secret key and is not recorded: anyone who has it can remove "
    "the noise, so seeded outputs are for tests and papers, not for release"
)
_NO_SEED = "no seed: fresh OS randomness"


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
    **more: Any,
) -> dict[str, Any]:
    """The privacy record of one release.

    ``channels``: the channel counts of the released images (one guarantee
    each). ``inputs``: what was read. ``counts``: how many images were
    planned, written, failed... (the tool's own keys). ``status``:
    ``"running"`` while the release is being made, ``"complete"`` or why it
    stopped; ``more``: further entries at the end (failures, ...).
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
        "guarantees": {str(c): jsonable(params.describe(c)) for c in sorted(set(channels))},
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
