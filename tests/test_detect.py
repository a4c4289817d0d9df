"""Face detection for region mode, measured on composites of real faces, and
the frame hysteresis for video."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dp_pix
import numpy as np
import pytest
from dp_pix import demo, detect, regions
from PIL import Image

SCENES = 30
FACES_PER_SCENE = 4
SCENE_SHAPE = (480, 640)
#: The demo photograph's face (brows to chin), as found and checked by eye.
DEMO_FACE = (86, 30, 139, 83)


def _cv2_or_skip() -> None:
    pytest.importorskip("cv2", reason="the faces extra (opencv-python-headless 4.x) is absent")


def _background(kind: int, rng: np.random.Generator, photos: list[Path]) -> np.ndarray:
    h, w = SCENE_SHAPE
    if kind == 0 and photos:  # a real photograph (miniImageNet), enlarged
        with Image.open(photos[rng.integers(len(photos))]) as im:
            return np.asarray(im.convert("L").resize((w, h), Image.BILINEAR)).copy()
    if kind == 1:  # a tilted, wrapping gradient
        y, x = np.mgrid[0:h, 0:w]
        ramp = x * rng.uniform(0.1, 0.3) + y * rng.uniform(0.1, 0.3) + rng.uniform(0, 80)
        return (ramp % 256).astype(np.uint8)
    coarse = np.clip(rng.normal(128, 40, (h // 8, w // 8)), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR)).copy()


def composites(data_root: Path, n: int = SCENES, seed: int = 0):
    """``n`` grey scenes with up to FACES_PER_SCENE AT&T faces each, pasted at
    scales 0.8-2.5 without overlap on varied backgrounds: (scene, face boxes)."""
    faces = sorted((data_root / "att_faces").glob("s*/*.pgm"))
    if len(faces) < 400:
        pytest.skip(f"AT&T faces not found under {data_root / 'att_faces'}")
    photos = sorted((data_root / "miniimagenet_sample").rglob("*.jpg"))
    rng = np.random.default_rng(seed)
    h, w = SCENE_SHAPE
    out = []
    for i in range(n):
        scene = _background(i % 3, rng, photos)
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(200):
            if len(boxes) == FACES_PER_SCENE:
                break
            scale = rng.uniform(0.8, 2.5)
            fw, fh = round(92 * scale), round(112 * scale)
            x0, y0 = int(rng.integers(0, w - fw)), int(rng.integers(0, h - fh))
            box = (x0, y0, x0 + fw, y0 + fh)
            if any(regions._overlap(box, b) for b in boxes):
                continue
            with Image.open(faces[rng.integers(len(faces))]) as face:
                scene[y0 : y0 + fh, x0 : x0 + fw] = np.asarray(face.resize((fw, fh), Image.BICUBIC))
            boxes.append(box)
        out.append((scene, boxes))
    return out


def _centre_in(d, g) -> bool:
    cx, cy = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2
    return g[0] <= cx < g[2] and g[1] <= cy < g[3]


def score(found: list[list[tuple]], truth: list[list[tuple]]) -> tuple[float, int, float]:
    """(recall, false positives, covered): a face is found when a detection's
    centre lies in it; a detection whose centre lies in no face is a false
    positive; ``covered`` is the share of face pixels inside the padded,
    merged regions that region mode would privatize."""
    hits = total = false = 0
    covered = pixels = 0
    for dets, faces in zip(found, truth):
        total += len(faces)
        hits += sum(any(_centre_in(d, g) for d in dets) for g in faces)
        false += sum(not any(_centre_in(d, g) for g in faces) for d in dets)
        lay = regions.layout(dets, SCENE_SHAPE, pad=regions.DEFAULT_PAD)
        mask = np.zeros(SCENE_SHAPE, bool)
        for x0, y0, x1, y1 in lay.boxes:
            mask[y0:y1, x0:x1] = True
        for x0, y0, x1, y1 in faces:
            covered += int(mask[y0:y1, x0:x1].sum())
            pixels += (x1 - x0) * (y1 - y0)
    return hits / total, false, covered / pixels


@pytest.fixture(scope="module")
def scenes(data_root):
    return composites(data_root)


def test_haar_faces_recall_on_composites(scenes, capsys):
    _cv2_or_skip()
    detector = detect.HaarFaceDetector()
    found = [detector(scene) for scene, _ in scenes]
    recall, false, covered = score(found, [faces for _, faces in scenes])
    with capsys.disabled():
        print(
            f"\n[detect] {len(scenes)} composites, {sum(len(f) for _, f in scenes)} faces: "
            f"recall {recall:.3f}, {false} false positives ({false / len(scenes):.2f} per "
            f"640x480 scene), {covered:.1%} of face pixels inside the padded regions"
        )
    assert recall >= 0.9
    assert false / len(scenes) < 2


def test_haar_faces_on_colour_composites(scenes):
    """An RGB scene (grey faces on a colour tint) is made grey first."""
    _cv2_or_skip()
    scene, faces = scenes[1]
    tint = np.stack([scene, scene // 2 + 64, 255 - scene // 2], axis=2).astype(np.uint8)
    tint[..., 0] = scene
    for x0, y0, x1, y1 in faces:
        tint[y0:y1, x0:x1] = scene[y0:y1, x0:x1, None]
    found = detect.HaarFaceDetector()(tint)
    assert sum(any(_centre_in(d, g) for d in found) for g in faces) >= len(faces) - 1


def test_haar_faces_on_the_demo_photograph(capsys):
    _cv2_or_skip()
    found = detect.HaarFaceDetector()(demo.load_demo_image())
    with capsys.disabled():
        print(f"\n[detect] demo photograph: {found} (the face: {DEMO_FACE})")
    assert len(found) == 1  # the face, and no false positive
    (box,) = found
    assert all(abs(a - b) <= 6 for a, b in zip(box, DEMO_FACE))


def test_detected_faces_are_privatized(scenes):
    _cv2_or_skip()
    scene, _faces = scenes[0]
    finder = regions.Finder(detector=detect.HaarFaceDetector())
    lay = finder("scene.png", scene)
    out = dp_pix.dp_pixelate(scene, block=8, epsilon=1, m="region", regions=lay, seed=0)
    mask = np.zeros(SCENE_SHAPE, bool)
    for x0, y0, x1, y1 in lay.boxes:
        mask[y0:y1, x0:x1] = True
    assert np.array_equal(out[~mask], scene[~mask])
    assert np.mean(out[mask] != scene[mask]) > 0.9


def test_any_callable_is_a_detector():
    def corner(image: np.ndarray) -> list[tuple[int, int, int, int]]:
        return [(0, 0, image.shape[1] // 2, image.shape[0] // 2)]

    finder = regions.Finder(detector=corner, pad=0.0)
    image = np.zeros((40, 60), np.uint8)
    assert finder("x.png", image).boxes == ((0, 0, 30, 20),)
    both = regions.Finder({"x.png": [[50, 30, 60, 40]]}, corner, pad=0.0)
    assert both("x.png", image).boxes == ((0, 0, 30, 20), (50, 30, 60, 40))
    assert both("other.png", image).boxes == ((0, 0, 30, 20),)  # detection alone suffices


def test_detector_pickles():
    _cv2_or_skip()
    import pickle

    detector = detect.HaarFaceDetector(min_neighbors=3)
    again = pickle.loads(pickle.dumps(detector))
    image = demo.load_demo_image()
    assert again.min_neighbors == 3 and again(image) == detector(image)


def test_bad_detector_arguments():
    _cv2_or_skip()
    with pytest.raises(ValueError, match="no Haar cascade"):
        detect.HaarFaceDetector(["no_such_cascade"])
    with pytest.raises(ValueError, match="scale_factor"):
        detect.HaarFaceDetector(scale_factor=1.0)
    with pytest.raises(ValueError, match="detector must be one of"):
        detect.detector("plates")


def test_importing_dp_pix_does_not_import_opencv():
    code = "import sys, dp_pix, dp_pix.regions, dp_pix.detect; print('cv2' in sys.modules)"
    root = str(Path(dp_pix.__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": root, "PATH": ""},
    )  # fmt: skip
    assert proc.stdout.strip() == "False"


# ------------------------------------------------------------ video: carry


def test_carry_covers_frames_before_and_after():
    a, b = (0, 0, 10, 10), (5, 5, 20, 20)
    frames = [[a], [], [], [], [b], [], [], [], [], [], []]
    out = detect.carry(frames, frames=2)
    assert out[0] == [a] and out[1] == [a] and out[2] == [a, b] and out[3] == [b]
    assert out[6] == [b] and out[7] == [] and out[10] == []
    assert detect.carry(frames, frames=0) == [[a], [], [], [], [b], [], [], [], [], [], []]
    assert detect.carry([]) == []


def test_carry_fills_a_gap_in_detections():
    """A face seen in frames 0-9 and 16-20 but missed in 10-15 is covered in
    every frame with the default hysteresis (a gap of up to 2·CARRY_FRAMES)."""
    face = (40, 40, 80, 90)
    seen = [[face] if t < 10 or t > 15 else [] for t in range(21)]
    carried = detect.carry(seen, frames=detect.CARRY_FRAMES)
    assert all(face in boxes for boxes in carried)
    assert detect.carry(seen, frames=2)[12] == []  # a smaller carry leaves it bare


def test_carry_takes_any_sequence_and_dedups():
    frames = ((np.array([1, 2, 3, 4]),), ([1, 2, 3, 4], (1, 2, 3, 4)))
    assert detect.carry(frames, frames=1) == [[(1, 2, 3, 4)], [(1, 2, 3, 4)]]
    with pytest.raises(ValueError, match="frames"):
        detect.carry([[]], frames=-1)
    with pytest.raises(ValueError, match="box"):
        detect.carry([[(1, 2, 3)]])


def test_carried_boxes_protect_each_frame():
    frames = np.full((6, 48, 64), 120, dtype=np.uint8)
    seen = [[(8, 8, 24, 24)], [], [], [], [], [(30, 10, 50, 40)]]
    carried = detect.carry(seen, frames=1)
    outs = dp_pix.dp_pixelate_batch(frames, block=8, epsilon=1, m="region", regions=carried, seed=1)
    for t, boxes in enumerate(carried):
        lay = regions.layout(boxes, (48, 64))
        mask = np.zeros((48, 64), bool)
        for x0, y0, x1, y1 in lay.boxes:
            mask[y0:y1, x0:x1] = True
        assert np.array_equal(outs[t][~mask], frames[t][~mask])
        assert mask.any() == (t not in (2, 3))  # more than a frame from both detections
