"""DP-Pix for video: ``pip install 'dp-pix[video]'`` (PyAV, with FFmpeg inside its wheels).

Clips are privatized frame by frame, each frame with its own noise, under
w-event privacy (Kellaris et al., VLDB 2014): the budget of the parameters is
for any window of ``w`` consecutive frames, so each frame gets ε/w (Laplace)
or ρ/w (Gaussian, zCDP). PRIVACY.md states the model::

    import dp_pix
    from dp_pix import video

    params = dp_pix.Params(block=16, epsilon=1.0, m=16)      # the budget of a window
    record = video.privatize_file("clip.mp4", "out/clip.mp4", params, window=1.0)
    record["guarantee_window"], record["guarantee_clip"]

    for private in video.privatize_frames(frames, params, w=30):   # your own decoder
        ...

- :func:`privatize_file`: a clip to a clip (H.264 in MP4, or FFV1 in
  Matroska with ``lossless=True``), audio and metadata dropped; returns what
  the privacy record says of it.
- :func:`privatize_frames`: uint8 frames in, privatized frames out.
- Region mode (:mod:`dp_pix.video.regions`): both take ``regions=`` (frame
  number -> boxes, a mapping or a callable) and ``detector=`` (run on every
  frame, its boxes carried ``detect.CARRY_FRAMES`` frames forward and back);
  only each frame's regions are privatized, a frame without any is unchanged.
- :func:`frame_params`: the per-frame :class:`~dp_pix.Params` of a window of
  ``w`` frames; :func:`window_frames`: ``w`` for a window in seconds;
  :func:`describe_video`: the guarantee per frame, per window and per clip;
  :func:`frame_index`: the noise stream of a frame under a seed.

Importing ``dp_pix`` never imports PyAV; importing this module does.
"""

from __future__ import annotations

try:
    import av as _av  # noqa: F401
except ImportError as _exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        f"dp_pix.video needs PyAV ({_exc}); install it with: pip install 'dp-pix[video]'"
    ) from _exc

from dp_pix.video.clips import BATCH, parse_fps, parse_window, privatize_file, privatize_frames
from dp_pix.video.codec import CRF, PRESET, VideoError
from dp_pix.video.privacy import (
    ALL,
    cost_table,
    cost_table_markdown,
    describe_video,
    frame_index,
    frame_params,
    window_frames,
)

__all__ = [
    "ALL",
    "BATCH",
    "CRF",
    "PRESET",
    "VideoError",
    "cost_table",
    "cost_table_markdown",
    "describe_video",
    "frame_index",
    "frame_params",
    "parse_fps",
    "parse_window",
    "privatize_file",
    "privatize_frames",
    "window_frames",
]
