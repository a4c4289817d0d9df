"""Privacy over time: the budget of a clip, stated once.

The model is w-event privacy (G. Kellaris, S. Papadopoulos, X. Xiao,
D. Papadias, "Differentially Private Event Sequences over Infinite Streams",
VLDB 2014). Two clips are *neighbours* when they have the same frames (count,
size, timestamps) and differ only within one window of ``w`` consecutive
released frames, in at most ``m`` pixel positions of each frame there (every
channel of those pixels). Each frame is privatized on its own with the
per-frame parameters of :func:`frame_params`; the window's budget is the sum
of its frames' (basic composition for ε-DP, additive composition for zCDP),
so any change confined to one window gets the guarantee the user asked for.
A change that lasts longer is covered window by window, and its cost adds up:
:func:`describe_video` states both, for the window and for the whole clip.

Everything here rounds toward more noise: a per-frame budget is the largest
float at or below the exact quotient, and a window in seconds becomes the
largest number of released frames that any window of that length holds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any, Literal

from dp_pix import backend
from dp_pix.params import MAX_INDEX, REGION_TERMS, Params, check_int

__all__ = [
    "ALL",
    "FrameRate",
    "WindowCheck",
    "cost_table",
    "cost_table_markdown",
    "describe_video",
    "frame_index",
    "frame_params",
    "window_frames",
]

# The window that holds every released frame: the whole clip is one event.
ALL: Literal["all"] = "all"
MAX_FRAMES = 2**40


def _at_most(q: Fraction) -> float:
    """The largest float that does not exceed ``q`` (> 0)."""
    x = float(q)
    if Fraction(x) > q:
        x = math.nextafter(x, 0.0)
    return x


def frame_params(params: Params, w: int) -> Params:
    """The parameters of one frame when ``params`` is the budget of a window of
    ``w`` released frames.

    Laplace: ε/w per frame, so that ``w`` frames compose to at most ε (basic
    composition). Gaussian: ρ/w per frame, with ρ the zCDP parameter of
    ``params`` (from (ε, δ) by the CKS conversion when those were given), so
    ``w`` frames compose to at most ρ (zCDP adds up) and keep the (ε, δ)
    reading of ``params``; ``delta`` is kept so that the per-frame description
    states its own (ε, δ) reading too. Each quotient is rounded down to a
    float: never toward less noise. ``w = 1`` returns ``params`` itself.
    """
    w = check_int(w, "w", 1, MAX_FRAMES, "w is a number of frames, e.g. w=30")
    if w == 1:
        return params
    try:
        if params.mechanism == "laplace":
            assert params.epsilon is not None
            return params.replace(epsilon=_at_most(Fraction(params.epsilon) / w))
        rho = params.zcdp_rho
        assert rho is not None
        return params.replace(rho=_at_most(Fraction(rho) / w))
    except ValueError as exc:
        raise ValueError(
            f"a window of {w} frames leaves each frame too little budget ({exc}); "
            "use a shorter --window, a lower --fps, a larger epsilon or a smaller m"
        ) from None


def frame_index(file_index: int, k: int) -> int:
    """The image number whose noise streams frame ``k`` of a file draws under
    a seed; ``file_index`` is the file's own number (``dp-pix pixelate``: the
    hash of its output path, ``pipeline.noise_index``).

    ``(file_index + k) mod 2**63``: one-to-one in ``k``, so no two frames of a
    file share a stream, and consecutive, so a batch of frames is one call to
    the core. Two files share a stream only when their numbers lie within a
    clip's length of each other (for random 63-bit numbers, odds of about
    frames × files / 2**62). The one place that maps frames to streams.
    """
    return (file_index + k) % (MAX_INDEX + 1)


def window_frames(times: Iterable[Fraction], seconds: Fraction | None) -> int:
    """``w`` for a window of ``seconds``: the largest number of the released
    frames, at presentation ``times`` (seconds, exact), that lie in one
    half-open interval ``[t, t + seconds)``; every frame when ``seconds`` is
    None (the window ``all``). At a constant rate of ``f`` frames per second
    that is ``ceil(seconds · f)``; at a variable rate it is the densest
    stretch of the clip. At least 1."""
    ordered = sorted(times)
    if seconds is None:
        return max(1, len(ordered))
    best, start = 1, 0
    for end, t in enumerate(ordered):
        while ordered[start] + seconds <= t:
            start += 1
        best = max(best, end - start + 1)
    return best


class WindowCheck:
    """Checks, frame by frame as they are released, that no window holds more
    than ``w`` frames: the guarantee is stated for the frames actually written,
    whatever the first pass over the packets counted."""

    def __init__(self, w: int, seconds: Fraction | None) -> None:
        self.w = w
        self.seconds = seconds
        self.count = 0
        self._recent: deque[Fraction] = deque()
        self._last: Fraction | None = None

    def add(self, t: Fraction) -> None:
        if self._last is not None and t <= self._last:
            raise ValueError(
                f"frame timestamps do not increase ({float(self._last):.6g} s, then "
                f"{float(t):.6g} s)"
            )
        self._last = t
        self.count += 1
        if self.seconds is None:
            inside = self.count
        else:
            self._recent.append(t)
            while self._recent[0] + self.seconds <= t:
                self._recent.popleft()
            inside = len(self._recent)
        if inside > self.w:
            raise ValueError(
                f"the decoder gave more frames than the clip's packets announced "
                f"({inside} in one window, w = {self.w})"
            )


class FrameRate:
    """Thinning to at most ``fps`` frames per second (``--fps``): a frame is
    kept when its timestamp reaches the next slot of length 1/fps, counted from
    the first frame; frames are dropped, never repeated or moved, so the kept
    ones keep their own timestamps. Feed timestamps in presentation order."""

    def __init__(self, fps: Fraction | None) -> None:
        self.fps = fps
        self._start: Fraction | None = None
        self._next: Fraction | None = None

    def keep(self, t: Fraction) -> bool:
        if self.fps is None:
            return True
        if self._start is None:
            self._start = t
        elif self._next is not None and t < self._next:
            return False
        slot = math.floor((t - self._start) * self.fps)
        self._next = self._start + Fraction(slot + 1) / self.fps
        return True

    def select(self, times: Sequence[Fraction]) -> list[Fraction]:
        """The kept ones of sorted ``times``."""
        return [t for t in times if self.keep(t)]


# ----------------------------------------------------------------- statements


# What region mode adds to a clip's guarantee: the regions are those of each frame.
_FRAME_REGIONS = (
    "; the regions of every frame are published, and a frame without regions is "
    "published unchanged"
)


def _seconds_text(seconds: Fraction | None) -> str:
    return ALL if seconds is None else f"{float(seconds):g} s"


def describe_video(
    params: Params,
    channels: int,
    *,
    w: int,
    frames: int,
    fps: float | None,
    window: Fraction | None,
    regions: bool = False,
) -> dict[str, Any]:
    """The guarantee of a clip: per frame, per window and for the whole clip.

    ``params`` is the budget of a window (``-e``/``--delta``/``--rho``), ``w``
    the frames a window holds, ``frames`` the frames released, ``fps`` their
    nominal rate, ``window`` the window in seconds (None: ``all``).
    ``regions``: region mode (always with ``m="region"``), where the window's
    budget covers changes inside each frame's regions, given the regions of
    every frame. The sentences are those that the record and the summary print.
    """
    regions = regions or params.m == "region"
    per_frame = frame_params(params, w)
    info = per_frame.describe(channels, regions=regions)
    m, mech = params.m, params.mechanism
    rate = f" at {fps:.6g} fps" if fps else ""
    span = (
        f"the whole clip ({frames} frames{rate})" if window is None
        else f"any {w} consecutive frames ({_seconds_text(window)}{rate})"
    )
    if not regions:
        pixels, terms = f"m={m} pixels", ""
    elif m == "region":
        pixels = "m pixels inside the frame's regions, m being the pixel count of its largest region"
        terms = REGION_TERMS + _FRAME_REGIONS
    else:
        pixels, terms = f"m={m} pixels inside the regions", REGION_TERMS + _FRAME_REGIONS
    change = f"a change of up to {pixels} (all {channels} channel(s)) in each frame"
    out: dict[str, Any] = {
        "frames": frames,
        "fps": fps,
        "window": _seconds_text(window),
        "w": w,
        "mechanism": mech,
        "frame": info,
        "noise_scale_sum": info["scale"],
        "noise_grey_interior": info["grey_scale_interior"],
        "noise_grey_std_interior": info["grey_std_interior"],
    }
    if mech == "laplace":
        eps_f = info["epsilon"]
        out["epsilon_window"] = w * eps_f
        out["epsilon_clip"] = frames * eps_f
        out["guarantee_frame"] = info["guarantee"]
        out["guarantee_window"] = (
            f"w-event privacy, w = {w}: {change} of {span} is "
            f"{w * eps_f:.6g}-DP ({w} frame(s) at {eps_f:.6g}-DP each, basic composition)"
            f"{terms}"
        )
        clip = f"{frames * eps_f:.6g}-DP"
    else:
        rho_f, delta = info["rho"], params.delta
        core = backend.CORE

        def reading(rho: float) -> str:
            if delta is None:
                return f"{rho:.6g}-zCDP"
            eps = float(core.epsilon_for(rho, delta))
            return f"{rho:.6g}-zCDP, ({eps:.6g}, {delta:.3g})-DP"

        out["rho_window"] = w * rho_f
        out["rho_clip"] = frames * rho_f
        out["guarantee_frame"] = info["guarantee"]
        out["guarantee_window"] = (
            f"w-event privacy, w = {w}: {change} of {span} is {reading(w * rho_f)} "
            f"({w} frame(s) at {rho_f:.6g}-zCDP each; zCDP adds up, so the noise grows "
            f"with the square root of w){terms}"
        )
        clip = reading(frames * rho_f)
    if frames <= w:
        out["guarantee_clip"] = (
            f"the whole clip ({frames} frames) lies in one window: {change} of the "
            f"whole clip is {clip}{terms}"
        )
    else:
        out["guarantee_clip"] = (
            f"over the whole clip ({frames} frames, {math.ceil(frames / w)} windows), a change "
            f"of up to {pixels} (all {channels} channel(s)) in every frame is only {clip}: "
            f"a change that lasts longer than a window is protected window by window{terms}"
        )
    return out


# ------------------------------------------------------------------ cost table


COST_WINDOWS: tuple[tuple[str, float | None], ...] = (
    ("1 frame", None),
    ("1 s", 1.0),
    ("10 s", 10.0),
)


def cost_table(
    *,
    blocks: Sequence[int] = (16, 32),
    m: int = 16,
    epsilon: float = 1.0,
    delta: float = 1e-6,
    fps: int = 30,
    channels: int = 3,
) -> list[dict[str, Any]]:
    """What a window costs: the per-frame noise (standard deviation on an
    interior cell, grey levels) for windows of one frame, 1 s and 10 s at
    ``fps``, Laplace against Gaussian, for a budget of (``epsilon``,
    ``delta``) per window."""
    rows = []
    for b in blocks:
        lap = Params(block=b, epsilon=epsilon, m=m)
        gau = Params(block=b, epsilon=epsilon, m=m, mechanism="gaussian", delta=delta)
        for label, seconds in COST_WINDOWS:
            w = 1 if seconds is None else math.ceil(Fraction(seconds) * fps)
            rows.append(
                {
                    "block": b,
                    "window": label,
                    "w": w,
                    "laplace": frame_params(lap, w).describe(channels)["grey_std_interior"],
                    "gaussian": frame_params(gau, w).describe(channels)["grey_std_interior"],
                }
            )
    return rows


def cost_table_markdown(**kwargs: Any) -> str:
    """:func:`cost_table` as the Markdown table of the README."""
    lines = [
        "| b | window | w | Laplace | Gaussian |",
        "|---|---|---:|---:|---:|",
    ]
    for row in cost_table(**kwargs):
        lines.append(
            f"| {row['block']} | {row['window']} | {row['w']} | {row['laplace']:.1f} "
            f"| {row['gaussian']:.1f} |"
        )
    return "\n".join(lines)
