"""Privatize the images of a Hugging Face dataset once: ``pip install 'dp-pix[huggingface]'``.

``privatize(dataset, params)`` takes a ``datasets.Dataset`` (or a
``DatasetDict``: each split on its own) whose ``column`` is an ``Image``
feature, runs DP-Pix on every image with a batched ``map`` (``num_proc``
processes), and returns the new dataset with the privacy record that
``dp-pix pixelate`` writes, also stored as JSON in each split's
``info.description`` (``read_record`` reads it back).

Privatize once, then train. An on-the-fly transform (``with_transform``,
``set_transform``, a ``map`` on a streamed ``IterableDataset``, a DataLoader
or torchvision transform) runs again at every read: each epoch draws fresh
noise for every image, and an attacker — or the model — who sees k noisy
copies of one image averages the noise away (k epochs spend k·ε). The
materialized dataset that ``privatize`` returns is one release; reading it
any number of times costs nothing more. Streamed datasets are refused for
that reason.

Images are decoded from their stored bytes (or local path) by
``dp_pix.io.read_image_file``, with the rules of ``dp-pix pixelate``: grey
stays grey, colour becomes RGB, alpha is dropped, the EXIF orientation is
applied; an ``Image(mode=...)`` feature of "L", "RGB" or "RGBA" converts
every image to that mode (RGBA: alpha privatized as a fourth channel). The
outputs are stored as PNG bytes without metadata and without the source
path. Other columns are copied unchanged: drop any that holds original
pixels or identifies them.

Noise. Without a seed every image draws fresh randomness from the operating
system. With a seed, row ``i`` of a Dataset draws the stream of image index
``i``, and row ``i`` of split ``s`` of a DatasetDict that of
``pipeline.noise_index(f"{s}/{i}")``; image keys are also bound to the
pixels (``Pixelizer``), so the same seed gives the same bytes whatever
``num_proc`` and ``batch_size``, and no two rows share noise. A seed is a
secret key, for tests and papers, never for a release.

Importing ``dp_pix`` never imports ``datasets``; importing this module does.
"""

from __future__ import annotations

import dataclasses
import functools
import io as _stdio
import json
import secrets
from collections.abc import Sequence
from typing import Any, NamedTuple

try:
    import datasets
except ImportError as _exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        f"dp_pix.huggingface needs the Hugging Face datasets package ({_exc}); "
        "install it with: pip install 'dp-pix[huggingface]'"
    ) from _exc

import numpy as np
from PIL import Image as _PIL

from dp_pix import record as _record
from dp_pix.api import Pixelizer
from dp_pix.io import read_image, read_image_file
from dp_pix.params import Params, check_int
from dp_pix.pipeline import noise_index

__all__ = ["TOOL", "Privatized", "privatize", "read_record", "row_index"]

TOOL = "dp_pix.huggingface.privatize"
# A column that carries each row's channel count out of the map (removed after).
_CHANNELS = "__dp_pix_channels__"
_MODES = (None, "L", "RGB", "RGBA")
_MODE_CONVERSIONS = {
    "L": "every image converted to grey (Pillow mode L: ITU-R 601-2 luma), as the column's "
    "Image(mode='L') asks; 16-bit -> high byte (v >> 8); EXIF orientation applied; "
    "first frame only; no metadata written",
    "RGB": "every image converted to RGB (3 channels), as the column's Image(mode='RGB') "
    "asks; 16-bit -> high byte (v >> 8); alpha dropped, not composited; EXIF orientation "
    "applied; first frame only; no metadata written",
    "RGBA": "every image converted to RGBA (4 channels: alpha privatized as a fourth "
    "channel, 255 where a file has none), as the column's Image(mode='RGBA') asks; "
    "16-bit -> high byte (v >> 8); EXIF orientation applied; first frame only; "
    "no metadata written",
}


class Privatized(NamedTuple):
    """What :func:`privatize` returns: the new dataset and its privacy record."""

    dataset: Any  # datasets.Dataset or datasets.DatasetDict
    record: dict[str, Any]


def row_index(split: str | None, row: int) -> int:
    """The image index whose noise stream row ``row`` draws under a seed: the
    row itself in a Dataset (``split`` None), ``noise_index("split/row")`` in
    a split of a DatasetDict."""
    return row if split is None else noise_index(f"{split}/{row}")


def privatize(
    dataset: Any,
    params: Params,
    *,
    column: str = "image",
    seed: int | None = None,
    batch_size: int = 64,
    num_proc: int | None = None,
    map_args: dict[str, Any] | None = None,
) -> Privatized:
    """DP-Pix every image of ``dataset[column]`` once, with ``params``.

    ``dataset``: a ``datasets.Dataset``, or a ``DatasetDict`` whose splits are
    privatized independently (each image on its own, as everywhere in
    dp-pix). ``column`` must be an ``Image`` feature. ``batch_size`` rows go
    to each call of the batched ``map``, in ``num_proc`` processes;
    ``map_args`` go to ``Dataset.map`` too (e.g. ``cache_file_name``,
    ``writer_batch_size``). ``seed``: a secret key for reproducible output,
    never for a release.

    Returns ``(dataset, record)``: a new Dataset (or DatasetDict) whose
    ``column`` holds the privatized images as PNG, everything else unchanged,
    and the privacy record (the parameters, the guarantee per channel count,
    the splits and row counts), also written as JSON into each split's
    ``info.description``. A row that cannot be privatized (no image,
    undecodable bytes, ``edges='crop'`` on an image smaller than a cell)
    stops the whole run with a ``ValueError`` naming the split and the row:
    no partially privatized dataset is returned.
    """
    if not isinstance(params, Params):
        raise TypeError(
            f"params must be a dp_pix.Params, got {type(params).__name__}; "
            "e.g. dp_pix.Params(block=16, epsilon=0.5, m=16)"
        )
    pixelizer = Pixelizer(params, seed=seed)  # a bad seed fails here, before any work
    if not isinstance(column, str):
        raise TypeError(f"column must be a str, got {type(column).__name__}")
    batch_size = check_int(batch_size, "batch_size", 1, 2**31, "e.g. batch_size=64")
    if num_proc is not None:
        num_proc = check_int(num_proc, "num_proc", 1, 2**16, "processes, e.g. num_proc=4")
    if isinstance(dataset, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        raise TypeError(
            "dataset is a streamed IterableDataset: a map on it runs again at every pass, "
            "so each epoch would draw fresh noise and spend the budget again. Privatize a "
            "Dataset (load it without streaming=True, or Dataset.from_generator), or "
            "privatize the image files once with dp-pix pixelate"
        )
    if isinstance(dataset, datasets.DatasetDict):
        splits: Sequence[tuple[str | None, Any]] = list(dataset.items())
    elif isinstance(dataset, datasets.Dataset):
        splits = [(None, dataset)]
    else:
        raise TypeError(
            f"dataset must be a datasets.Dataset or DatasetDict, got {type(dataset).__name__}"
        )
    # Check every split before any work.
    features = [_image_feature(ds, column, split) for split, ds in splits]

    started = _record.now()
    seeded = seed is not None
    done: list[Any] = []
    channels: set[int] = set()
    inputs: list[dict[str, Any]] = []
    for (split, ds), feature in zip(splits, features):
        out, seen = _privatize_split(
            ds, split, feature, pixelizer, column, seeded, batch_size, num_proc, map_args
        )
        done.append(out)
        channels |= seen
        inputs.append(_input_entry(ds, split, column))
    rows = sum(len(ds) for _, ds in splits)
    rules = [_MODE_CONVERSIONS.get(f.mode, _record.CONVERSIONS) for f in features]
    if len(set(rules)) == 1:
        conversions = rules[0]
    else:  # splits declared with different Image modes
        conversions = "; ".join(f"split {name!r}: {r}" for (name, _), r in zip(splits, rules))
    record = _record.make(
        tool=TOOL,
        params=params,
        seeded=seeded,
        settings={"column": column, "format": "png"},
        channels=channels,
        conversions=conversions,
        inputs=inputs,
        counts={"planned": rows, "written": rows, "failed": 0},
        status="complete",
        started=started,
    )
    text = json.dumps(record, indent=2, ensure_ascii=False)
    for out in done:
        out.info.description = text
    if isinstance(dataset, datasets.DatasetDict):
        result: Any = datasets.DatasetDict(
            {name: out for (name, _), out in zip(splits, done)}
        )
    else:
        result = done[0]
    return Privatized(result, record)


def read_record(dataset: Any) -> dict[str, Any]:
    """The privacy record that :func:`privatize` stored in ``dataset``'s info
    (a Dataset, or a DatasetDict whose splits hold one record); ``ValueError``
    when there is none."""
    if isinstance(dataset, datasets.DatasetDict):
        records = [read_record(ds) for ds in dataset.values()]
        if not records or any(r != records[0] for r in records):
            raise ValueError("the splits of this DatasetDict do not hold one dp-pix record")
        return records[0]
    try:
        found = json.loads(dataset.info.description or "")
    except ValueError:
        found = None
    if not isinstance(found, dict) or found.get("record") != "dp-pix privacy record":
        raise ValueError(
            "this dataset's info holds no dp-pix privacy record "
            "(dp_pix.huggingface.privatize writes one into info.description)"
        )
    return found


# ------------------------------------------------------------------- helpers


def _image_feature(ds: Any, column: str, split: str | None) -> Any:
    where = "the Dataset" if split is None else f"split {split!r}"
    if column not in ds.features:
        names = ", ".join(repr(c) for c in ds.column_names)
        raise ValueError(f"{where} has no column {column!r} (columns: {names}); pass column=NAME")
    feature = ds.features[column]
    if not isinstance(feature, datasets.Image):
        raise TypeError(
            f"column {column!r} of {where} is {type(feature).__name__}, not an Image feature; "
            f"cast it first: dataset.cast_column({column!r}, datasets.Image())"
        )
    if feature.mode not in _MODES:
        raise ValueError(
            f"column {column!r} of {where} has Image(mode={feature.mode!r}); dp-pix reads "
            "images as grey, RGB or RGBA: cast it to Image() (each file's own kind), "
            "Image(mode='L'), Image(mode='RGB') or Image(mode='RGBA')"
        )
    return feature


def _input_entry(ds: Any, split: str | None, column: str) -> dict[str, Any]:
    info = ds.info
    entry: dict[str, Any] = {"split": split, "column": column, "rows": len(ds)}
    for name in ("dataset_name", "config_name"):
        value = getattr(info, name, None)
        if value:
            entry[name] = value
    if info.description:
        entry["description"] = info.description
    return entry


def _privatize_split(
    ds: Any,
    split: str | None,
    feature: Any,
    pixelizer: Pixelizer,
    column: str,
    seeded: bool,
    batch_size: int,
    num_proc: int | None,
    map_args: dict[str, Any] | None,
) -> tuple[Any, set[int]]:
    # The stored bytes in, PNG bytes out: decoding is dp-pix's (the rules of
    # dp-pix pixelate), and the original path does not travel.
    raw = ds.cast_column(column, dataclasses.replace(feature, decode=False))
    features = raw.features.copy()
    features[column] = feature
    features[_CHANNELS] = datasets.Value("uint16")
    fn = functools.partial(_privatize_batch, pixelizer, column, feature.mode, split, seeded)
    args: dict[str, Any] = {
        "writer_batch_size": batch_size,
        "desc": "dp-pix privatize" + ("" if split is None else f" {split}"),
        **(map_args or {}),
    }
    out = raw.map(
        fn,
        with_indices=True,
        input_columns=[column],
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc,
        features=features,
        # A fresh fingerprint: never a cached result of an earlier call (an
        # unseeded call draws fresh noise), and no hash of the seed anywhere.
        new_fingerprint=secrets.token_hex(16),
        **args,
    )
    seen = {int(c) for c in out.unique(_CHANNELS)}
    return out.remove_columns(_CHANNELS), seen


def _privatize_batch(
    pixelizer: Pixelizer,
    column: str,
    mode: str | None,
    split: str | None,
    seeded: bool,
    images: list[Any],
    rows: list[int],
) -> dict[str, list[Any]]:
    out: list[dict[str, Any]] = []
    channels: list[int] = []
    for value, row in zip(images, rows):
        where = f"row {row}" if split is None else f"split {split!r}, row {row}"
        try:
            image = _decode(value, mode, f"{column!r} of {where}")
            index = row_index(split, row) if seeded else None
            private = pixelizer(image, index=index)
        except (OSError, TypeError, ValueError) as exc:
            raise ValueError(f"cannot privatize {column!r} of {where}: {exc}") from exc
        out.append({"bytes": _png(private), "path": None})
        channels.append(1 if private.ndim == 2 else int(private.shape[2]))
    return {column: out, _CHANNELS: channels}


def _decode(value: Any, mode: str | None, name: str) -> np.ndarray:
    if value is None:
        raise ValueError("no image (None)")
    data, path = value.get("bytes"), value.get("path")
    if data is not None:
        return read_image_file(data, path or name, mode)
    if path:
        return read_image(path, mode)
    raise ValueError("neither bytes nor a path")


def _png(image: np.ndarray) -> bytes:
    buffer = _stdio.BytesIO()
    _PIL.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()
