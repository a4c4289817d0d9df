"""Privatize image collections on a Ray cluster: ``pip install 'dp-pix[ray]'``.

Each image is privatized on its own, so the work spreads over Ray Data
(https://docs.ray.io/en/latest/data/) without any coordination:

- ``privatize(ds)``: a Ray Dataset with an image column (e.g. from
  ``ray.data.read_images(..., include_paths=True)``) in, the privatized
  Dataset out, by ``map_batches`` on numpy batches. Images of different sizes
  are fine (Ray hands them over as an object array).
- ``privatize_paths(paths)``: files (local, or any filesystem Ray reads, such
  as ``s3://``) in, Dataset out; files are decoded by ``dp_pix.io.read_image``
  with the same rules as ``dp-pix pixelate``, inside the same task that
  privatizes them, so original pixels never enter the object store.
- ``pixelate_paths(inputs, out, options)``: ``dp-pix pixelate --ray``. The
  planning, refusals, privacy record and per-file function are those of
  ``dp_pix.pipeline``; only the runner differs.

Noise. Without a seed, every image draws fresh randomness from the operating
system of the worker that privatizes it. With a seed, an image draws the
stream of ``pipeline.noise_index(key)``: a hash of its key (by default its
path; for ``pixelate_paths`` its output path under OUT, as ``dp-pix pixelate``
does), so the bytes do not depend on the cluster size or on how the Dataset
is partitioned. A seed is a secret key, for tests and papers, never for a
release; two rows with one key would share their noise.

Importing ``dp_pix`` never imports Ray; importing this module does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

try:
    import ray
    import ray.data
except ImportError as _exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        f"dp_pix.ray needs Ray Data ({_exc}); install it with: pip install 'dp-pix[ray]'"
    ) from _exc

from dp_pix import pipeline
from dp_pix.api import Pixelizer
from dp_pix.io import ImageReadError, read_image
from dp_pix.params import Params

__all__ = [
    "MAX_FILES_PER_TASK",
    "MIN_FILES_PER_TASK",
    "THREADS_PER_TASK",
    "init_local",
    "pixelate_paths",
    "privatize",
    "privatize_paths",
    "runner",
]

# Files per Ray task in pixelate_paths: a task costs ~20 ms of scheduling, and
# a lost one is redone whole; at least two tasks per CPU where there are files
# enough, for balance.
MIN_FILES_PER_TASK = 32
MAX_FILES_PER_TASK = 256
# Threads per Ray task: each file waits on two fsyncs (file and folder), which
# a task overlaps as the single-process engine does (the GIL is free meanwhile):
# 4 threads make 2,000 small files 2.5 times faster than 1 on a 2-CPU machine.
THREADS_PER_TASK = 4


# ------------------------------------------------------------------- datasets


def privatize(
    ds: ray.data.Dataset,
    params: Params,
    *,
    seed: int | None = None,
    column: str = "image",
    key: str = "path",
    batch_size: int | None = 16,
    map_batches_args: dict[str, Any] | None = None,
) -> ray.data.Dataset:
    """DP-Pix every image of ``ds`` with ``params`` (lazily, as Ray Datasets are).

    ``column`` holds uint8 images ``(H, W)`` or ``(H, W, C)``, of one size or
    many. The guarantee is that of ``params`` (``params.describe()``), as in
    ``dp-pix pixelate``: each image on its own is protected for any change of
    up to ``m`` of its pixels. With ``seed``, the column ``key`` (str or bytes,
    e.g. the ``path`` of ``read_images(..., include_paths=True)``) names each
    image's noise stream; keys must be distinct.

    The result has ``column`` privatized, an ``error`` column ("" or why that
    image failed, e.g. a dtype other than uint8 or ``edges='crop'`` on an
    image smaller than a cell; its ``column`` is then None), and every other
    column of ``ds`` unchanged: drop any that holds original pixels. Keep
    grey and colour images in separate columns or Datasets (or read them in
    one mode): where a column mixes them, Ray pads the grey ones to
    ``(1, H, W)`` and those rows fail. ``map_batches_args`` go to
    ``Dataset.map_batches`` (e.g. ``concurrency``, ``num_cpus``).

    The result is lazy, as Ray Datasets are: every pass over it runs the
    mechanism again and draws fresh noise, and each pass spends the budget
    again. Privatize once — ``write_parquet``/``write_images``, or
    ``materialize()`` — and train on that, never on this Dataset epoch after
    epoch.
    """
    pixelizer = Pixelizer(params, seed=seed)  # a bad seed fails here, before any task starts
    fn = functools.partial(_privatize_batch, pixelizer, column, key, seed is not None)
    return ds.map_batches(
        fn, batch_format="numpy", batch_size=batch_size, **(map_batches_args or {})
    )


def privatize_paths(
    paths: str | Sequence[str],
    params: Params,
    *,
    seed: int | None = None,
    mode: str | None = None,
    batch_size: int | None = 16,
    read_args: dict[str, Any] | None = None,
    map_batches_args: dict[str, Any] | None = None,
) -> ray.data.Dataset:
    """DP-Pix the image files at ``paths`` (files or folders, any filesystem
    Ray Data reads) with ``params``: a Dataset of ``path``, ``image`` and ``error``.

    Files are read with ``ray.data.read_binary_files`` (``read_args`` go
    there, e.g. ``file_extensions`` or ``filesystem``) and decoded by
    ``dp_pix.io.read_image`` as ``dp-pix pixelate`` does (grey stays grey,
    colour is RGB, alpha dropped, EXIF orientation applied); ``mode`` "L" or
    "RGB" makes every image grey or colour, which Ray Datasets prefer (a
    column of both gets the grey ones padded to ``(1, H, W)`` downstream).
    A file that cannot be decoded or privatized gets ``image`` None and its
    reason in ``error``; the Dataset goes on. With ``seed``, the noise is
    keyed by ``path`` as Ray reports it. Write the result with
    ``ds.filter(...).write_images(...)`` or ``write_parquet``.
    """
    pixelizer = Pixelizer(params, seed=seed)
    if mode not in (None, "L", "RGB"):
        raise ValueError(f"mode must be None, 'L' or 'RGB', got {mode!r}")
    args = {"include_paths": True, **(read_args or {})}
    files = ray.data.read_binary_files(paths if isinstance(paths, str) else list(paths), **args)
    fn = functools.partial(_decode_privatize_batch, pixelizer, mode, seed is not None)
    return files.map_batches(
        fn, batch_format="numpy", batch_size=batch_size, **(map_batches_args or {})
    )


def _index_of(key: Any) -> int:
    if isinstance(key, (bytes, np.bytes_)):
        key = bytes(key).decode("utf-8", "surrogateescape")
    return pipeline.noise_index(str(key))


# When a column mixes grey (H, W) and colour (H, W, C) images, Ray (2.60; 2.40
# refuses such a column) gives the grey ones a leading axis, (1, H, W), as it
# combines blocks. Taking that for a
# one-row image with W channels over-noises it (safe, useless); dropping the
# axis would under-noise a true (1, W, C) image, so such rows fail instead.
_PADDED_GREY = (
    "shape (1, {}, {}): a grey image that Ray gave a leading axis because the column "
    "mixes grey and colour images; read them in one mode, e.g. read_images(..., mode='RGB')"
)


def _privatize_one(pixelizer: Pixelizer, image: Any, key: Any, seeded: bool) -> tuple[Any, str]:
    padded = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[0] == 1
    if padded and image.shape[2] > 4:
        return None, _PADDED_GREY.format(*image.shape[1:])
    try:
        index = _index_of(key) if seeded else None
        return pixelizer(image, index=index), ""
    except (TypeError, ValueError) as exc:
        return None, str(exc)


def _column(images: list[Any]) -> np.ndarray:
    """A stacked array when every image has one shape, else an object array
    (Ray stores those as variable-shaped tensors)."""
    if images and all(im is not None for im in images) and len({im.shape for im in images}) == 1:
        return np.stack(images)
    column = np.empty(len(images), dtype=object)
    for i, im in enumerate(images):  # not by slice: that would broadcast equal shapes
        column[i] = im
    return column


def _privatize_batch(
    pixelizer: Pixelizer, column: str, key: str, seeded: bool, batch: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    if column not in batch:
        raise ValueError(f"the Dataset has no column {column!r}; pass column=NAME")
    if seeded and key not in batch:
        raise ValueError(
            f"with a seed every image needs a key, and the Dataset has no column {key!r}: "
            "read with include_paths=True, or pass key=NAME of a column of distinct names"
        )
    images = batch[column]  # (N, H, W[, C]) for one size, an object array of images otherwise
    keys = batch[key] if seeded else [None] * len(images)
    results = [_privatize_one(pixelizer, images[i], keys[i], seeded) for i in range(len(images))]
    out = dict(batch)
    out[column] = _column([image for image, _ in results])
    out["error"] = np.array([error for _, error in results], dtype=object)
    return out


def _decode_privatize_batch(
    pixelizer: Pixelizer, mode: str | None, seeded: bool, batch: dict[str, np.ndarray]
) -> dict[str, Any]:
    images: list[Any] = []
    errors: list[str] = []
    for data, path in zip(batch["bytes"], batch["path"]):
        try:
            image = read_image(io.BytesIO(bytes(data)), mode)
        except ImageReadError as exc:
            images.append(None)
            errors.append(exc.reason)
            continue
        private, error = _privatize_one(pixelizer, image, path, seeded)
        images.append(private)
        errors.append(error)
    # Only the path goes on: never the file's bytes.
    return {
        "path": batch["path"],
        "image": _column(images),
        "error": np.array(errors, dtype=object),
    }


# ---------------------------------------------------------- dp-pix pixelate --ray


def pixelate_paths(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    options: pipeline.Options,
    *,
    address: str | None = None,
    stream: IO[str] | None = None,
    blocks: int | None = None,
) -> pipeline.Report:
    """``dp-pix pixelate --ray [ADDRESS]``: plan and refuse as
    ``pipeline.pixelate_paths`` does, then privatize on Ray and write the same
    files and the same record.

    Every worker must see INPUT and OUT at the same paths as this process (one
    machine, or a shared filesystem). ``address``: a running cluster (e.g.
    ``ray://head:10001`` or ``head:6379``); None: Ray's own choice (an
    initialized Ray, ``$RAY_ADDRESS``, the cluster started last on this
    machine, else a new local instance, shut down at the end). ``blocks``:
    how many Ray tasks the jobs are cut into (default: two per CPU of the
    cluster, within ``MIN_FILES_PER_TASK`` to ``MAX_FILES_PER_TASK`` files
    each); ``options.jobs``: the most tasks at once (default: as many as
    the cluster runs). Each task runs ``THREADS_PER_TASK`` threads. Region
    mode (``options.regions``) runs on one machine only, for now.
    """
    if options.regions is not None:
        raise pipeline.RefusedError("regions are not supported on Ray yet: run without --ray")
    plan = pipeline.make_plan(inputs, out, options.format, options.video.suffix)
    return pipeline.run(
        plan,
        options,
        stream=stream,
        runner=runner(address=address, blocks=blocks, concurrency=options.jobs),
    )


def runner(
    *, address: str | None = None, blocks: int | None = None, concurrency: int | None = None
) -> pipeline.Runner:
    """A ``pipeline.run`` runner that runs the per-file function on Ray Data.
    Ray is started or joined only once there is work, after every refusal."""
    return functools.partial(_run_on_ray, address, blocks, concurrency)


def _run_on_ray(
    address: str | None,
    blocks: int | None,
    concurrency: int | None,
    work: pipeline.Privatize,
    todo: Sequence[pipeline.Job],
    handle: Callable[[Any], None],
) -> None:
    if not todo:
        return
    # Workers run in other folders: paths go out absolute (joined, not
    # normalized, so that "link/.." means what it means here).
    cwd = os.getcwd()
    # A lost worker's task is retried from the start: its outputs so far are
    # whole (atomic writes) and at fixed names, so the retry keeps them. Under
    # --overwrite the old outputs go first, or a retry would replace its first
    # attempt's output with a second noisy copy.
    work = dataclasses.replace(work, out=Path(cwd, work.out), own_existing=True)
    if work.overwrite:
        for job in todo:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pipeline.destination(work.out, job))
        work = dataclasses.replace(work, overwrite=False)
    started = _connect(address)
    try:
        parts = blocks or _parts(len(todo), int(ray.cluster_resources().get("CPU", 1)))
        rows = [_row(job._replace(source=os.path.join(cwd, job.source))) for job in todo]
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(parts, len(todo))))
        extra: dict[str, Any] = {} if concurrency is None else {"concurrency": concurrency}
        fn = functools.partial(_work_batch, work)
        results = ds.map_batches(fn, batch_format="numpy", batch_size=None, **extra)
        jobs = {job.number: job for job in todo}
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            for number, channels, reason in zip(batch["number"], batch["channels"], batch["reason"]):
                handle((jobs[int(number)], int(channels) or None, str(reason) or None, None))
        # Every task is done: temporary files left are those of lost workers.
        pipeline.remove_stale_temps(work.out, todo)
    finally:
        if started:
            ray.shutdown()


def _parts(files: int, cpus: int) -> int:
    balanced = min(2 * cpus, math.ceil(files / MIN_FILES_PER_TASK))
    return max(math.ceil(files / MAX_FILES_PER_TASK), balanced, 1)


def _work_batch(work: pipeline.Privatize, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One Ray task: the single-process engine's thread pool on a part of the jobs."""
    jobs = [_job(batch, i) for i in range(len(batch["number"]))]
    results: list[pipeline.Outcome] = []
    pipeline.run_jobs(work, jobs, THREADS_PER_TASK, results.append)
    return {
        "number": np.array([r[0].number for r in results], dtype=np.int64),
        "channels": np.array([r[1] or 0 for r in results], dtype=np.int64),  # 0: failed
        "reason": np.array([r[2] or "" for r in results], dtype=object),
    }


# File names may hold bytes that are not UTF-8 (as surrogate escapes); Arrow
# strings must be UTF-8, so paths travel as bytes.
def _row(job: pipeline.Job) -> dict[str, Any]:
    return {
        "number": job.number,
        "stream": job.stream,
        "source": job.source.encode("utf-8", "surrogateescape"),
        "shown": job.shown,  # printable already
        "rel": job.rel.encode("utf-8", "surrogateescape"),
    }


def _job(batch: dict[str, np.ndarray], i: int) -> pipeline.Job:
    def get(name: str) -> Any:
        value = batch[name][i]
        return value.item() if isinstance(value, np.generic) else value

    return pipeline.Job(
        number=int(get("number")),
        source=bytes(get("source")).decode("utf-8", "surrogateescape"),
        shown=str(get("shown")),
        rel=bytes(get("rel")).decode("utf-8", "surrogateescape"),
        stream=int(get("stream")),
    )


def init_local(**init_args: Any) -> None:
    """Start a new local Ray instance that listens on 127.0.0.1 only (never on
    the host's network address): what ``dp-pix pixelate --ray`` starts when no
    cluster is given or found. ``init_args`` go to ``ray.init`` (e.g.
    ``num_cpus``)."""
    _loopback_only()
    args = {"include_dashboard": False, "logging_level": logging.WARNING, **init_args}
    ray.init(address="local", **args)


def _loopback_only() -> None:
    """Make Ray use 127.0.0.1 as this node's address, so that its servers bind
    to loopback. Ray binds to the node address; it turns a requested 127.0.0.1
    into the host's address unless clustering is off, which this switch does
    for this process (read at call time) and for the processes it starts
    (read from the environment)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _is_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _connect(address: str | None) -> bool:
    """Join or start Ray; True when this call started or joined it (then shut
    it down). No address: $RAY_ADDRESS, else a cluster started on this
    machine, else a new local instance on loopback."""
    _quiet_data()
    if ray.is_initialized():
        return False
    args: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        try:
            ray.init(address="auto", **args)
            return True
        except ConnectionError:
            address = "local"
    if address == "local":
        init_local()
        return True
    if _is_loopback(address):  # a cluster on loopback: join it on loopback too
        _loopback_only()
    ray.init(address=address, **args)
    return True


def _quiet_data() -> None:
    """No progress bars or per-dataset log lines on the driver's terminal:
    the progress bar is dp-pix's."""
    with warnings.catch_warnings():
        # Ray Data warns about its own deprecated settings when it builds its context.
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # ... not even the warning that they are off
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
