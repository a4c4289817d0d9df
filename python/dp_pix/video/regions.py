"""Region mode for video: the regions of every frame, and what the record says of them.

A clip in region mode is privatized frame by frame as region mode privatizes
an image (:mod:`dp_pix.regions`): only the regions of each frame are
released with DP-Pix, every other pixel is left as decoded. Where each
frame's regions come from (:class:`FrameRegions`):

- ``regions``: a mapping of frame numbers to boxes (a frame that the mapping
  does not list has no region: it is returned unchanged), or a callable
  ``frame_number -> regions`` (boxes, a boolean mask or a
  :class:`~dp_pix.regions.Layout`; ``None`` or ``[]`` for none);
- ``detector``: a :class:`~dp_pix.detect.Detector` run on every released
  frame. A detected box also covers the :data:`~dp_pix.detect.CARRY_FRAMES`
  released frames before and after the frame it was found in
  (:func:`dp_pix.detect.carry`), so a face missed for a few frames between
  detections is still covered;
- both: the union, frame by frame.

Boxes are grown by ``pad`` (not masks or layouts), clipped and merged as for
an image. Frame numbers count the clip's frames from 0 in presentation order:
in a file, every decoded frame, also those that ``fps`` drops (they are
never released); for :func:`~dp_pix.video.privatize_frames`, the frames
given. A mapping that names a frame the clip does not have is an error.

Carrying needs the detections of the next ``CARRY_FRAMES`` frames before a
frame can be released: :class:`FrameRegions` holds that many decoded frames
(views, no copy) in a ring buffer and hands them on in order, each with its
number, what the caller attached (its timestamp) and its layout. Memory stays
bounded whatever the clip's length.
"""

from __future__ import annotations

import json
import numbers
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from dp_pix import detect
from dp_pix import regions as _regions
from dp_pix.params import Params
from dp_pix.record import RUNS_LISTED
from dp_pix.regions import Box, Layout, Regions

__all__ = ["FrameRegions", "PerFrame", "Ready"]

#: ``regions=`` of a clip: frame number -> regions, as a mapping or a callable.
PerFrame = Mapping[int, Any] | Callable[[int], Any]
T = TypeVar("T")
#: A frame handed on: (frame number, the frame, what the caller attached, its layout).
Ready = tuple[int, npt.NDArray[np.uint8], T, Layout]


class FrameRegions(Generic[T]):
    """The regions of each frame of one clip, from ``regions`` (a mapping or a
    callable of the frame number), a ``detector``, or both (see the module).

    Feed the frames in order with :meth:`push` (``number``: the frame's
    number; ``tag``: anything to keep with it, e.g. its timestamp) and
    :meth:`finish` once they run out; each returns the frames that are ready,
    in order, with their layouts. :meth:`summary` is the record's entry."""

    def __init__(
        self,
        regions: PerFrame | None = None,
        detector: detect.Detector | None = None,
        pad: float = 0.0,
        params: Params | None = None,
    ) -> None:
        if regions is None and detector is None:
            raise ValueError("region mode for a clip needs regions (per frame), a detector, or both")
        self.mapping: dict[int, Any] | None = None
        self.callable: Callable[[int], Any] | None = None
        if isinstance(regions, Mapping):
            self.mapping = {_frame_number(k): v for k, v in regions.items()}
        elif callable(regions):
            self.callable = regions
        elif regions is not None:
            raise TypeError(
                "regions of a clip must be a mapping of frame numbers to boxes, or a callable "
                f"frame_number -> boxes (or mask); got {type(regions).__name__}"
            )
        if detector is not None and not callable(detector):
            raise TypeError(f"detector must be a callable image -> boxes, got {detector!r}")
        _regions.grow([], pad, (1, 1))  # checks pad
        self.detector = detector
        self.pad = pad
        self.params = params
        self.carry = detect.CARRY_FRAMES if detector is not None else 0
        self._waiting: deque[tuple[int, npt.NDArray[np.uint8], T]] = deque()
        self._found: deque[list[Box]] = deque(maxlen=2 * self.carry + 1)
        self._pushed = 0  # frames pushed: the position of the next one
        self._released = 0  # frames handed on
        # the record
        self._with_regions = 0
        self._boxes = 0
        self._largest = 0
        self._detected = 0  # frames in which the detector found something
        self._runs: list[dict[str, Any]] = []
        self._runs_total = 0
        self._last_run: tuple[str, int] | None = None  # (the regions' key, last frame number)

    @property
    def lookahead(self) -> int:
        """Frames held back before a frame is handed on: the carry of a detector."""
        return self.carry

    def check(self, shape: tuple[int, int]) -> None:
        """Check the boxes of a mapping against frames of ``shape`` (height,
        width) before any frame is decoded."""
        for number, given in sorted((self.mapping or {}).items()):
            if given is not None and not isinstance(given, Layout):
                _regions.layout(given, shape, pad=self.pad, name=self._name(number))

    def push(self, number: int, frame: npt.NDArray[np.uint8], tag: T) -> list[Ready[T]]:
        """Add the next frame; return the frames now ready (with a detector,
        each waits for the next :attr:`lookahead` frames)."""
        if self.detector is not None:
            shape = (frame.shape[0], frame.shape[1])
            found = list(self.detector(frame))
            boxes = _regions.boxes_of(found, shape, f"the boxes detected in frame {number}")
            self._found.append(boxes)
            self._detected += bool(boxes)
        self._waiting.append((number, frame, tag))
        self._pushed += 1
        ready = []
        while len(self._waiting) > self.carry:
            ready.append(self._release())
        return ready

    def finish(self) -> list[Ready[T]]:
        """The frames still held back, once the clip has no more."""
        return [self._release() for _ in range(len(self._waiting))]

    def unknown(self, frames: int) -> list[int]:
        """Frame numbers of the mapping that a clip of ``frames`` frames does not have."""
        return sorted(k for k in (self.mapping or {}) if k >= frames)

    def _name(self, number: int) -> str:
        return f"the regions of frame {number}"

    def _given(self, number: int) -> Any:
        if self.mapping is not None:
            return self.mapping.get(number)
        if self.callable is not None:
            return self.callable(number)
        return None

    def _carried(self, position: int) -> list[Box]:
        """The boxes detected within ``carry`` frames of the frame at ``position``."""
        if self.detector is None:
            return []
        first = self._pushed - len(self._found)  # the position of _found[0]
        start = max(position - self.carry, first)
        window = list(self._found)[start - first :]
        return detect.carry(window, frames=self.carry)[position - start]

    def _release(self) -> Ready[T]:
        number, frame, tag = self._waiting.popleft()
        position = self._released
        self._released += 1
        shape = (frame.shape[0], frame.shape[1])
        layout = combine(self._given(number), self._carried(position), shape, self.pad,
                         self._name(number))  # fmt: skip
        self._note(number, layout)
        return number, frame, tag, layout

    # ------------------------------------------------------------ record

    def _note(self, number: int, layout: Layout) -> None:
        if layout.largest == 0:
            self._last_run = None
            return
        self._with_regions += 1
        self._boxes += len(layout.boxes)
        self._largest = max(self._largest, layout.largest)
        entry = layout.to_dict()
        if self.params is not None:
            entry["m"] = _regions.resolve(self.params, layout).m
        key = json.dumps(entry, sort_keys=True)
        if self._last_run is not None and self._last_run[0] == key:
            self._last_run = (key, number)
            if self._runs_total <= RUNS_LISTED:
                self._runs[-1]["frames"][1] = number
            return
        self._last_run = (key, number)
        self._runs_total += 1
        if self._runs_total <= RUNS_LISTED:
            self._runs.append({"frames": [number, number], **entry})

    def summary(self) -> dict[str, Any]:
        """What the record says of the clip's regions: the counts always, the
        regions themselves as runs of consecutive frames with the same
        regions (up to :data:`RUNS_LISTED` runs)."""
        out: dict[str, Any] = {
            "frames_with_regions": self._with_regions,
            "frames_without_regions": self._released - self._with_regions,
            "boxes": self._boxes,
            "largest_region": self._largest,
            "source": self._source(),
        }
        if self.detector is not None:
            out["frames_with_detections"] = self._detected
            out["carry_frames"] = self.carry
        out["runs"] = self._runs_total
        out["by_run"] = self._runs
        if self._runs_total > RUNS_LISTED:
            out["runs_not_listed"] = self._runs_total - RUNS_LISTED
        return out

    def _source(self) -> str:
        parts = []
        if self.mapping is not None:
            parts.append(f"boxes given for {len(self.mapping)} frame(s) by number")
        if self.callable is not None:
            parts.append("boxes given per frame by a callable")
        if self.detector is not None:
            parts.append(
                f"a detector run on every released frame, each box carried {self.carry} "
                "frame(s) forward and back"
            )
        pad = f"; boxes grown by {self.pad:g} of their size on each side" if self.pad else ""
        return " and ".join(parts) + pad + "; frames without regions are published unchanged"


def _frame_number(key: Any) -> int:
    if isinstance(key, str) and key.isdigit():
        return int(key)
    if isinstance(key, bool) or not isinstance(key, numbers.Integral) or key < 0:
        raise ValueError(f"frame numbers are whole numbers >= 0, got {key!r}")
    return int(key)


def combine(
    given: Regions | None, found: list[Box], shape: tuple[int, int], pad: float, name: str
) -> Layout:
    """One frame's layout: the ``given`` regions (boxes, a mask, a layout or
    None) and the ``found`` boxes of a detector, boxes grown by ``pad``."""
    if isinstance(given, Layout) or (isinstance(given, np.ndarray) and given.dtype == np.bool_):
        lay = _regions.layout(given, shape, name=name)
        if not found:
            return lay
        grown = _regions.grow(found, pad, shape)
        if lay.mask is not None:  # a mask and boxes: one mask, their union
            mask = lay.mask.copy()
            for x0, y0, x1, y1 in grown:
                mask[y0:y1, x0:x1] = True
            return _regions.layout(mask, shape, name=name)
        return _regions.layout([*lay.boxes, *grown], shape, name=name)
    boxes = list(_regions.boxes_of(given, shape, name)) if given is not None else []
    return _regions.layout([*boxes, *found], shape, pad=pad, name=name)
