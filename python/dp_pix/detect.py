"""Find the regions to protect: a detector is any callable image -> boxes.

:class:`HaarFaceDetector` finds faces with the Haar cascades that
``opencv-python-headless`` 4.x ships under ``cv2.data.haarcascades`` (OpenCV 5
dropped them from its wheels): no download at run time. Install it with
``pip install 'dp-pix[faces]'``. Any other detector — a stronger face model,
a licence-plate finder — plugs in as a callable ``image -> [(x0, y0, x1, y1),
...]`` (:class:`Detector`).

A detector works on the raw image, and what it finds is published: the
guarantee of region mode holds *given the regions*, and a face it misses is not
protected at all (PRIVACY.md, "Regions").

For video, :func:`carry` spreads each frame's boxes to the
:data:`CARRY_FRAMES` frames before and after it, so that a face missed in a
frame or two between detections is still covered; ``dp_pix.video`` does so
when a detector runs on a clip (``detector=``, ``dp-pix pixelate --detect``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from dp_pix.regions import Box

__all__ = [
    "CARRY_FRAMES",
    "DETECTORS",
    "FACES_EXTRA_HINT",
    "Detector",
    "HaarFaceDetector",
    "carry",
    "detector",
]

#: Frames before and after a detection that its box also covers (at 25 fps,
#: 0.2 s either way).
CARRY_FRAMES = 5
FACES_EXTRA_HINT = "pip install 'dp-pix[faces]'"


class Detector(Protocol):
    """A callable that finds regions in an image: uint8 ``(H, W)`` or
    ``(H, W, C)`` in, boxes ``(x0, y0, x1, y1)`` in pixels out (right and
    bottom edges excluded)."""

    def __call__(self, image: npt.NDArray[np.uint8], /) -> list[Box]: ...


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ImportError(
            f"face detection needs OpenCV with its Haar cascades: {FACES_EXTRA_HINT} "
            f"({exc})"
        ) from None
    if not hasattr(cv2, "data"):
        raise ImportError(
            "this OpenCV ships no Haar cascades (cv2.data is missing; OpenCV 5 dropped "
            f"them): {FACES_EXTRA_HINT} installs opencv-python-headless 4.x"
        )
    return cv2


class HaarFaceDetector:
    """Faces by OpenCV's Haar cascades (Viola & Jones 2001; Lienhart et al. 2002).

    ``cascades``: file names under ``cv2.data.haarcascades`` without the
    ``haarcascade_`` prefix and ``.xml``; the default is the frontal-face
    cascade and the profile cascade, the latter run on the image and on its
    mirror image (it finds faces turned one way only). The image is made grey
    and its histogram equalized first. ``scale_factor``, ``min_neighbors`` and
    ``min_size`` (pixels; default: each cascade's own window) are those of
    ``detectMultiScale``. Boxes from several cascades may overlap: region mode
    merges them.

    On composites of AT&T faces pasted into scenes (``tests/test_detect.py``)
    the default finds 99–100 % of the faces with about one false box in two
    scenes of 640x480. Picklable (the cascades load again where it runs);
    safe to call from several threads.
    """

    def __init__(
        self,
        cascades: Sequence[str] = ("frontalface_default", "profileface"),
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int | None = None,
    ) -> None:
        if isinstance(cascades, str) or not cascades:
            raise ValueError("cascades must be a non-empty list of cascade names")
        if not scale_factor > 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor!r}")
        if min_neighbors < 0:
            raise ValueError(f"min_neighbors must be >= 0, got {min_neighbors!r}")
        self.cascades = tuple(cascades)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = min_size
        self._local = threading.local()
        self._classifiers()  # a missing OpenCV or cascade fails here, not on the first image

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_local"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def __repr__(self) -> str:
        return (
            f"HaarFaceDetector({list(self.cascades)!r}, scale_factor={self.scale_factor}, "
            f"min_neighbors={self.min_neighbors}, min_size={self.min_size})"
        )

    def _classifiers(self) -> list[Any]:
        # One set per thread: a CascadeClassifier is not documented as safe to share.
        found: list[Any] | None = getattr(self._local, "classifiers", None)
        if found is None:
            cv2 = _cv2()
            found = []
            for name in self.cascades:
                path = f"{cv2.data.haarcascades}haarcascade_{name}.xml"
                classifier = cv2.CascadeClassifier(path)
                if classifier.empty():
                    raise ValueError(f"no Haar cascade {name!r} in {cv2.data.haarcascades}")
                found.append(classifier)
            self._local.classifiers = found
        return found

    def __call__(self, image: npt.NDArray[np.uint8], /) -> list[Box]:
        cv2 = _cv2()
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise TypeError("image must be a numpy uint8 array (H, W) or (H, W, C)")
        if image.ndim == 3 and image.shape[2] >= 3:
            grey = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
        elif image.ndim == 3:
            grey = np.ascontiguousarray(image[:, :, 0])
        elif image.ndim == 2:
            grey = np.ascontiguousarray(image)
        else:
            raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
        grey = cv2.equalizeHist(grey)
        w = grey.shape[1]
        size = (self.min_size, self.min_size) if self.min_size else None
        boxes: list[Box] = []
        for name, classifier in zip(self.cascades, self._classifiers()):
            views = [(grey, False)]
            if name == "profileface":  # trained on faces turned one way: look at the mirror too
                views.append((np.ascontiguousarray(grey[:, ::-1]), True))
            for view, mirrored in views:
                kwargs: dict[str, Any] = {}
                if size is not None:
                    kwargs["minSize"] = size
                found = classifier.detectMultiScale(
                    view, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, **kwargs
                )
                for x, y, bw, bh in np.asarray(found, dtype=np.int64).reshape(-1, 4).tolist():
                    x0 = w - x - bw if mirrored else x
                    boxes.append((x0, y, x0 + bw, y + bh))
        return sorted(boxes, key=lambda b: (b[1], b[0]))


#: Detectors by the name that ``dp-pix pixelate --detect`` takes.
DETECTORS = {"faces": HaarFaceDetector}


def detector(name: str) -> Detector:
    """The detector named ``name`` (see :data:`DETECTORS`), ready to call."""
    if name not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {name!r}")
    return DETECTORS[name]()


def carry(boxes_per_frame: Sequence[Sequence[Box]], frames: int = CARRY_FRAMES) -> list[list[Box]]:
    """Hysteresis for video: frame t gets the boxes of frames t-frames .. t+frames.

    ``boxes_per_frame`` holds one list of boxes per frame (any sequence: a
    video's frames in order). A face that the detector misses in up to
    ``2·frames`` consecutive frames between two detections, or in the
    ``frames`` frames before its first or after its last one, is still
    covered (by the box where it was last or next seen; a fast-moving face
    needs a larger pad). Duplicates are dropped; overlaps are left for region
    mode to merge.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
        raise ValueError(f"frames must be a whole number >= 0, got {frames!r}")
    per_frame = [[_box(box) for box in boxes] for boxes in boxes_per_frame]
    out: list[list[Box]] = []
    for t in range(len(per_frame)):
        seen: dict[Box, None] = {}
        for boxes in per_frame[max(0, t - frames) : t + frames + 1]:
            for box in boxes:
                seen.setdefault(box, None)
        out.append(list(seen))
    return out


def _box(box: Sequence[int]) -> Box:
    if len(box) != 4:
        raise ValueError(f"a box is (x0, y0, x1, y1), got {box!r}")
    return (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
