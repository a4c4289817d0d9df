"""Clips in and out with PyAV: the first pass over the packets, decoding to
8-bit arrays, encoding, and what of the source reaches the output.

Rules (the README and ``dp-pix pixelate --help`` state them too):

- **Input.** The first video stream. Frames are decoded by FFmpeg and
  converted by swscale, with the colour matrix and range the stream declares,
  to 8-bit RGB (``(H, W, 3)``), or to 8-bit grey (``(H, W)``) when the
  stream is grey; 10-bit and deeper sources become 8-bit (the output is
  8-bit), alpha is dropped. Pixels are kept as coded: the display matrix
  (rotation, mirroring) is not applied but copied to the output, so players
  show the output as they showed the input.
- **Output.** H.264 (libx264, preset ``superfast``, CRF 20 by default,
  deblocking off so that cell edges stay sharp, 4:2:0) in MP4 with the index
  at the front; or, with ``lossless``, FFV1 in Matroska (RGB as RGB, grey
  as grey: the privatized pixels, bit for bit). 4:2:0 needs even sizes:
  an odd width or height is padded by repeating the last column or row (the
  padding is a copy of privatized pixels, so it costs no privacy), and the
  record says so. Lossless outputs keep every size.
- **Kept.** Frame size (but for that padding), frame count (but for
  ``fps``), every frame's timestamp in the source's time base (variable frame
  rate stays variable; Matroska stores milliseconds), the display matrix, the
  colour tags.
- **Dropped.** Audio (unless ``keep_audio``: every audio stream is copied
  untouched, and is *not* protected), subtitles, data streams, attachments,
  chapters, and every container and stream metadata tag (GPS and location
  atoms, creation time, make and model, title, handler and encoder names).
  The muxer runs bit-exact, so it adds no tag of its own; the x264 encoder
  writes its own name and settings into the stream, nothing about the source.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import av.logging
import numpy as np

from dp_pix.pipeline import VideoOptions
from dp_pix.video.privacy import FrameRate

__all__ = [
    "CRF",
    "PRESET",
    "Probe",
    "VideoError",
    "Writer",
    "probe",
]

PRESET = "superfast"
CRF = VideoOptions.crf  # the default quality, defined with the other options
# x264's in-loop deblocking smooths the edges between 16x16 macroblocks: on a
# pixelized frame those are the cell edges it should keep.
X264_PARAMS = "no-deblock=1"
_FFV1_OPTIONS = {"level": "3", "slices": "4", "slicecrc": "1", "g": "1"}
_GREY = ("gray", "ya8", "ya16", "monob", "monow")


class VideoError(OSError):
    """A clip could not be read or written: the message says why, for the user."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# Luma weights (Kr, Kb) of FFmpeg's colour spaces (AVColorSpace); unspecified
# ones are read by swscale as BT.601, and so written back.
_LUMA = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 7: (0.212, 0.087), 9: (0.2627, 0.0593),
         10: (0.2627, 0.0593)}
_BT601 = (0.299, 0.114)
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG


def yuv_of_rgb(rgb: np.ndarray, colorspace: int, color_range: int) -> np.ndarray:
    """8-bit Y'CbCr (..., 3) of 8-bit R'G'B' (..., 3) with the matrix and
    range of the stream (ITU-R BT.601/709/2020 equations), rounded."""
    kr, kb = _LUMA.get(colorspace, _BT601)
    x = rgb.astype(np.float64)
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2 * (1 - kb))
    cr = (x[..., 0] - y) / (2 * (1 - kr))
    if color_range == _FULL_RANGE:
        out = np.stack([y, 128 + cb, 128 + cr], axis=-1)
    else:
        out = np.stack([16 + y * 219 / 255, 128 + cb * 224 / 255, 128 + cr * 224 / 255], -1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _fill(plane: Any, values: np.ndarray, step_y: int, step_x: int) -> None:
    """Write ``values`` (cells, one per (step_y x step_x) block) into a plane;
    the last cell row and column reach the plane's edges (the padding)."""
    rows, width = plane.height, plane.width
    view = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    view = view[:rows, :width]
    line = np.repeat(values, step_x, axis=1)
    if line.shape[1] < width:
        line = np.concatenate([line, line[:, -1:].repeat(width - line.shape[1], 1)], 1)
    line = line[:, :width]
    whole = values.shape[0] - 1  # cell rows before the last, each step_y rows
    view[: whole * step_y].reshape(whole, step_y, width)[:] = line[:whole, None, :]
    view[whole * step_y :] = line[whole]


def cells_frame(
    cells: np.ndarray, block: tuple[int, int], width: int, height: int, matrix: tuple[int, int]
) -> Any:
    """The 4:2:0 frame of a privatized frame given by its cells (the core's
    ``grid`` output, (gh, gw) grey or (gh, gw, 3) RGB) with even ``block``
    sides: each 2x2 chroma sample lies inside one cell, so filling the planes
    cell by cell is the full-size frame converted, without the full-size RGB
    frame in between. ``matrix``: (colorspace, color_range) as FFmpeg numbers
    them; a ``width`` or ``height`` beyond the cells repeats the last ones."""
    bh, bw = block
    if cells.ndim == 2:
        y = np.rint(16 + cells * (219 / 255)).astype(np.uint8)
        cb = cr = np.full_like(y, 128)
    else:
        ycc = yuv_of_rgb(cells, *matrix)
        y, cb, cr = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    frame = av.VideoFrame(width, height, "yuv420p")
    _fill(frame.planes[0], y, bh, bw)
    _fill(frame.planes[1], cb, bh // 2, bw // 2)
    _fill(frame.planes[2], cr, bh // 2, bw // 2)
    return frame


def describe_encoding(options: VideoOptions) -> str:
    if options.lossless:
        return "FFV1 (lossless) in Matroska"
    return f"H.264 (libx264, preset {PRESET}, CRF {options.crf}, 4:2:0, no deblocking) in MP4"


@dataclass(frozen=True)
class Probe:
    """What the first pass over a clip's packets found (no frame decoded)."""

    format: str
    width: int
    height: int
    pix_fmt: str
    grey: bool
    time_base: Fraction
    rate: Fraction | None  # the stream's average frame rate, if it states one
    times: list[Fraction]  # presentation times (s) of the frames to release, sorted
    packets: int  # video packets in the file
    audio: int  # audio streams
    dropped: dict[str, int]  # other streams, by kind

    @property
    def channels(self) -> int:
        return 1 if self.grey else 3


# The first bytes of containers (MP4/MOV "ftyp" at offset 4, Matroska/WebM,
# AVI, FLV, Ogg, MPEG-PS, ASF): such a file that FFmpeg cannot open is damaged.
_MAGIC = (
    (4, b"ftyp"), (0, b"\x1aE\xdf\xa3"), (0, b"RIFF"), (0, b"FLV"), (0, b"OggS"),
    (0, b"\x00\x00\x01\xba"), (0, b"0&\xb2u"),
)


def _open(path: str) -> Any:
    try:
        return av.open(path, metadata_errors="ignore")
    except av.FFmpegError as exc:
        with open(path, "rb") as fp:
            head = fp.read(16)
        if not head:
            raise VideoError(path, "empty file (0 bytes)") from None
        if any(head[at : at + len(magic)] == magic for at, magic in _MAGIC):
            raise VideoError(path, f"damaged or truncated ({_message(exc)})") from None
        raise VideoError(
            path, f"not a video, or in a format FFmpeg cannot read ({_message(exc)})"
        ) from None


def _message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.rstrip(".")


@contextlib.contextmanager
def _demuxer_errors(path: str) -> Iterator[None]:
    """Turn errors that FFmpeg only logs (a Matroska file that ends early reads
    as a shorter clip) into a VideoError."""
    level = av.logging.get_level()
    if level is None or level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            yield
    finally:
        if level is None or level < av.logging.ERROR:
            av.logging.set_level(level)
    errors = [msg.strip() for lvl, _, msg in logs if lvl <= av.logging.ERROR]
    if errors:
        raise VideoError(path, f"damaged or truncated ({errors[0]})")


def _is_grey(pix_fmt: str | None) -> bool:
    return bool(pix_fmt) and str(pix_fmt).startswith(_GREY)


def probe(path: str, fps: Fraction | None = None) -> Probe:
    """Read every video packet's timestamp; decode nothing. ``fps`` thins the
    frames as the second pass will (:class:`~dp_pix.video.privacy.FrameRate`)."""
    container = _open(path)
    try:
        fmt = container.format.name
        if fmt == "image2" or fmt.endswith("_pipe"):
            kind = fmt.removesuffix("_pipe").upper()
            raise VideoError(path, f"a still image ({kind}), not a video: privatize it as an image")
        if not container.streams:
            raise VideoError(path, "no streams: damaged, or truncated (e.g. an MP4 cut short)")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            raise VideoError(path, f"no video stream (only {', '.join(kinds)})")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoError(path, "the video stream has no frame size")
        tb = stream.time_base
        if tb is None:
            raise VideoError(path, "the video stream has no time base")
        stamps: list[int] = []
        with _demuxer_errors(path):
            try:
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    t = packet.pts if packet.pts is not None else packet.dts
                    if t is None:
                        raise VideoError(path, "video packets without timestamps")
                    stamps.append(t)
            except av.FFmpegError as exc:
                raise VideoError(path, f"damaged or truncated ({_message(exc)})") from None
        if not stamps:
            raise VideoError(path, "the video stream has no frames")
        times = FrameRate(fps).select([Fraction(s) * tb for s in sorted(stamps)])
        dropped: dict[str, int] = {}
        for s in container.streams:
            if s.type not in ("video", "audio") or (s.type == "video" and s is not stream):
                dropped[s.type] = dropped.get(s.type, 0) + 1
        rate = stream.average_rate or stream.guessed_rate
        return Probe(
            format=fmt,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=str(ctx.pix_fmt),
            grey=_is_grey(ctx.pix_fmt),
            time_base=Fraction(tb),
            rate=Fraction(rate) if rate else None,
            times=times,
            packets=len(stamps),
            audio=len(container.streams.audio),
            dropped=dropped,
        )
    finally:
        container.close()


# ---------------------------------------------------------------------- decode


def open_input(path: str) -> tuple[Any, Any]:
    """The container and its first video stream, set to decode on all cores."""
    container = _open(path)
    if not container.streams.video:
        container.close()
        raise VideoError(path, "no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def frame_time(frame: Any, time_base: Fraction) -> tuple[int, Fraction] | None:
    """A decoded frame's timestamp (in the stream's time base) and time in seconds."""
    pts = frame.pts if frame.pts is not None else frame.dts
    if pts is None:
        return None
    return pts, Fraction(pts) * time_base


def to_array(frame: Any, grey: bool) -> np.ndarray:
    """A decoded frame as 8-bit RGB (H, W, 3) or grey (H, W), by swscale with
    the colour matrix and range the frame declares."""
    out: np.ndarray = frame.to_ndarray(format="gray" if grey else "rgb24", threads=0)
    return out


def display_matrix(frame: Any) -> list[int] | None:
    """The frame's display matrix (9 int32, FFmpeg's layout), if any."""
    for side in frame.side_data:
        if getattr(side.type, "name", "") == "DISPLAYMATRIX":
            values = np.frombuffer(bytes(side), dtype=np.int32)
            if values.size == 9:
                return [int(v) for v in values]
    return None


# ---------------------------------------------------------------------- encode


class Writer:
    """Encodes privatized frames into ``path`` (a temporary file that the
    caller moves into place) and copies audio packets when asked.

    ``open`` is called once, with the first frame's colour tags and display
    matrix, before anything is muxed: every output stream must exist before
    the container's header is written.
    """

    def __init__(self, path: str, encoding: VideoOptions, source: str) -> None:
        self.path = path
        self.encoding = encoding
        self.source = source
        options = {"fflags": "+bitexact"}
        if not encoding.lossless:
            options["movflags"] = "+faststart"
        fmt = "matroska" if encoding.lossless else "mp4"
        self.container = av.open(path, "w", format=fmt, options=options)
        self.stream: Any = None
        self.audio: dict[int, Any] = {}
        self.pad = (0, 0)  # rows, columns added
        self.frames = 0
        self._colour: dict[str, Any] = {}
        self._matrix = (0, 0)

    def open(
        self,
        *,
        height: int,
        width: int,
        grey: bool,
        time_base: Fraction,
        rate: Fraction | None,
        first: Any,
        audio: Sequence[Any],
    ) -> None:
        enc = self.encoding
        if enc.lossless:
            stream = self.container.add_stream("ffv1", options=dict(_FFV1_OPTIONS))
            stream.pix_fmt = "gray" if grey else "bgr0"  # FFV1's 8-bit RGB
        else:
            options = {"crf": str(enc.crf), "preset": PRESET, "x264-params": X264_PARAMS}
            stream = self.container.add_stream("libx264", options=options)
            stream.pix_fmt = "yuv420p"
            self.pad = (height % 2, width % 2)
        stream.width = width + self.pad[1]
        stream.height = height + self.pad[0]
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if rate:
            stream.codec_context.framerate = rate
        stream.thread_type = "AUTO"
        # A colour source keeps its colour tags, and frames are converted back
        # to Y'CbCr with the matrix and range they were decoded with; grey is
        # written as limited-range luma with neutral chroma.
        if not grey:
            for name in ("colorspace", "color_range", "color_primaries", "color_trc"):
                value = getattr(first, name, 0)
                if value:
                    setattr(stream.codec_context, name, value)
            if not enc.lossless:
                self._colour = {
                    "dst_colorspace": first.colorspace or None,
                    "dst_color_range": first.color_range or None,
                }
                self._matrix = (int(first.colorspace or 0), int(first.color_range or 0))
        matrix = display_matrix(first)
        if matrix is not None and matrix != [65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]:
            if not hasattr(stream, "set_display_matrix"):
                raise VideoError(
                    self.source,
                    "the clip is rotated or mirrored, and this PyAV cannot write a display "
                    "matrix: pip install -U av",
                )
            stream.set_display_matrix(matrix)
        self.stream = stream
        if enc.keep_audio:
            for a in audio:
                out = self.container.add_stream_from_template(a)
                out.metadata.clear()
                self.audio[a.index] = out

    def write_cells(self, cells: np.ndarray, block: tuple[int, int], pts: int) -> None:
        """Encode one privatized frame given by its cells (see :func:`cells_frame`)."""
        frame = cells_frame(cells, block, self.stream.width, self.stream.height, self._matrix)
        frame.pts = pts
        self._mux(self._encode(frame))
        self.frames += 1

    def write(self, array: np.ndarray, pts: int) -> None:
        """Encode one privatized frame (uint8 (H, W) or (H, W, 3)) at ``pts``."""
        if self.pad != (0, 0):
            widths = ((0, self.pad[0]), (0, self.pad[1])) + ((0, 0),) * (array.ndim - 2)
            array = np.pad(array, widths, mode="edge")
        fmt = "gray" if array.ndim == 2 else "rgb24"
        frame = av.VideoFrame.from_ndarray(array, format=fmt)
        frame = frame.reformat(format=self.stream.pix_fmt, threads=0, **self._colour)
        frame.pts = pts
        self._mux(self._encode(frame))
        self.frames += 1

    def _encode(self, frame: Any) -> Sequence[Any]:
        try:
            packets: Sequence[Any] = self.stream.encode(frame)
        except av.FFmpegError as exc:
            raise VideoError(self.source, f"cannot encode ({_message(exc)})") from None
        return packets

    def copy(self, packet: Any) -> None:
        """Mux an audio packet of the source, untouched."""
        out = self.audio.get(packet.stream.index)
        if out is None or packet.dts is None:
            return
        packet.stream = out
        self._mux([packet])

    def _mux(self, packets: Sequence[Any]) -> None:
        try:
            for packet in packets:
                self.container.mux(packet)
        except av.FFmpegError as exc:
            raise VideoError(self.source, self._mux_failure(exc)) from None

    def _mux_failure(self, exc: BaseException) -> str:
        if self.audio:
            names = ", ".join(sorted({s.codec_context.name for s in self.audio.values()}))
            if not self.encoding.lossless:
                return (
                    f"cannot write the audio ({names}) into MP4 ({_message(exc)}): add "
                    "--lossless (Matroska takes any audio), or leave out --keep-audio"
                )
        return f"cannot write the output ({_message(exc)})"

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self.stream is not None:
            self._mux(self._encode(None))
        self.container.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
