"""Privatize a clip: a file to a file, or an iterator of frames.

A file takes two passes. The first reads the timestamps of the video packets
(no decoding) and fixes ``w``, the frames that a window holds, and with it
the per-frame budget; the second decodes, privatizes and encodes. Decoding
runs on a thread of its own, a few batches ahead; the frames of a batch go
through the Rust core in one call. Memory stays bounded whatever the clip's
length: a batch holds up to 32 MiB of decoded frames (1 to 16 frames), at
most ``2 + 1`` batches are alive, one of privatized frames, and what the
decoder and the encoder hold.

In region mode (``regions=`` or ``detector=``, :mod:`dp_pix.video.regions`)
each frame is released as region mode releases an image, one frame at a
time, with the full-size frame written (the 4:2:0 cell path needs whole-frame
cells); a detector's look-ahead holds up to ``CARRY_FRAMES`` more decoded
frames.
"""

from __future__ import annotations

import math
import numbers
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from dp_pix import detect
from dp_pix.api import Pixelizer, as_image, out_shape
from dp_pix.io import atomic_path
from dp_pix.params import Params, check_int
from dp_pix.pipeline import Failure, Job, Options, VideoOptions, destination
from dp_pix.progress import Progress
from dp_pix.video import codec
from dp_pix.video.codec import CRF, VideoError
from dp_pix.video.privacy import (
    ALL,
    FrameRate,
    WindowCheck,
    describe_video,
    frame_index,
    frame_params,
    window_frames,
)
from dp_pix.video.regions import FrameRegions, PerFrame

if TYPE_CHECKING:
    from dp_pix.pipeline import Report

__all__ = [
    "BATCH",
    "Window",
    "parse_fps",
    "parse_window",
    "privatize_file",
    "privatize_frames",
    "run",
]

BATCH = 8  # frames per call to the core (privatize_frames)
_BATCH_BYTES = 32 << 20  # decoded frames per batch in a file: 32 MiB, 1 to 16 frames
_AHEAD = 2  # decoded batches waiting for the core

Window = float | Fraction | Literal["all"] | None


def parse_window(window: Any) -> Fraction | None:
    """``'all'`` (or None): None, the whole clip; else the window in seconds as
    an exact fraction (a float is taken at its exact binary value)."""
    if window is None or window == ALL:
        return None
    if isinstance(window, bool) or not isinstance(window, numbers.Real):
        raise TypeError(f"window must be 'all' or a number of seconds, got {window!r}")
    if not (math.isfinite(float(window)) and float(window) > 0):
        raise ValueError(f"window must be 'all' or a number of seconds > 0, got {window!r}")
    return _exact(window)


def _exact(value: numbers.Real) -> Fraction:
    """``value`` as an exact fraction (a float at its exact binary value)."""
    return Fraction(value) if isinstance(value, numbers.Rational) else Fraction(float(value))


def parse_fps(fps: Any) -> Fraction | None:
    """None (every frame) or the highest frame rate to release, exactly."""
    if fps is None:
        return None
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real):
        raise TypeError(f"fps must be None or a number of frames per second, got {fps!r}")
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise ValueError(f"fps must be a number of frames per second > 0, got {fps!r}")
    return _exact(fps)


def _runs(first: int, count: int, key: int) -> Iterator[tuple[int, int, int]]:
    """(start, stop, index) of the runs of frames ``first .. first+count-1``
    whose stream numbers are consecutive: one core call each."""
    start = 0
    while start < count:
        index = frame_index(key, first + start)
        stop = start + 1
        while stop < count and frame_index(key, first + stop) == index + stop - start:
            stop += 1
        yield start, stop, index
        start = stop


def _privatize(pixelizer: Pixelizer, frames: np.ndarray, first: int, key: int) -> np.ndarray:
    """Frames ``first ..`` of a clip, under the streams of :func:`frame_index`."""
    if not pixelizer.seeded:
        return pixelizer.batch(frames)
    parts = [pixelizer.batch(frames[a:b], index=i) for a, b, i in _runs(first, len(frames), key)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# ---------------------------------------------------------------------- frames


def privatize_frames(
    frames: Iterable[np.ndarray],
    params: Params,
    *,
    w: int | Literal["all"],
    seed: int | None = None,
    index: int = 0,
    batch: int = BATCH,
    regions: PerFrame | None = None,
    detector: detect.Detector | None = None,
    pad: float = 0.0,
) -> Iterator[np.ndarray]:
    """Privatize frames from your own decoder, in order: uint8 (H, W) or
    (H, W, C) arrays in, the same out, one for one.

    ``params`` is the budget of a window of ``w`` consecutive frames
    (w-event privacy; :func:`~dp_pix.video.frame_params` gives each frame
    its share); ``w='all'`` makes the whole clip one window and needs a
    sequence (``len(frames)``). Under ``seed`` frame ``k`` draws the streams
    of ``frame_index(index, k)``: give every clip its own ``index``. Frames
    of one size go through the core ``batch`` at a time (held, not copied,
    until then: do not reuse their buffers).

    Region mode (:mod:`dp_pix.video.regions`): ``regions`` maps frame numbers
    (0, 1, ... in the order given) to boxes, or is a callable ``k -> boxes``
    (or a boolean mask); ``detector`` finds boxes in every frame, each carried
    ``detect.CARRY_FRAMES`` frames forward and back (those frames are held
    back until the look-ahead arrives). Boxes are grown by ``pad``. Only the
    regions of each frame are privatized, at the per-frame budget; a frame
    without regions comes back unchanged (a copy). ``m="region"`` is each
    frame's largest region. A mapping that names frames beyond the last one
    raises ``ValueError`` once the frames run out.
    """
    if w == ALL:
        if not hasattr(frames, "__len__"):
            raise TypeError("w='all' needs a sequence of frames (its length is w); or pass w")
        total = len(frames)  # type: ignore[arg-type]
        w_frames = max(1, total)
    else:
        w_frames = check_int(w, "w", 1, 2**40, "w is a number of frames, or 'all'")
        total = None
    batch = check_int(batch, "batch", 1, 1024, "frames per call, e.g. 8")
    index = check_int(index, "index", 0, 2**63 - 1, "the clip's number, 0, 1, ...")
    tracker = _tracker(params, regions, detector, pad)
    pixelizer = Pixelizer(frame_params(params, w_frames), seed=seed)
    pending: list[np.ndarray] = []
    done = 0

    def flush() -> Iterator[np.ndarray]:
        nonlocal done
        out = _privatize(pixelizer, np.stack(pending), done, index)
        done += len(pending)
        pending.clear()
        yield from out

    def release(ready: list[Any]) -> Iterator[np.ndarray]:
        for number, frame, _, layout in ready:
            yield pixelizer(frame, index=frame_index(index, number), regions=layout)

    count = 0
    for k, frame in enumerate(frames):
        if total is not None and k >= total:
            raise ValueError(f"more frames than len(frames) = {total}, the window w='all'")
        as_image(frame, f"frames[{k}]")
        count = k + 1
        if tracker is not None:
            yield from release(tracker.push(k, frame, None))
            continue
        if pending and frame.shape != pending[0].shape:
            yield from flush()
        pending.append(frame)
        if len(pending) == batch:
            yield from flush()
    if tracker is not None:
        yield from release(tracker.finish())
        _check_numbers(tracker, count, "the frames given")
    elif pending:
        yield from flush()


def _tracker(
    params: Params, regions: PerFrame | None, detector: detect.Detector | None, pad: float
) -> FrameRegions[Any] | None:
    """Region mode's frame regions, or None (whole frames); refuses what cannot work."""
    if regions is None and detector is None:
        if pad:
            raise ValueError("pad applies to region mode: pass regions= or detector=")
        if params.m == "region":
            raise ValueError(
                "m='region' is the pixel count of each frame's largest region: pass regions= "
                "(boxes per frame) or detector=, or give m as a pixel count"
            )
        return None
    if params.output != "full":
        raise ValueError(
            "regions need output='full': the pixels outside the regions are returned as "
            "they are, so each frame keeps its size"
        )
    return FrameRegions(regions, detector, pad, params)


def _check_numbers(tracker: FrameRegions[Any], frames: int, what: str) -> None:
    unknown = tracker.unknown(frames)
    if unknown:
        shown = ", ".join(map(str, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
        raise ValueError(
            f"regions are given for frame(s) {shown}, but {what} hold only {frames} frame(s) "
            "(numbered from 0): are they the regions of another clip?"
        )


# ------------------------------------------------------------------------ file


class _Decoder(threading.Thread):
    """Decodes a clip into batches of 8-bit frames on its own thread; audio
    packets to copy go through the same queue, in file order. A batch comes
    with each frame's timestamp and number (its place among all decoded
    frames, those that ``fps`` drops included); ``decoded`` is their count
    once the end is reached."""

    def __init__(
        self, path: str, probe: codec.Probe, fps: Fraction | None, keep_audio: bool, batch: int
    ) -> None:
        super().__init__(name="dp-pix-decode", daemon=True)
        self.path, self.probe, self.fps = path, probe, fps
        self.keep_audio, self.batch = keep_audio, batch
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.slots = threading.Semaphore(_AHEAD)
        self.stop = threading.Event()
        self.audio: list[Any] = []
        self.decoded = 0
        # Closed by the consumer once it is done: audio packets still in the
        # queue belong to its streams.
        self.container: Any = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self.items.put(("error", exc))
        else:
            self.items.put(("end", None))

    def _put_frames(self, item: tuple[str, Any]) -> bool:
        while not self.stop.is_set():
            if self.slots.acquire(timeout=0.1):
                self.items.put(item)
                return True
        return False

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def _run(self) -> None:
        container, stream = codec.open_input(self.path)
        self.container = container
        try:
            self.audio = list(container.streams.audio) if self.keep_audio else []
            tb, grey = self.probe.time_base, self.probe.grey
            thin = FrameRate(self.fps)
            shape = (self.probe.height, self.probe.width)
            dims = (self.batch, *shape) if grey else (self.batch, *shape, 3)
            frames = np.empty(dims, np.uint8)
            count = 0
            stamps: list[tuple[int, Fraction]] = []
            numbers: list[int] = []
            first: Any = None
            for packet in container.demux(stream, *self.audio):
                if self.stop.is_set():
                    return
                if packet.stream.type == "audio":
                    self.items.put(("audio", packet))
                    continue
                for frame in packet.decode():
                    stamp = codec.frame_time(frame, tb)
                    if stamp is None:
                        raise VideoError(self.path, "a decoded frame has no timestamp")
                    number = self.decoded
                    self.decoded += 1
                    if not thin.keep(stamp[1]):
                        continue
                    if (frame.height, frame.width) != shape:
                        raise VideoError(
                            self.path,
                            f"the frame size changes within the clip ({shape[1]}x{shape[0]} "
                            f"to {frame.width}x{frame.height})",
                        )
                    if first is None:
                        first = frame
                    frames[count] = codec.to_array(frame, grey)
                    stamps.append(stamp)
                    numbers.append(number)
                    count += 1
                    if count == self.batch:
                        if not self._put_frames(("frames", (frames, stamps, numbers, first))):
                            return
                        frames, stamps, numbers, count = np.empty_like(frames), [], [], 0
            if count:
                self._put_frames(("frames", (frames[:count], stamps, numbers, first)))
        except VideoError:
            raise
        except Exception as exc:  # FFmpeg's errors on bad data, of many types
            raise VideoError(self.path, f"cannot decode ({codec._message(exc)})") from exc


def privatize_file(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    params: Params,
    *,
    window: Window = ALL,
    fps: float | Fraction | None = None,
    lossless: bool = False,
    keep_audio: bool = False,
    crf: int = CRF,
    seed: int | None = None,
    index: int | None = None,
    overwrite: bool = False,
    regions: PerFrame | None = None,
    detector: detect.Detector | None = None,
    pad: float = 0.0,
    progress: Callable[[int], None] | None = None,
    started: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Privatize the clip ``source`` into ``dest`` (written atomically) and
    return what the record says of it.

    ``params`` is the budget of one window (``-e``, ``--delta`` or ``--rho``
    of ``dp-pix pixelate``); ``window`` the window in seconds, or ``'all'``
    (the whole clip is one event); ``fps`` releases at most that many frames
    per second. ``lossless`` writes FFV1 in Matroska, else H.264 in MP4 at
    ``crf``. ``keep_audio`` copies the audio streams untouched: they are not
    protected. ``seed`` (a secret key, never for releases) with ``index``, the
    clip's number (default: the hash of ``dest``'s file name, as ``dp-pix
    pixelate`` numbers a file named on its command line). ``started(frames)``
    is called once the frames to release are counted, ``progress(n)`` after
    every ``n`` frames written.

    Region mode (:mod:`dp_pix.video.regions`): ``regions`` maps frame numbers
    (every decoded frame from 0, those that ``fps`` drops included) to boxes,
    or is a callable ``number -> boxes`` (or a boolean mask); a frame that a
    mapping does not list has no region and is written unchanged.
    ``detector`` runs on every released frame and its boxes are carried
    ``detect.CARRY_FRAMES`` released frames forward and back. Boxes are grown
    by ``pad``. Only the regions are privatized, each frame at the per-frame
    budget, ``m="region"`` being each frame's largest region; the record
    gets a ``regions`` entry. The pixels outside the regions are those
    decoded, but H.264 re-encodes them (4:2:0, lossy): ``lossless`` keeps
    them bit for bit.

    Raises ``VideoError`` (an ``OSError``) when the clip cannot be read or
    written, ``ValueError`` when the budget cannot be spread over the window
    (or the regions do not fit the clip), ``FileExistsError`` when ``dest``
    exists and ``overwrite`` is false.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be a dp_pix.Params, got {type(params).__name__}")
    seconds, rate_cap = parse_window(window), parse_fps(fps)
    encoding = VideoOptions(lossless=bool(lossless), keep_audio=bool(keep_audio), crf=crf)
    src, out = os.fspath(source), os.fspath(dest)
    if index is None:
        from dp_pix.pipeline import noise_index

        index = noise_index(os.path.basename(out))
    key = check_int(index, "index", 0, 2**63 - 1, "the clip's number")
    tracker = _tracker(params, regions, detector, pad)

    info = codec.probe(src, rate_cap)
    frames = len(info.times)
    w = window_frames(info.times, seconds)
    per_frame = frame_params(params, w)
    p = per_frame
    if tracker is None:
        oh, ow = out_shape(info.height, info.width, p.block, p.edges, p.output)
    else:  # region mode keeps the frame's size, whatever the edges
        tracker.check((info.height, info.width))
        oh, ow = info.height, info.width
    # 4:2:0 output of a full-size frame with even cell sides: the core returns
    # one value per cell (the same noise, the same values) and the encoder's
    # planes are filled cell by cell. Not in region mode: most of a frame is
    # not cells.
    cells = (
        tracker is None and not encoding.lossless and p.output == "full"
        and p.block[0] % 2 == p.block[1] % 2 == 0
    )  # fmt: skip
    pixelizer = Pixelizer(p.replace(output="grid") if cells else p, seed=seed)
    check = WindowCheck(w if seconds is not None else frames, seconds)
    if started is not None:
        started(frames)

    batch = min(16, max(1, _BATCH_BYTES // (info.height * info.width * info.channels)))
    decoder = _Decoder(src, info, rate_cap, encoding.keep_audio, batch)
    with atomic_path(out, overwrite=overwrite) as tmp:
        writer = codec.Writer(os.fspath(tmp), encoding, src)
        waiting: list[Any] = []  # audio read before the output could be opened
        done = 0  # frames written

        def write_regions(ready: list[Any]) -> None:
            nonlocal done
            for _, frame, pts, layout in ready:
                writer.write(pixelizer(frame, index=frame_index(key, done), regions=layout), pts)
                done += 1
            if progress is not None and ready:
                progress(len(ready))

        decoder.start()
        try:
            while True:
                kind, item = decoder.items.get()
                if kind == "error":
                    raise item
                if kind == "end":
                    break
                if kind == "audio":
                    if writer.stream is None:
                        waiting.append(item)
                    else:
                        writer.copy(item)
                    continue
                batch, stamps, numbers, first = item
                decoder.slots.release()
                for _, t in stamps:
                    check.add(t)
                if writer.stream is None:
                    writer.open(
                        height=oh, width=ow, grey=info.grey, time_base=info.time_base,
                        rate=rate_cap or info.rate, first=first, audio=decoder.audio,
                    )
                    for packet in waiting:
                        writer.copy(packet)
                    waiting.clear()
                if tracker is not None:
                    for k, (pts, _) in enumerate(stamps):
                        write_regions(tracker.push(numbers[k], batch[k], pts))
                    continue
                private = _privatize(pixelizer, batch, done, key)
                del batch
                for k, (pts, _) in enumerate(stamps):
                    if cells:
                        writer.write_cells(private[k], p.block, pts)
                    else:
                        writer.write(private[k], pts)
                done += len(stamps)
                if progress is not None:
                    progress(len(stamps))
            if writer.stream is None:
                raise VideoError(src, "no frame could be decoded")
            if tracker is not None:
                write_regions(tracker.finish())
                _check_numbers(tracker, decoder.decoded, "the clip's decoded frames")
            writer.close()
        except BaseException:
            decoder.stop.set()
            writer.abort()
            raise
        finally:
            decoder.stop.set()
            decoder.join()
            decoder.close()

    record = describe_video(
        params, info.channels, w=w, frames=done, fps=_rate(rate_cap, info.rate), window=seconds,
        regions=tracker is not None,
    )
    record.update(
        size=[info.height, info.width],
        output_size=[oh + writer.pad[0], ow + writer.pad[1]],
        padded=(
            f"{writer.pad[0]} row(s), {writer.pad[1]} column(s) repeated at the bottom and right "
            "edges (4:2:0 needs even sizes)" if writer.pad != (0, 0) else None
        ),
        source_format=info.format,
        source_pixel_format=info.pix_fmt,
        encoding=codec.describe_encoding(encoding),
        audio=_audio_note(info.audio, encoding.keep_audio),
        dropped={k: v for k, v in sorted(info.dropped.items())},
    )
    if tracker is not None:
        record["regions"] = {**tracker.summary(), "outside": _outside_note(encoding)}
    if done != frames:
        record["frames_counted"] = frames  # w was set for this many: more noise, not less
    return record


def _outside_note(encoding: VideoOptions) -> str:
    if encoding.lossless:
        return "pixels outside the regions are written as decoded, bit for bit (FFV1)"
    return (
        "pixels outside the regions are those decoded, re-encoded by H.264 (4:2:0, lossy): "
        "close to the source, not identical; --lossless keeps them bit for bit"
    )


def _rate(cap: Fraction | None, rate: Fraction | None) -> float | None:
    if cap is not None and (rate is None or cap < rate):
        return float(cap)
    return float(rate) if rate else None


def _audio_note(streams: int, keep: bool) -> str:
    if not streams:
        return "none in the source"
    if keep:
        return (
            f"{streams} audio stream(s) copied untouched: NOT protected (voices, names and "
            "sounds in it are released as they are)"
        )
    return f"{streams} audio stream(s) dropped"


# -------------------------------------------------------------- dp-pix pixelate


def run(
    videos: Sequence[Job], options: Options, out: Path, report: Report, stream: IO[str] | None
) -> None:
    """The clips of a ``dp-pix pixelate`` run, one after another, each with a
    progress bar of its frames; a clip that fails is reported as an image is.
    In region mode each clip's regions come from ``options.regions``: its
    boxes by frame number in the regions file, a detector, or both."""
    video = options.video
    finder = options.regions
    for i, job in enumerate(videos):
        dest = destination(out, job)
        bar = Progress(0, stream=stream, enabled=False)

        def started(total: int, i: int = i) -> None:
            nonlocal bar
            bar = Progress(
                total, label=f"dp-pix video {i + 1}/{len(videos)}", unit="frame",
                stream=stream, enabled=None if stream is not None else False,
            )

        t0 = time.perf_counter()
        reason = None
        try:
            found: dict[str, Any] = {}
            if finder is not None:
                found = {"regions": finder.frames(job.name), "detector": finder.detector,
                         "pad": finder.pad}  # fmt: skip
            entry = privatize_file(
                job.source, dest, options.params,
                window=ALL if video.window is None else video.window, fps=video.fps,
                lossless=video.lossless, keep_audio=video.keep_audio, crf=video.crf,
                seed=options.seed, index=job.stream, overwrite=options.existing == "overwrite",
                **found,
                # the bar that started() put in place for this clip (late binding)
                progress=lambda n: bar.advance(n),  # noqa: B023
                started=started,
            )
        except FileExistsError:
            reason = f"{dest} appeared during the run and was kept; pass --overwrite to replace it"
        except VideoError as exc:
            reason = exc.reason
        except (ValueError, OSError) as exc:
            reason = str(exc)
        finally:
            bar.close()
        if reason is None:
            report.written += 1
            seconds = time.perf_counter() - t0
            entry = {"path": job.shown, "output": job.rel, **entry, "seconds": seconds}
            report.videos.append(entry)
        else:
            report.failures.append(Failure(job.shown, reason))
            bar.note(f"dp-pix: {job.shown}: {reason}")
