"""`dp-pix pixelate --regions FILE / --detect faces / --pad / -m region`."""

from __future__ import annotations

import json
from pathlib import Path

import dp_pix
import numpy as np
import pytest
from dp_pix import cli, demo, pipeline, regions
from PIL import Image

RNG = np.random.default_rng(141)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


@pytest.fixture
def photos(tmp_path):
    """photos/a.png (RGB 60x80), photos/sub/b.png (grey 50x40)."""
    a = save(tmp_path / "photos" / "a.png", RNG.integers(0, 256, (60, 80, 3), dtype=np.uint8))
    b = save(tmp_path / "photos" / "sub" / "b.png", RNG.integers(0, 256, (50, 40), dtype=np.uint8))
    return tmp_path / "photos", load(a), load(b)


def write_json(path: Path, content) -> Path:
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def outside(shape, boxes) -> np.ndarray:
    mask = np.ones(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = False
    return mask


def test_json_regions_privatize_only_the_boxes(photos, tmp_path, capsys):
    folder, a, b = photos
    spec = write_json(
        tmp_path / "boxes.json",
        {"a.png": [[10, 10, 30, 40], [25, 35, 50, 50]], "sub/b.png": [[-5, 20, 100, 30]]},
    )
    out = tmp_path / "out"
    argv = ["pixelate", str(folder), "-o", str(out), "-b", "4", "-e", "1", "-m", "16",
            "--regions", str(spec), "--pad", "0", "--seed", "3"]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "inside the regions" in printed and "given the regions" in printed
    assert "regions: 2 box(es) in 2 file(s)" in printed

    used_a = [(10, 10, 50, 50)]  # the two boxes overlap: merged
    used_b = [(0, 20, 40, 30)]  # clipped to the image
    pa, pb = load(out / "a.png"), load(out / "sub" / "b.png")
    assert np.array_equal(pa[outside(a.shape, used_a)], a[outside(a.shape, used_a)])
    assert np.array_equal(pb[outside(b.shape, used_b)], b[outside(b.shape, used_b)])
    assert np.mean(pb[20:30] != b[20:30]) > 0.8

    record = json.loads((out / "dp-pix.json").read_text(encoding="utf-8"))
    files = record["regions"]["files"]
    assert files["a.png"] == {"boxes": [[10, 10, 50, 50]], "m": 16}
    assert files["sub/b.png"] == {"boxes": [[0, 20, 40, 30]], "m": 16}
    assert record["regions"]["file"] == str(spec) and record["regions"]["pad"] == 0
    assert record["parameters"]["regions"]["file_sha256"]
    want = dp_pix.Params(block=4, epsilon=1, m=16).describe(3, regions=True)["guarantee"]
    assert record["guarantees"]["3"]["guarantee"] == want
    assert "a face the detector misses has no protection" in want

    # the same bytes as the API on the same image, box and stream
    again = dp_pix.Pixelizer(block=4, epsilon=1, m=16, seed=3)(
        a, index=pipeline.noise_index("a.png"), regions=used_a
    )
    assert np.array_equal(again, pa)


def test_default_pad_and_m_region(photos, tmp_path):
    folder, _a, _ = photos
    spec = write_json(tmp_path / "r.json", {"a.png": [[20, 20, 40, 40]], "sub/b.png": []})
    out = tmp_path / "out"
    argv = ["pixelate", str(folder), "-o", str(out), "-b", "4", "-e", "1", "-m", "region",
            "--regions", str(spec)]  # fmt: skip
    assert cli.main(argv) == 0
    record = json.loads((out / "dp-pix.json").read_text(encoding="utf-8"))
    files = record["regions"]["files"]
    assert files["a.png"] == {"boxes": [[16, 16, 44, 44]], "m": 28 * 28}  # padded by 0.2
    assert files["sub/b.png"] == {"boxes": [], "m": "region"}
    assert record["regions"]["pad"] == regions.DEFAULT_PAD
    assert "m being the pixel count of the image's largest region" in (
        record["guarantees"]["3"]["guarantee"]
    )
    assert np.array_equal(load(out / "sub" / "b.png"), load(folder / "sub" / "b.png"))


def test_a_file_missing_from_the_regions_file_fails(photos, tmp_path, capsys):
    folder, _, _b = photos
    spec = write_json(tmp_path / "r.json", {"a.png": [[0, 0, 8, 8]]})
    out = tmp_path / "out"
    argv = ["pixelate", str(folder), "-o", str(out), "-b", "4", "-e", "1", "-m", "4",
            "--regions", str(spec)]  # fmt: skip
    assert cli.main(argv) == cli.EXIT_FAILURE
    assert "no entry for 'sub/b.png'" in capsys.readouterr().err
    assert (out / "a.png").exists() and not (out / "sub" / "b.png").exists()


def test_unknown_names_and_bad_files_are_refused(photos, tmp_path, capsys):
    folder, _, _ = photos
    out = tmp_path / "out"
    base = ["pixelate", str(folder), "-o", str(out), "-b", "4", "-e", "1", "-m", "4"]
    typo = write_json(tmp_path / "typo.json", {"a.png": [], "sub/b.png": [], "c.png": []})
    assert cli.main([*base, "--regions", str(typo)]) == cli.EXIT_USAGE
    assert "c.png" in capsys.readouterr().err and not out.exists()
    for content, message in (
        ([[0, 0, 1, 1]], "JSON object"),
        ({"a.png": [[0, 0, 1]]}, "not a box"),
        ({"a.png": {"x": []}}, "frame numbers"),
    ):
        bad = write_json(tmp_path / "bad.json", content)
        assert cli.main([*base, "--regions", str(bad)]) == cli.EXIT_USAGE
        assert message in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert cli.main([*base, "--regions", str(tmp_path / "broken.json")]) == cli.EXIT_USAGE
    assert "not a JSON file" in capsys.readouterr().err
    assert not out.exists()


def test_region_usage_errors(photos, tmp_path, capsys):
    folder, _, _ = photos
    base = ["pixelate", str(folder), "-o", str(tmp_path / "out"), "-b", "4", "-e", "1"]
    spec = write_json(tmp_path / "r.json", {})
    for extra, message in (
        (["-m", "region"], "-m region needs --regions"),
        (["-m", "4", "--pad", "0.1"], "--pad applies to"),
        (["-m", "4", "--regions", str(spec), "--output", "grid"], "--output full"),
        (["-m", "4", "--regions", str(spec), "--ray"], "--ray"),
    ):
        assert cli.main([*base, *extra]) == cli.EXIT_USAGE, extra
        assert message in capsys.readouterr().err
    assert cli.main([*base, "-m", "regio"]) == cli.EXIT_USAGE
    assert cli.main([*base, "-m", "4", "--regions", str(spec), "--pad", "-1"]) == cli.EXIT_USAGE


def test_video_frames_in_a_regions_file_are_read(tmp_path):
    spec = write_json(tmp_path / "v.json", {"clip.mp4": {"0": [[1, 2, 3, 4]], "7": []}})
    boxes, digest = regions.read_file(spec)
    finder = regions.Finder(boxes, source=str(spec), digest=digest)
    assert finder.frames("clip.mp4") == {0: [[1, 2, 3, 4]], 7: []}
    with pytest.raises(ValueError, match="per frame"):
        finder("clip.mp4", np.zeros((8, 8), np.uint8))


def test_resume_keeps_the_boxes_of_kept_files(photos, tmp_path):
    folder, _, _ = photos
    spec = write_json(tmp_path / "r.json", {"a.png": [[0, 0, 8, 8]], "sub/b.png": [[1, 1, 5, 5]]})
    out = tmp_path / "out"
    argv = ["pixelate", str(folder), "-o", str(out), "-b", "4", "-e", "1", "-m", "4",
            "--regions", str(spec), "--pad", "0"]  # fmt: skip
    assert cli.main(argv) == 0
    (out / "sub" / "b.png").unlink()
    assert cli.main([*argv, "--skip-existing"]) == 0
    record = json.loads((out / "dp-pix.json").read_text(encoding="utf-8"))
    assert set(record["regions"]["files"]) == {"a.png", "sub/b.png"}
    write_json(spec, {"a.png": [[0, 0, 9, 9]], "sub/b.png": []})  # other regions: refused
    assert cli.main([*argv, "--skip-existing"]) == cli.EXIT_USAGE


def test_detect_faces_on_the_demo_photograph(tmp_path):
    pytest.importorskip("cv2", reason="the faces extra (opencv-python-headless 4.x) is absent")
    photo = save(tmp_path / "in" / "astronaut.png", demo.load_demo_image())
    out = tmp_path / "out"
    argv = ["pixelate", str(photo), "-o", str(out), "-b", "8", "-e", "1", "-m", "region",
            "--detect", "faces"]  # fmt: skip
    assert cli.main(argv) == 0
    record = json.loads((out / "dp-pix.json").read_text(encoding="utf-8"))
    (box,) = record["regions"]["files"]["astronaut.png"]["boxes"]
    assert box == list(regions.grow([(86, 30, 139, 83)], 0.2, (256, 256))[0])
    assert record["regions"]["detect"] == "faces"
    private, original = load(out / "astronaut.png"), load(photo)
    keep = outside(original.shape, [box])
    assert np.array_equal(private[keep], original[keep])
    assert np.mean(private[~keep] != original[~keep]) > 0.9


def test_help_documents_the_regions_file(capsys):
    assert cli.main(["pixelate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--regions FILE" in text and "--detect" in text and "--pad FRACTION" in text
    assert '"a/x.jpg": [[10, 20, 110, 140]' in text and "frame numbers" in text
