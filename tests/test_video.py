"""Video: the budget over time, clips in and out, the pipeline and the CLI.

Every clip is made here with PyAV (tiny: 64x48, a few dozen frames); nothing
is downloaded. Skipped when PyAV (the 'video' extra) is missing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="needs PyAV: pip install 'dp-pix[video]'")

import dp_pix
from dp_pix import (
    cli,
    pipeline,
    video,
)
from dp_pix.video import privacy
from dp_pix.video.codec import VideoError

README = Path(__file__).resolve().parents[1] / "README.md"
H, W = 48, 64


# ------------------------------------------------------------------ helpers


def make_clip(
    path: Path,
    *,
    frames: int = 24,
    size: tuple[int, int] = (H, W),
    rate: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    rotation: float | None = None,
    audio: bool = False,
    tags: bool = True,
    value: int | None = None,
    fmt: str | None = None,
) -> Path:
    """A clip with smooth moving content (or a flat ``value``), device-like tags."""
    h, w = size
    c = av.open(str(path), "w", format=fmt)
    s = c.add_stream(codec, rate=rate)
    s.width, s.height, s.pix_fmt = w, h, pix_fmt
    if time_base is not None:
        s.codec_context.time_base = time_base
    if rotation is not None:
        s.set_display_rotation(rotation)
    if tags:
        c.metadata.update(
            {"title": "Holiday", "location": "+48.8584+002.2945/", "make": "Acme",
             "model": "Phone 9", "creation_time": "2024-05-01T10:00:00Z"}
        )
        s.metadata["handler_name"] = "Acme Phone 9 camera"
    a = None
    if audio:
        a = c.add_stream("aac", rate=48000)
        a.metadata["handler_name"] = "Acme Phone 9 microphone"
    yy, xx = np.mgrid[0:h, 0:w]
    grey = pix_fmt.startswith("gray")
    for k in range(frames):
        if value is not None:
            img = np.full((h, w), value, np.uint8)
        else:
            img = ((xx * 3 + yy * 2 + 5 * k) % 256).astype(np.uint8)
        arr = img if grey else np.stack([img, img[::-1], 255 - img], axis=2)
        frame = av.VideoFrame.from_ndarray(arr, format="gray" if grey else "rgb24")
        frame.pts = pts[k] if pts is not None else k
        for p in s.encode(frame):
            c.mux(p)
        if a is not None:
            af = av.AudioFrame.from_ndarray(
                np.zeros((1, 1600), np.float32), format="fltp", layout="mono"
            )
            af.sample_rate, af.pts = 48000, k * 1600
            for p in a.encode(af):
                c.mux(p)
    for p in s.encode():
        c.mux(p)
    if a is not None:
        for p in a.encode():
            c.mux(p)
    c.close()
    return path


def read_clip(path: Path) -> dict:
    """What a viewer (or an adversary) reads back from a clip."""
    c = av.open(str(path))
    try:
        v = c.streams.video[0]
        frames, times, rotation = [], [], None
        for f in c.decode(v):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(Fraction(f.pts) * v.time_base)
            rotation = f.rotation
        return {
            "frames": frames,
            "times": times,
            "rotation": rotation,
            "metadata": dict(c.metadata),
            "stream_metadata": [dict(s.metadata) for s in c.streams],
            "kinds": [s.type for s in c.streams],
            "size": (v.height, v.width),
            "pix_fmt": v.codec_context.pix_fmt,
            "rate": v.average_rate,
        }
    finally:
        c.close()


LAPLACE = dp_pix.Params(block=8, epsilon=4.0, m=4)


# ------------------------------------------------------------ the budget


def test_import_dp_pix_never_imports_av():
    code = (
        "import sys, dp_pix, dp_pix.pipeline, dp_pix.cli, dp_pix.record\n"
        "try:\n    dp_pix.cli.main(['pixelate', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'av' not in sys.modules, 'av imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("epsilon", [1.0, 0.1, 0.7, 3.0])
@pytest.mark.parametrize("w", [2, 3, 7, 30, 299, 300])
def test_laplace_frame_budget_never_rounds_up(epsilon, w):
    p = dp_pix.Params(block=16, epsilon=epsilon, m=16)
    eps_f = video.frame_params(p, w).epsilon
    exact = Fraction(epsilon) / w
    assert Fraction(eps_f) <= exact  # w frames never spend more than epsilon
    assert Fraction(math.nextafter(eps_f, math.inf)) > exact  # and no more noise than needed


@pytest.mark.parametrize("w", [2, 3, 30, 301])
def test_gaussian_frame_budget_divides_rho_and_keeps_delta(w):
    p = dp_pix.Params(block=16, epsilon=1.0, m=16, mechanism="gaussian", delta=1e-6)
    f = video.frame_params(p, w)
    assert f.mechanism == "gaussian" and f.delta == 1e-6 and f.epsilon is None
    assert Fraction(f.rho) <= Fraction(p.zcdp_rho) / w
    assert Fraction(math.nextafter(f.rho, math.inf)) > Fraction(p.zcdp_rho) / w
    # zCDP composes additively: w frames at rho/w, sigma grows with sqrt(w)
    s1 = p.describe(3)["scale"]
    sw = f.describe(3)["scale"]
    assert sw == pytest.approx(s1 * math.sqrt(w), rel=1e-6)


def test_laplace_noise_grows_with_w_and_w1_is_the_image_budget():
    p = dp_pix.Params(block=16, epsilon=1.0, m=16)
    assert video.frame_params(p, 1) is p
    assert video.frame_params(p, 30).describe(3)["scale"] == pytest.approx(
        30 * p.describe(3)["scale"], rel=1e-9
    )


def test_a_window_too_long_for_the_budget_is_refused_with_the_fix():
    p = dp_pix.Params(block=16, epsilon=1e-3, m=2**20)
    with pytest.raises(ValueError, match="shorter --window"):
        video.frame_params(p, 10**4)
    with pytest.raises(ValueError, match="w must be >= 1"):
        video.frame_params(p, 0)


def cfr(n: int, fps: Fraction) -> list[Fraction]:
    return [Fraction(k) / fps for k in range(n)]


@pytest.mark.parametrize(
    ("fps", "seconds", "expected"),
    [
        (Fraction(30), Fraction(1), 30),
        (Fraction(30000, 1001), Fraction(1), 30),  # 29.97: ceil(29.97)
        (Fraction(30000, 1001), Fraction(10), 300),  # ceil(299.7)
        (Fraction(25), Fraction(1, 2), 13),  # ceil(12.5)
        (Fraction(24), Fraction(1, 24), 1),
        (Fraction(60), Fraction(1, 10), 6),
    ],
)
def test_window_in_seconds_at_a_constant_rate_is_ceil_seconds_times_fps(fps, seconds, expected):
    assert expected == math.ceil(seconds * fps)
    assert privacy.window_frames(cfr(900, fps), seconds) == expected


def test_window_at_a_variable_rate_is_the_densest_stretch():
    # 10 fps for 3 s, then a 1-s burst at 50 fps, then 10 fps again
    times = [Fraction(k, 10) for k in range(30)]
    times += [3 + Fraction(k, 50) for k in range(50)]
    times += [4 + Fraction(k, 10) for k in range(30)]
    assert privacy.window_frames(times, Fraction(1)) == 50
    assert privacy.window_frames(times, Fraction(2)) == 50 + 10
    assert privacy.window_frames(times, None) == len(times)  # 'all'
    assert privacy.window_frames(times[:1], Fraction(5)) == 1


def test_window_count_matches_brute_force_on_random_timestamps():
    rng = np.random.default_rng(13)
    for _ in range(50):
        gaps = rng.integers(1, 40, size=int(rng.integers(1, 80)))
        times = [Fraction(int(t), 1000) for t in np.cumsum(gaps)]
        seconds = Fraction(int(rng.integers(1, 500)), 1000)
        brute = max(sum(1 for u in times if t <= u < t + seconds) for t in times)
        assert privacy.window_frames(times, seconds) == brute
        assert privacy.window_frames(list(reversed(times)), seconds) == brute


def test_window_check_refuses_more_frames_than_counted():
    check = privacy.WindowCheck(3, Fraction(1))
    for t in ("0", "0.5", "0.9", "1.5", "1.9", "2"):
        check.add(Fraction(t))  # never more than 3 in [t, t + 1)
    with pytest.raises(ValueError, match="more frames"):
        check.add(Fraction("2.1"))  # 1.5, 1.9, 2, 2.1
    every = privacy.WindowCheck(2, None)
    every.add(Fraction(0))
    every.add(Fraction(1))
    with pytest.raises(ValueError, match="more frames"):
        every.add(Fraction(2))
    same = privacy.WindowCheck(5, None)
    same.add(Fraction(1))
    with pytest.raises(ValueError, match="do not increase"):
        same.add(Fraction(1))


def test_fps_thinning_keeps_at_most_n_frames_per_second_and_their_times():
    times = cfr(300, Fraction(30))
    kept = privacy.FrameRate(Fraction(10)).select(times)
    assert kept == times[::3]
    assert privacy.window_frames(kept, Fraction(1)) == 10
    odd = cfr(300, Fraction(30000, 1001))
    kept = privacy.FrameRate(Fraction(10)).select(odd)
    assert set(kept) <= set(odd)
    slots = [math.floor(t * 10) for t in kept]
    assert len(slots) == len(set(slots))  # at most one frame per 1/10 s slot
    assert privacy.FrameRate(None).select(odd) == odd


def test_every_frame_draws_its_own_stream():
    key = pipeline.noise_index("clip.mp4")
    idx = [video.frame_index(key, k) for k in range(1000)]
    assert len(set(idx)) == 1000
    assert all(0 <= i <= 2**63 - 1 for i in idx)
    assert video.frame_index(2**63 - 1, 1) == 0  # wraps, never leaves the index range
    other = {video.frame_index(pipeline.noise_index("other.mp4"), k) for k in range(1000)}
    assert not other & set(idx)


def test_describe_video_states_frame_window_and_clip():
    d = video.describe_video(LAPLACE, 3, w=30, frames=90, fps=30.0, window=Fraction(1))
    eps_f = d["frame"]["epsilon"]
    assert d["w"] == 30 and d["frames"] == 90
    assert d["epsilon_window"] == pytest.approx(4.0) and d["epsilon_window"] <= 4.0
    assert d["epsilon_clip"] == pytest.approx(12.0) and d["epsilon_clip"] == 90 * eps_f
    assert "w = 30" in d["guarantee_window"] and "basic composition" in d["guarantee_window"]
    assert "3 windows" in d["guarantee_clip"] and "12-DP" in d["guarantee_clip"]
    assert d["noise_scale_sum"] == d["frame"]["scale"]
    whole = video.describe_video(LAPLACE, 1, w=90, frames=90, fps=30.0, window=None)
    assert "whole clip" in whole["guarantee_window"] and "one window" in whole["guarantee_clip"]
    g = dp_pix.Params(block=16, epsilon=1.0, m=16, mechanism="gaussian", delta=1e-6)
    d = video.describe_video(g, 3, w=30, frames=60, fps=30.0, window=Fraction(1))
    assert d["rho_window"] <= g.zcdp_rho
    assert "square root of w" in d["guarantee_window"] and "(1, 1e-06)-DP" in d["guarantee_window"]


def test_readme_cost_table_is_the_computed_one():
    table = video.cost_table_markdown()
    assert table in README.read_text(encoding="utf-8")
    rows = {(r["block"], r["w"]): r for r in video.cost_table()}
    assert set(rows) == {(b, w) for b in (16, 32) for w in (1, 30, 300)}
    # Laplace grows with w, Gaussian with sqrt(w): Gaussian wins for long windows
    assert rows[16, 30]["laplace"] == pytest.approx(30 * rows[16, 1]["laplace"], rel=1e-3)
    assert rows[16, 300]["gaussian"] == pytest.approx(
        math.sqrt(300) * rows[16, 1]["gaussian"], rel=1e-3
    )
    assert rows[16, 1]["laplace"] < rows[16, 1]["gaussian"]
    assert rows[16, 300]["gaussian"] < rows[16, 300]["laplace"]


# --------------------------------------------------------------- frames API


def test_privatize_frames_one_for_one_with_batches_of_one_size():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (H, W, 3), np.uint8) for _ in range(11)]
    frames.insert(5, rng.integers(0, 256, (20, 30), np.uint8))  # another size mid-stream
    out = list(video.privatize_frames(frames, LAPLACE, w="all", seed=3, batch=4))
    assert [o.shape for o in out] == [f.shape for f in frames]
    again = list(video.privatize_frames(frames, LAPLACE, w="all", seed=3, batch=5))
    assert all((a == b).all() for a, b in zip(out, again))  # batching changes nothing
    # frame k draws image number frame_index(index, k) of a Pixelizer at the frame budget
    px = dp_pix.Pixelizer(video.frame_params(LAPLACE, len(frames)), seed=3)
    assert (out[7] == px(frames[7], index=video.frame_index(0, 7))).all()


def test_privatize_frames_checks_its_arguments():
    frames = [np.zeros((H, W), np.uint8)] * 3
    with pytest.raises(TypeError, match="sequence"):
        list(video.privatize_frames(iter(frames), LAPLACE, w="all"))
    with pytest.raises(TypeError, match="uint8"):
        list(video.privatize_frames([np.zeros((4, 4), np.float32)], LAPLACE, w=2))
    with pytest.raises(ValueError, match="w must be >= 1"):
        list(video.privatize_frames(frames, LAPLACE, w=0))


def test_batch_index_draws_consecutive_image_numbers():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (4, 16, 16), np.uint8)
    px = dp_pix.Pixelizer(LAPLACE, seed=9)
    out = px.batch(imgs, index=1000)
    for j in range(4):
        assert (out[j] == px(imgs[j], index=1000 + j)).all()
    assert (px.batch(imgs[:1])[0] == px(imgs[0], index=0)).all()  # the counter was untouched
    with pytest.raises(ValueError, match="past the last image number"):
        px.batch(imgs, index=2**63 - 2)


# ------------------------------------------------------------------- files


def test_the_core_grid_is_the_full_frame_with_the_same_noise():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (45, 70, 3), np.uint8)
    for edges in ("partial", "pad", "crop"):
        p = LAPLACE.replace(edges=edges)
        full = dp_pix.Pixelizer(p, seed=4)(img, index=77)
        grid = dp_pix.Pixelizer(p.replace(output="grid"), seed=4)(img, index=77)
        assert (full[::8, ::8] == grid[: full[::8].shape[0]]).all()


@pytest.mark.parametrize(("colorspace", "color_range"), [(2, 0), (1, 1), (5, 1), (1, 2), (9, 1)])
def test_cells_fill_the_planes_as_swscale_converts_the_full_frame(colorspace, color_range):
    from dp_pix.video import codec

    rng = np.random.default_rng(colorspace)
    cells = rng.integers(0, 256, (6, 9, 3), np.uint8)
    full = np.repeat(np.repeat(cells, 8, 0), 8, 1)[:46, :70]  # partial last cells
    ours = codec.cells_frame(cells, (8, 8), 70, 46, (colorspace, color_range))
    theirs = av.VideoFrame.from_ndarray(full, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=colorspace if colorspace != 2 else None,
        dst_color_range=color_range or None,
    )
    for k, (a, b) in enumerate(zip(ours.planes, theirs.planes)):
        x = np.frombuffer(memoryview(a), np.uint8).reshape(-1, a.line_size)[:, : a.width]
        y = np.frombuffer(memoryview(b), np.uint8).reshape(-1, b.line_size)[:, : b.width]
        if k:  # swscale's chroma filter reaches across cell edges: compare inside cells
            rows, cols = np.arange(x.shape[0]) % 4, np.arange(x.shape[1]) % 4
            x = x[np.isin(rows, (1, 2))][:, np.isin(cols, (1, 2))]
            y = y[np.isin(rows, (1, 2))][:, np.isin(cols, (1, 2))]
        assert np.abs(x.astype(int) - y).max() <= 1
    grey = codec.cells_frame(cells[..., 0], (8, 8), 71, 47, (0, 0))
    assert grey.width == 71 and grey.height == 47


def test_clip_keeps_frames_rate_and_timestamps_and_drops_metadata(tmp_path):
    src = make_clip(tmp_path / "clip.mp4", frames=30, audio=True)
    rec = video.privatize_file(src, tmp_path / "out.mp4", LAPLACE, window=0.5)
    got, want = read_clip(tmp_path / "out.mp4"), read_clip(src)
    assert len(got["frames"]) == 30 == rec["frames"]
    assert got["times"] == want["times"] and got["rate"] == 30
    assert got["size"] == (H, W) and rec["w"] == 15 and rec["window"] == "0.5 s"
    assert got["kinds"] == ["video"]  # audio dropped
    assert "dropped" in rec["audio"]
    text = json.dumps([got["metadata"], got["stream_metadata"]])
    for secret in ("Holiday", "48.8584", "Acme", "Phone", "2024", "creation_time", "Lavf"):
        assert secret not in text
    assert set(got["metadata"]) <= {"major_brand", "minor_version", "compatible_brands"}


def test_variable_frame_rate_stays_variable(tmp_path):
    pts = [0, 40, 73, 140, 173, 300, 333, 366, 500, 533]
    src = make_clip(tmp_path / "vfr.mkv", frames=10, pts=pts, time_base=Fraction(1, 1000),
                    fmt="matroska")
    rec = video.privatize_file(src, tmp_path / "out.mp4", LAPLACE, window=0.1)
    got = read_clip(tmp_path / "out.mp4")
    assert got["times"] == [Fraction(p, 1000) for p in pts]
    assert rec["w"] == 3  # 300, 333, 366 ms lie within 100 ms
    lossless = video.privatize_file(src, tmp_path / "out.mkv", LAPLACE, lossless=True)
    assert read_clip(tmp_path / "out.mkv")["times"] == [Fraction(p, 1000) for p in pts]
    assert lossless["w"] == 10  # 'all'


@pytest.mark.parametrize("lossless", [False, True])
def test_rotation_is_kept(tmp_path, lossless):
    src = make_clip(tmp_path / "rot.mp4", frames=6, rotation=90)
    out = tmp_path / ("out.mkv" if lossless else "out.mp4")
    video.privatize_file(src, out, LAPLACE, lossless=lossless)
    got = read_clip(out)
    assert got["rotation"] == 90 and got["size"] == (H, W)


def test_keep_audio_copies_it_untouched_and_says_it_is_not_protected(tmp_path):
    src = make_clip(tmp_path / "a.mp4", frames=12, audio=True)
    rec = video.privatize_file(src, tmp_path / "out.mp4", LAPLACE, keep_audio=True)
    assert "NOT protected" in rec["audio"]
    got = read_clip(tmp_path / "out.mp4")
    assert got["kinds"] == ["video", "audio"]
    assert "Acme" not in json.dumps(got["stream_metadata"])

    def packets(path):
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]

    assert packets(tmp_path / "out.mp4") == packets(src)


def test_lossless_cells_are_constant_within_each_block(tmp_path):
    src = make_clip(tmp_path / "c.mkv", frames=5, codec="ffv1", pix_fmt="bgr0", fmt="matroska")
    rec = video.privatize_file(src, tmp_path / "out.mkv", LAPLACE, lossless=True, seed=1)
    got = read_clip(tmp_path / "out.mkv")
    assert rec["output_size"] == [H, W] and got["pix_fmt"] == "bgr0"
    for frame in got["frames"]:
        cells = frame.reshape(H // 8, 8, W // 8, 8, 3)
        assert (cells == cells[:, :1, :, :1]).all()
    # the bytes are those of the core on the decoded frames, frame by frame
    want = read_clip(src)["frames"]
    px = dp_pix.Pixelizer(video.frame_params(LAPLACE, 5), seed=1)
    key = pipeline.noise_index("out.mkv")
    for k in range(5):
        assert (got["frames"][k] == px(want[k], index=video.frame_index(key, k))).all()


def test_seeded_clips_are_reproducible_and_each_frame_has_its_own_noise(tmp_path):
    src = make_clip(tmp_path / "flat.mkv", frames=4, codec="ffv1", pix_fmt="gray",
                    value=128, fmt="matroska")
    outs = []
    for name in ("a.mkv", "a2.mkv"):
        (tmp_path / name[:-4]).mkdir()
        video.privatize_file(src, tmp_path / name[:-4] / "a.mkv", LAPLACE, lossless=True, seed=5)
        outs.append(read_clip(tmp_path / name[:-4] / "a.mkv")["frames"])
    assert all((x == y).all() for x, y in zip(*outs))
    assert not (outs[0][0] == outs[0][1]).all()  # frames differ: distinct streams
    video.privatize_file(src, tmp_path / "b.mkv", LAPLACE, lossless=True, seed=5)
    assert not (read_clip(tmp_path / "b.mkv")["frames"][0] == outs[0][0]).all()


def test_odd_sizes_and_ten_bit_and_grey_follow_the_rules(tmp_path):
    odd = make_clip(tmp_path / "odd.mkv", frames=4, size=(47, 65), codec="ffv1",
                    pix_fmt="yuv444p", fmt="matroska")
    rec = video.privatize_file(odd, tmp_path / "odd.mp4", LAPLACE)
    assert read_clip(tmp_path / "odd.mp4")["size"] == (48, 66)
    assert rec["output_size"] == [48, 66] and "repeated" in rec["padded"]
    rec = video.privatize_file(odd, tmp_path / "odd.out.mkv", LAPLACE, lossless=True)
    assert read_clip(tmp_path / "odd.out.mkv")["size"] == (47, 65) and rec["padded"] is None
    ten = make_clip(tmp_path / "ten.mkv", frames=4, codec="ffv1", pix_fmt="yuv420p10le",
                    fmt="matroska")
    rec = video.privatize_file(ten, tmp_path / "ten.mkv.mp4", LAPLACE)
    assert rec["source_pixel_format"] == "yuv420p10le" and rec["frame"]["channels"] == 3
    grey = make_clip(tmp_path / "g.mkv", frames=4, codec="ffv1", pix_fmt="gray", fmt="matroska")
    rec = video.privatize_file(grey, tmp_path / "g.out.mkv", LAPLACE, lossless=True)
    assert rec["frame"]["channels"] == 1
    assert read_clip(tmp_path / "g.out.mkv")["pix_fmt"] == "gray"


def test_fps_releases_fewer_frames_and_shrinks_w(tmp_path):
    src = make_clip(tmp_path / "c.mp4", frames=30)
    rec = video.privatize_file(src, tmp_path / "out.mp4", LAPLACE, window=1.0, fps=10)
    got = read_clip(tmp_path / "out.mp4")
    assert len(got["frames"]) == 10 == rec["frames"] and rec["w"] == 10 and rec["fps"] == 10
    assert got["times"] == read_clip(src)["times"][::3]


def bad_inputs(folder: Path) -> list[str]:
    good = make_clip(folder / "clip.mp4", frames=8)
    data = good.read_bytes()
    (folder / "text.mp4").write_text("not a video\n" * 50)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "still.mp4", format="PNG")
    c = av.open(str(folder / "voice.mp4"), "w")
    a = c.add_stream("aac", rate=48000)
    for k in range(5):
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                        layout="mono")
        af.sample_rate, af.pts = 48000, k * 1024
        for p in a.encode(af):
            c.mux(p)
    for p in a.encode():
        c.mux(p)
    c.close()
    return ["text.mp4", "empty.mp4", "cut.mp4", "still.mp4", "voice.mp4"]


def test_bad_files_fail_one_by_one_and_leave_nothing_behind(tmp_path, capsys):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    bad = bad_inputs(inp)
    status = cli.main(["pixelate", str(inp), "-o", str(out), "-b", "16", "-e", "1", "-m", "16"])
    assert status == cli.EXIT_FAILURE
    assert sorted(os.listdir(out)) == ["clip.mp4", "dp-pix.json"]  # no temporary file left
    record = json.loads((out / "dp-pix.json").read_text())
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in record["failures"]}
    assert set(reasons) == set(bad)
    assert "empty" in reasons["empty.mp4"]
    assert "not a video" in reasons["text.mp4"]
    assert "truncated" in reasons["cut.mp4"]
    assert "still image" in reasons["still.mp4"]
    assert "no video stream" in reasons["voice.mp4"]
    err = capsys.readouterr().err
    assert all(name in err for name in bad)


def test_a_truncated_matroska_clip_fails(tmp_path):
    src = make_clip(tmp_path / "c.mkv", frames=30, fmt="matroska")
    data = src.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VideoError, match="truncated"):
        video.privatize_file(tmp_path / "cut.mkv", tmp_path / "out.mp4", LAPLACE)
    assert sorted(os.listdir(tmp_path)) == ["c.mkv", "cut.mkv"]  # nothing half-written


def test_cli_writes_the_clip_and_the_record_per_video(tmp_path, capsys):
    src = make_clip(tmp_path / "clip.mp4", frames=20, audio=True)
    img = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    out = tmp_path / "out"
    status = cli.main(
        ["pixelate", str(src), str(img), "-o", str(out), "-b", "16", "-e", "1", "-m", "16",
         "--window", "0.5", "--keep-audio"]
    )
    assert status == cli.EXIT_OK
    assert sorted(os.listdir(out)) == ["clip.mp4", "dp-pix.json", "photo.png"]
    printed = capsys.readouterr().out
    assert "2 written" in printed and "w = 15" in printed and "NOT protected" in printed
    record = json.loads((out / "dp-pix.json").read_text())
    assert record["parameters"]["video"] == {
        "window": 0.5, "fps": None, "codec": "h264/mp4, crf 20", "keep_audio": True
    }
    assert "w-event" in record["videos"]["model"]
    (clip,) = record["videos"]["clips"]
    assert clip["output"] == "clip.mp4" and clip["frames"] == 20 and clip["w"] == 15
    assert clip["fps"] == 30 and "NOT protected" in clip["audio"]
    for key in ("noise_scale_sum", "noise_grey_interior", "guarantee_window", "guarantee_clip"):
        assert clip[key]
    assert record["guarantees"]["3"]["guarantee"]  # the image's own guarantee
    # resuming keeps the clip and its entry
    status = cli.main(
        ["pixelate", str(src), str(img), "-o", str(out), "-b", "16", "-e", "1", "-m", "16",
         "--window", "0.5", "--keep-audio", "--skip-existing"]
    )
    assert status == cli.EXIT_OK
    again = json.loads((out / "dp-pix.json").read_text())
    assert again["videos"]["clips"][0]["guarantee_window"] == clip["guarantee_window"]


def test_cli_lossless_writes_mkv_and_seeded_runs_repeat(tmp_path):
    src = make_clip(tmp_path / "clip.mov", frames=6, fmt="mov")
    args = ["-b", "8", "-e", "2", "-m", "4", "--lossless", "--seed", "7"]
    for name in ("o1", "o2"):
        assert cli.main(["pixelate", str(src), "-o", str(tmp_path / name), *args]) == 0
    a, b = (read_clip(tmp_path / n / "clip.mkv")["frames"] for n in ("o1", "o2"))
    assert all((x == y).all() for x, y in zip(a, b))


# ----------------------------------------------------------- the noise level


def _rounded_pmf(spec, n: int, centre: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and exact probabilities of rint(clip((centre·n + Z)/n, 0, 255))
    for the core's noise ``spec`` on a cell of ``n`` pixels."""
    kind, num, den = spec
    scale = num / den
    reach = int(40 * (scale if kind == "laplace" else math.sqrt(scale))) + 10
    z = np.arange(-reach, reach + 1)
    if kind == "laplace":
        weights = np.exp(-np.abs(z) / scale)
    else:
        weights = np.exp(-(z.astype(float) ** 2) / (2 * scale))
    weights /= weights.sum()
    values = np.rint(np.clip((centre * n + z) / n, 0, 255))
    support = np.unique(values)
    probs = np.array([weights[values == v].sum() for v in support])
    return support, probs


def _variance_z(samples: np.ndarray, support: np.ndarray, probs: np.ndarray) -> float:
    mean = float((support * probs).sum())
    var = float(((support - mean) ** 2 * probs).sum())
    m4 = float(((support - mean) ** 4 * probs).sum())
    observed = float(((samples - mean) ** 2).mean())
    return (observed - var) / math.sqrt((m4 - var**2) / samples.size)


@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
def test_noise_of_a_flat_clip_matches_the_window_calibration(tmp_path, mechanism):
    """The per-cell variance of a flat lossless clip is that of the per-frame
    scale for the window; the same test rejects a scale 10 % off."""
    if mechanism == "laplace":
        params = dp_pix.Params(block=4, epsilon=60.0, m=1)
    else:
        params = dp_pix.Params(block=4, rho=200.0, m=1, mechanism="gaussian")
    src = make_clip(tmp_path / "flat.mkv", frames=60, codec="ffv1", pix_fmt="gray",
                    value=128, fmt="matroska")
    rec = video.privatize_file(src, tmp_path / "out.mkv", params, window=0.5, lossless=True)
    assert rec["w"] == 15
    frames = np.stack(read_clip(tmp_path / "out.mkv")["frames"])[..., 0]
    cells = frames[:, ::4, ::4].astype(float).ravel()  # one value per cell and frame
    assert cells.size == 60 * (H // 4) * (W // 4)
    spec = video.frame_params(params, 15).noise(1)
    assert rec["frame"]["noise_exact"] == f"{spec[1]}/{spec[2]}"
    support, probs = _rounded_pmf(spec, 16, 128)
    assert abs(_variance_z(cells, support, probs)) < 4.5
    assert 2 < rec["noise_grey_std_interior"] < 20  # a level that the test resolves
    # power: the same statistic rejects the scale 10 % off (either way)
    for factor in (0.9, 1.1):
        kind, num, den = spec
        off = (kind, num * factor ** (1 if kind == "laplace" else 2), den)
        support, probs = _rounded_pmf(off, 16, 128)
        assert abs(_variance_z(cells, support, probs)) > 4.5
    # and the window matters: the noise of a one-frame budget is far smaller
    one = video.frame_params(params, 1).noise(1)
    support, probs = _rounded_pmf(one, 16, 128)
    assert abs(_variance_z(cells, support, probs)) > 4.5
