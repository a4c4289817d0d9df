"""Region mode for video: per-frame regions from a mapping, a callable, a
regions file or a detector (carried across frames), in files and frames.

Every clip is made here with PyAV (tiny: 64x48, a dozen or two frames).
Skipped when PyAV (the 'video' extra) is missing; the face-detector test
also needs OpenCV (the 'faces' extra).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="needs PyAV: pip install 'dp-pix[video]'")

import dp_pix
from dp_pix import cli, demo, detect, pipeline, regions, video
from dp_pix.video import regions as video_regions

H, W = 48, 64
LAPLACE = dp_pix.Params(block=8, epsilon=4.0, m=4)


def make_clip(
    path: Path, frames: int, *, lossless: bool = True, flat: int | None = None,
    image: np.ndarray | None = None,
) -> Path:
    """An RGB clip of moving content (or ``flat`` grey, or one ``image``):
    FFV1 in Matroska (exact), or H.264 in MP4."""
    c = av.open(str(path), "w", format="matroska" if lossless else "mp4")
    s = c.add_stream("ffv1" if lossless else "libx264", rate=25)
    h, w = (H, W) if image is None else image.shape[:2]
    s.width, s.height, s.pix_fmt = w, h, "bgr0" if lossless else "yuv420p"
    yy, xx = np.mgrid[0:h, 0:w]
    for k in range(frames):
        if image is not None:
            arr = image
        elif flat is not None:
            arr = np.full((h, w, 3), flat, np.uint8)
        else:
            g = ((xx * 3 + yy * 2 + 5 * k) % 256).astype(np.uint8)
            arr = np.stack([g, g[::-1], 255 - g], axis=2)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        frame.pts = k
        for p in s.encode(frame):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()
    return path


def read_clip(path: Path) -> tuple[list[np.ndarray], list[Fraction]]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames, times = [], []
        for f in c.decode(v):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(Fraction(f.pts) * v.time_base)
        return frames, times


def inside(shape: tuple[int, ...], boxes) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def cells_constant(frame: np.ndarray, box, block: int) -> bool:
    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1]
    for r in range(0, y1 - y0, block):
        for c in range(0, x1 - x0, block):
            cell = crop[r : r + block, c : c + block]
            if not (cell == cell[:1, :1]).all():
                return False
    return True


def moving_boxes(frames: int, skip: tuple[int, ...] = ()) -> dict[int, list[list[int]]]:
    """A 16x16 box moving right by 2 pixels a frame, absent from ``skip``."""
    return {k: [[4 + 2 * k, 8, 20 + 2 * k, 24]] for k in range(frames) if k not in skip}


class Stub:
    """A detector that finds ``box`` in the frames ``seen`` (counting its calls)."""

    def __init__(self, seen: set[int], box=(40, 16, 56, 32)) -> None:
        self.seen, self.box, self.calls = seen, box, 0

    def __call__(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        k, self.calls = self.calls, self.calls + 1
        return [self.box] if k in self.seen else []


# ------------------------------------------------------------- files, lossless


def test_lossless_clip_outside_exact_and_region_cells_noisy(tmp_path):
    src = make_clip(tmp_path / "c.mkv", frames=8)
    boxes = moving_boxes(8, skip=(5,))
    rec = video.privatize_file(
        src, tmp_path / "out.mkv", LAPLACE, lossless=True, seed=2, regions=boxes
    )
    got, times = read_clip(tmp_path / "out.mkv")
    want, want_times = read_clip(src)
    assert len(got) == 8 and times == want_times  # every frame, in order, at its time
    mosaic_differs = []
    for k, (out, frame) in enumerate(zip(got, want)):
        box = boxes.get(k, [])
        keep = ~inside(frame.shape, box)
        assert np.array_equal(out[keep], frame[keep]), k  # byte for byte outside
        if not box:
            assert np.array_equal(out, frame)  # no region: the frame unchanged
            continue
        assert cells_constant(out, box[0], 8)
        x0, y0, x1, y1 = box[0]
        mosaic = dp_pix.pixelate(np.ascontiguousarray(frame[y0:y1, x0:x1]), block=8)
        mosaic_differs.append(np.mean(out[y0:y1, x0:x1] != mosaic))
    assert min(mosaic_differs) > 0.5  # noise of ~95 grey levels on every cell
    # the bytes are region mode's on each decoded frame, under the frame's stream
    px = dp_pix.Pixelizer(video.frame_params(LAPLACE, 8), seed=2)
    key = pipeline.noise_index("out.mkv")
    for k in boxes:
        again = px(want[k], index=video.frame_index(key, k), regions=boxes[k])
        assert np.array_equal(got[k], again)
    r = rec["regions"]
    assert r["frames_with_regions"] == 7 and r["frames_without_regions"] == 1
    assert r["boxes"] == 7 and r["largest_region"] == 256
    assert r["by_run"][0] == {"frames": [0, 0], "boxes": [[4, 8, 20, 24]], "m": 4}
    assert "bit for bit" in r["outside"]
    assert rec["output_size"] == [H, W]


def test_h264_region_mode_writes_full_frames_and_keeps_the_size(tmp_path):
    """The 4:2:0 cell path is not taken; even with edges='crop' the frame keeps
    its size, and the outside is the source up to H.264's loss."""
    src = make_clip(tmp_path / "c.mkv", frames=4)
    params = dp_pix.Params(block=8, epsilon=4.0, m=4, edges="crop")
    boxes = {k: [[8, 8, 28, 28]] for k in range(4)}  # 20x20: partial cells cropped to 0
    rec = video.privatize_file(src, tmp_path / "out.mp4", params, regions=boxes)
    got, _ = read_clip(tmp_path / "out.mp4")
    want, _ = read_clip(src)
    assert rec["output_size"] == [H, W] and got[0].shape == (H, W, 3)
    keep = ~inside((H, W), boxes[0])
    for out, frame in zip(got, want):
        err = np.abs(out[keep].astype(int) - frame[keep].astype(int))
        assert 0 < err.mean() < 10  # lossy (4:2:0 of busy colour), but the same picture
    assert "--lossless" in rec["regions"]["outside"]


def test_regions_per_frame_from_a_callable_and_a_mask(tmp_path):
    src = make_clip(tmp_path / "c.mkv", frames=4)
    mask = np.zeros((H, W), bool)
    mask[10:30, 5:25] = True

    def per_frame(k: int):
        return mask if k % 2 else None  # odd frames: the mask; even: nothing

    video.privatize_file(src, tmp_path / "o.mkv", LAPLACE, lossless=True, regions=per_frame)
    got, _ = read_clip(tmp_path / "o.mkv")
    want, _ = read_clip(src)
    for k, (out, frame) in enumerate(zip(got, want)):
        assert np.array_equal(out[~mask], frame[~mask])
        assert np.array_equal(out, frame) == (k % 2 == 0)


# ------------------------------------------------------------- detector, carry


def test_detected_boxes_are_carried_over_missed_frames_and_no_further(tmp_path):
    c = detect.CARRY_FRAMES
    n = 4 * c + 2
    seen = {2, 3 * c + 1}  # frames between them, and after, are missed by the detector
    src = make_clip(tmp_path / "c.mkv", frames=n)
    stub = Stub(seen)
    rec = video.privatize_file(
        src, tmp_path / "o.mkv", LAPLACE, lossless=True, detector=stub, seed=1
    )
    assert stub.calls == n  # once per frame
    got, times = read_clip(tmp_path / "o.mkv")
    want, want_times = read_clip(src)
    assert times == want_times
    covered = {k for k in range(n) if any(abs(k - s) <= c for s in seen)}
    assert covered != set(range(n))  # frames more than CARRY_FRAMES from a detection
    box = inside((H, W), [stub.box])
    for k, (out, frame) in enumerate(zip(got, want)):
        assert np.array_equal(out[~box], frame[~box])
        if k in covered:
            assert np.mean(out[box] != frame[box]) > 0.5, k
        else:
            assert np.array_equal(out, frame), k  # not beyond CARRY_FRAMES
    r = rec["regions"]
    assert r["frames_with_detections"] == 2 and r["carry_frames"] == c
    assert r["frames_with_regions"] == len(covered)
    first, last = 2 + c, 3 * c + 1 - c  # the first run ends, the second starts
    assert [run["frames"] for run in r["by_run"]] == [[0, first], [last, n - 1]]


def test_detector_and_mapping_add_up_and_frames_carry_in_privatize_frames():
    n = 14
    frames = [np.full((H, W, 3), 90, np.uint8) for _ in range(n)]
    stub = Stub({6}, box=(0, 0, 8, 8))
    given = {0: [(40, 30, 56, 46)]}
    outs = list(video.privatize_frames(
        frames, LAPLACE, w="all", regions=given, detector=stub, seed=4
    ))
    assert len(outs) == n
    corner = inside((H, W), [stub.box])
    other = inside((H, W), given[0])
    for k, out in enumerate(outs):
        assert (out[corner] != 90).any() == (abs(k - 6) <= detect.CARRY_FRAMES), k
        assert (out[other] != 90).any() == (k == 0)
        assert (out[~(corner | other)] == 90).all()


def test_detect_faces_on_a_clip_through_the_cli(tmp_path):
    pytest.importorskip("cv2", reason="the faces extra (opencv-python-headless 4.x) is absent")
    photo = demo.load_demo_image()
    src = make_clip(tmp_path / "face.mkv", frames=2, image=photo)
    out = tmp_path / "out"
    argv = ["pixelate", str(src), "-o", str(out), "-b", "8", "-e", "1", "-m", "region",
            "--detect", "faces", "--lossless"]  # fmt: skip
    assert cli.main(argv) == 0
    record = json.loads((out / "dp-pix.json").read_text(encoding="utf-8"))
    (clip,) = record["videos"]["clips"]
    box = list(regions.grow([(86, 30, 139, 83)], 0.2, (256, 256))[0])
    assert clip["regions"]["by_run"] == [
        {"frames": [0, 1], "boxes": [box], "m": (box[2] - box[0]) * (box[3] - box[1])}
    ]
    got, _ = read_clip(out / "face.mkv")
    keep = ~inside(photo.shape, [box])
    assert all(np.array_equal(g[keep], photo[keep]) for g in got)


# ------------------------------------------------------------------ m, seeds


def test_m_region_is_each_frames_largest_region(tmp_path):
    src = make_clip(tmp_path / "c.mkv", frames=3)
    params = dp_pix.Params(block=8, epsilon=2.0, m="region")
    boxes = {0: [[0, 0, 16, 16]], 1: [[0, 0, 16, 16], [24, 8, 56, 40]], 2: []}
    rec = video.privatize_file(src, tmp_path / "o.mkv", params, lossless=True, regions=boxes,
                               seed=9)  # fmt: skip
    runs = rec["regions"]["by_run"]
    assert [(r["frames"], r["m"]) for r in runs] == [([0, 0], 256), ([1, 1], 32 * 32)]
    got, _ = read_clip(tmp_path / "o.mkv")
    want, _ = read_clip(src)
    px = dp_pix.Pixelizer(video.frame_params(params, 3), seed=9)
    key = pipeline.noise_index("o.mkv")
    for k in (0, 1):  # m resolved per frame, as region mode does on an image
        assert np.array_equal(got[k], px(want[k], index=video.frame_index(key, k),
                                         regions=boxes[k]))  # fmt: skip
    assert np.array_equal(got[2], want[2])
    assert "m being the pixel count of its largest region" in rec["guarantee_window"]
    assert rec["noise_scale_sum"] is None  # set per frame


def test_seeded_region_clips_repeat_and_every_region_of_every_frame_has_its_own_noise(tmp_path):
    src = make_clip(tmp_path / "flat.mkv", frames=3, flat=128)
    boxes = {k: [[0, 0, 16, 16], [32, 16, 48, 32]] for k in range(3)}
    outs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        video.privatize_file(src, tmp_path / name / "o.mkv", LAPLACE, lossless=True, seed=5,
                             regions=boxes)  # fmt: skip
        outs.append(read_clip(tmp_path / name / "o.mkv")[0])
    assert all(np.array_equal(x, y) for x, y in zip(*outs))
    first = outs[0]
    assert not np.array_equal(first[0][0:16, 0:16], first[0][16:32, 32:48])  # two boxes
    assert not np.array_equal(first[0][0:16, 0:16], first[1][0:16, 0:16])  # two frames
    video.privatize_file(src, tmp_path / "o.mkv", LAPLACE, lossless=True, seed=6, regions=boxes)
    assert not np.array_equal(read_clip(tmp_path / "o.mkv")[0][0], first[0])


# ------------------------------------------------------------------ the CLI


def test_cli_regions_file_per_frame_and_the_record(tmp_path, capsys):
    src = make_clip(tmp_path / "clip.mkv", frames=6)
    img = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    spec = tmp_path / "boxes.json"
    spec.write_text(json.dumps({
        "clip.mkv": {"0": [[4, 8, 20, 24]], "1": [[4, 8, 20, 24]], "3": [[30, 8, 46, 24]]},
        "photo.png": [[0, 0, 8, 8]],
    }))  # fmt: skip
    out = tmp_path / "out"
    argv = ["pixelate", str(src), str(img), "-o", str(out), "-b", "8", "-e", "2", "-m", "16",
            "--regions", str(spec), "--pad", "0", "--lossless", "--window", "0.12",
            "--seed", "3"]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "regions: 3 of 6 frames, 3 box(es); frames without regions unchanged" in printed
    assert "regions: 1 box(es) in 1 file(s)" in printed

    got, _ = read_clip(out / "clip.mkv")
    want, _ = read_clip(src)
    for k, (g, f) in enumerate(zip(got, want)):
        box = {0: [[4, 8, 20, 24]], 1: [[4, 8, 20, 24]], 3: [[30, 8, 46, 24]]}.get(k, [])
        keep = ~inside((H, W), box)
        assert np.array_equal(g[keep], f[keep])
        assert np.array_equal(g, f) == (not box)

    record = json.loads((out / "dp-pix.json").read_text(encoding="utf-8"))
    (clip,) = record["videos"]["clips"]
    r = clip["regions"]
    assert r["frames_with_regions"] == 3 and r["boxes"] == 3
    assert r["by_run"] == [
        {"frames": [0, 1], "boxes": [[4, 8, 20, 24]], "m": 16},
        {"frames": [3, 3], "boxes": [[30, 8, 46, 24]], "m": 16},
    ]
    assert "by number" in r["source"] and "unchanged" in r["source"]
    assert clip["w"] == 3  # 0.12 s at 25 fps
    per_frame = video.frame_params(dp_pix.Params(block=8, epsilon=2, m=16), 3)
    sentence = per_frame.describe(3, regions=True)["guarantee"]
    assert clip["guarantee_frame"] == sentence
    window = clip["guarantee_window"]
    assert window.startswith("w-event privacy, w = 3: a change of up to m=16 pixels inside "
                             "the regions (all 3 channel(s)) in each frame of any 3 consecutive")
    assert dp_pix.params.REGION_TERMS in window
    assert "the regions of every frame are published" in window
    assert "given the regions" in clip["guarantee_clip"]
    assert "each frame" in record["regions"]["videos"]
    assert record["regions"]["files"] == {"photo.png": {"boxes": [[0, 0, 8, 8]], "m": 16}}


def test_cli_regions_file_mistakes_fail_the_clip(tmp_path, capsys):
    src = make_clip(tmp_path / "clip.mkv", frames=3)
    out = tmp_path / "out"
    base = ["pixelate", str(src), "-o", str(out), "-b", "8", "-e", "1", "-m", "4",
            "--lossless", "--overwrite"]  # fmt: skip
    for content, message in (
        ({"clip.mkv": [[0, 0, 8, 8]]}, "by frame number"),
        ({"clip.mkv": {"3": [[0, 0, 8, 8]]}}, "frame(s) 3, but"),
        ({"clip.mkv": {"1": [[100, 100, 120, 120]]}}, "outside"),
    ):
        spec = tmp_path / "r.json"
        spec.write_text(json.dumps(content))
        assert cli.main([*base, "--regions", str(spec)]) == cli.EXIT_FAILURE, content
        assert message in capsys.readouterr().err
        assert not (out / "clip.mkv").exists()
    spec.write_text(json.dumps({"clip.mkv": {}}))  # listed, no region: written unchanged
    assert cli.main([*base, "--regions", str(spec)]) == 0
    assert all(np.array_equal(g, f) for g, f in zip(read_clip(out / "clip.mkv")[0],
                                                       read_clip(src)[0]))  # fmt: skip
    spec.write_text(json.dumps({}))
    assert cli.main([*base, "--regions", str(spec)]) == cli.EXIT_FAILURE
    assert "no entry for 'clip.mkv'" in capsys.readouterr().err
    assert cli.main([*base, "--regions", str(spec), "--ray"]) == cli.EXIT_USAGE


# ------------------------------------------------------------ the API's checks


def test_privatize_frames_checks_region_arguments():
    frames = [np.full((H, W), 128, np.uint8)] * 3
    with pytest.raises(ValueError, match="m='region'"):
        list(video.privatize_frames(frames, dp_pix.Params(block=8, epsilon=1, m="region"),
                                    w=3))  # fmt: skip
    with pytest.raises(ValueError, match="pad applies"):
        list(video.privatize_frames(frames, LAPLACE, w=3, pad=0.2))
    with pytest.raises(ValueError, match="output='full'"):
        list(video.privatize_frames(frames, LAPLACE.replace(output="grid"), w=3, regions={}))
    with pytest.raises(TypeError, match="mapping of frame numbers"):
        list(video.privatize_frames(frames, LAPLACE, w=3, regions=[[0, 0, 8, 8]]))
    with pytest.raises(ValueError, match=r"frame\(s\) 7, but"):
        list(video.privatize_frames(frames, LAPLACE, w=3, regions={7: [(0, 0, 8, 8)]}))
    grey = list(video.privatize_frames(frames, LAPLACE, w=3, regions={1: [(0, 0, 8, 8)]}))
    assert [g.shape for g in grey] == [(H, W)] * 3 and (grey[1][:8, :8] != 128).any()
    assert (grey[0] == 128).all() and (grey[1][8:] == 128).all()


def test_the_record_lists_runs_up_to_a_limit(monkeypatch):
    monkeypatch.setattr(video_regions, "RUNS_LISTED", 2)
    track = video_regions.FrameRegions({k: [(k % 3, 0, 8, 8)] for k in range(7)},
                                       params=LAPLACE)  # fmt: skip
    frame = np.zeros((16, 16), np.uint8)
    ready = [r for k in range(8) for r in track.push(k, frame, k)] + track.finish()
    assert [(n, tag) for n, _, tag, _ in ready] == [(k, k) for k in range(8)]
    s = track.summary()
    assert s["frames_with_regions"] == 7 and s["frames_without_regions"] == 1
    assert s["runs"] == 7 and len(s["by_run"]) == 2 and s["runs_not_listed"] == 5


def test_the_ring_buffer_holds_carry_frames_only():
    track = video_regions.FrameRegions(detector=Stub(set()))
    frame = np.zeros((8, 8), np.uint8)
    held = []
    for k in range(20):
        track.push(k, frame, None)
        held.append(len(track._waiting))
    assert max(held) == detect.CARRY_FRAMES
    assert len(track.finish()) == detect.CARRY_FRAMES
