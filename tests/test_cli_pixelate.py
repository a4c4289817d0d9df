"""`dp-pix pixelate`: files and folders end to end, through a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dp_pix
import numpy as np
import pytest
from dp_pix import pipeline
from PIL import ExifTags, Image

RNG = np.random.default_rng(20181)
# Huge epsilon, m = 1, 1x1 cells: the noise is 0 with probability 1 - 2e-4e6,
# so an output shows exactly what the input was converted to.
EXACT = ("-b", "1", "-e", "1e9", "-m", "1")
SMALL = ("-b", "8", "-e", "1", "-m", "4")
SECRET_SEED = 987654321987654321


def run_cli(*args: str, cwd: Path, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m dp_pix.cli ARGS`` on the dp_pix this test process imported."""
    proc = subprocess.run(
        [sys.executable, "-m", "dp_pix.cli", *map(str, args)],
        check=False,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        timeout=timeout,
        **kwargs,
    )
    proc.stdout = proc.stdout.decode("utf-8")
    proc.stderr = proc.stderr.decode("utf-8")
    return proc


def _env() -> dict[str, str]:
    package_root = str(Path(dp_pix.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def noise_image(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def save(path: Path, array_or_image, **params) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = (
        Image.fromarray(array_or_image)
        if isinstance(array_or_image, np.ndarray)
        else array_or_image
    )
    image.save(path, **params)
    return path


def load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def outputs(out: Path) -> set[str]:
    """Every file under ``out``, hidden ones included, as '/'-separated relative paths."""
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def record(out: Path) -> dict:
    return json.loads((out / "dp-pix.json").read_text(encoding="utf-8"))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def is_blocky(image: np.ndarray, block: int) -> bool:
    h, w = image.shape[:2]
    for y in range(0, h, block):
        for x in range(0, w, block):
            cell = image[y : y + block, x : x + block]
            if not np.all(cell == cell[:1, :1]):
                return False
    return True


# ------------------------------------------------------------------- help


def test_help_describes_the_command_and_version(tmp_path):
    top = run_cli("--help", cwd=tmp_path)
    assert top.returncode == 0
    assert "pixelate" in top.stdout
    sub = run_cli("pixelate", "--help", cwd=tmp_path)
    assert sub.returncode == 0
    for text in (
        "examples:",
        "dp-pix pixelate photos/",
        "(default: png)",
        "(default: partial)",
        "--skip-existing",
        "exit status",
        "alpha is dropped",
        "dp-pix.json",
    ):
        assert text in sub.stdout, text
    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith(f"dp-pix {dp_pix.__version__}")


def test_missing_required_option_is_a_usage_error(tmp_path):
    save(tmp_path / "a.png", noise_image((8, 8)))
    proc = run_cli("pixelate", "a.png", "-o", "out", "-b", "4", "-m", "4", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--epsilon" in proc.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------- folders and names


def test_folder_tree_is_mirrored_with_unicode_names(tmp_path):
    src = tmp_path / "photos"
    images = {
        "a.png": noise_image((40, 50, 3)),
        "sub/deeper/b.png": noise_image((33, 17)),
        "ünïcødé/照片 1.png": noise_image((16, 24, 3)),
    }
    for rel, array in images.items():
        save(src / rel, array)
    save(src / "c.jpg", noise_image((20, 20, 3)), quality=90)
    (src / "notes.txt").write_text("not an image", encoding="utf-8")
    save(src / ".hidden.png", noise_image((8, 8)))

    proc = run_cli("pixelate", "photos", "-o", "private", *SMALL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "private"
    assert outputs(out) == {
        "a.png",
        "c.png",
        "sub/deeper/b.png",
        "ünïcødé/照片 1.png",
        "dp-pix.json",
    }
    for rel, array in images.items():
        private = load(out / rel)
        assert private.shape == array.shape
        assert is_blocky(private, 8)
        assert not np.array_equal(private, array)
    rec = record(out)
    assert rec["counts"]["written"] == 4 and rec["counts"]["failed"] == 0
    assert rec["ignored"] == [
        str(Path("photos") / ".hidden.png") + " (hidden)", str(Path("photos") / "notes.txt")
    ]
    assert "4 written" in proc.stdout and "dp-pix.json" in proc.stdout
    assert proc.stderr == ""  # quiet off a terminal: no progress bar


def test_explicit_files_go_to_the_top_of_out(tmp_path):
    save(tmp_path / "x" / "one.png", noise_image((9, 9)))
    save(tmp_path / "y" / "two.jpg", noise_image((9, 9, 3)))
    proc = run_cli("pixelate", "x/one.png", "y/two.jpg", "-o", "out", *SMALL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert outputs(tmp_path / "out") == {"one.png", "two.png", "dp-pix.json"}


# ------------------------------------------------------------ bad and odd files


def _cmyk_jpeg(path: Path) -> Image.Image:
    image = Image.fromarray(noise_image((10, 12, 4)), "CMYK")
    save(path, image, quality=100)
    return image


def test_odd_pixel_formats_are_converted_as_documented(tmp_path):
    src = tmp_path / "in"
    one_by_one = save(src / "tiny.png", np.array([[200]], np.uint8))
    rgba = noise_image((12, 10, 4))
    save(src / "rgba.png", rgba)
    palette = Image.fromarray(noise_image((10, 10, 3))).quantize(16)
    save(src / "palette.png", palette)
    grey16 = RNG.integers(0, 65536, size=(10, 14), dtype=np.uint16)
    save(src / "grey16.png", Image.fromarray(grey16))
    save(src / "bits.png", Image.fromarray(noise_image((9, 9)) > 127))
    _cmyk_jpeg(src / "cmyk.jpg")
    with Image.open(src / "grey16.png") as im:
        assert im.mode.startswith("I")  # the file really is 16-bit
    with Image.open(src / "cmyk.jpg") as im:
        assert im.mode == "CMYK"
        cmyk_as_rgb = np.asarray(im.convert("RGB"))

    proc = run_cli("pixelate", "in", "-o", "out", *EXACT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    np.testing.assert_array_equal(load(out / "tiny.png"), load(one_by_one))
    np.testing.assert_array_equal(load(out / "rgba.png"), rgba[..., :3])  # alpha dropped
    np.testing.assert_array_equal(load(out / "palette.png"), np.asarray(palette.convert("RGB")))
    np.testing.assert_array_equal(load(out / "grey16.png"), (grey16 >> 8).astype(np.uint8))
    bits = load(out / "bits.png")
    assert bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 255}
    np.testing.assert_array_equal(load(out / "cmyk.png"), cmyk_as_rgb)
    assert sorted(record(out)["guarantees"]) == ["1", "3"]


def test_bad_files_are_reported_and_the_run_goes_on(tmp_path):
    src = tmp_path / "in"
    good = save(src / "good.png", noise_image((16, 16, 3)))
    jpeg = tmp_path / "j.jpg"
    save(jpeg, noise_image((64, 64, 3)), quality=90)
    (src / "corrupt.jpg").write_bytes(jpeg.read_bytes()[:300])  # truncated
    (src / "fake.png").write_bytes(b"this is text, not a PNG")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    save(src / "tiny.png", noise_image((3, 3)))

    proc = run_cli(
        "pixelate", "in", "notes.txt", "-o", "out", *SMALL, "--edges", "crop", cwd=tmp_path
    )
    assert proc.returncode == 1
    out = tmp_path / "out"
    assert outputs(out) == {"good.png", "dp-pix.json"}
    assert load(out / "good.png").shape == load(good).shape
    failures = {f["path"]: f["reason"] for f in record(out)["failures"]}
    assert set(failures) == {
        str(Path("in") / "corrupt.jpg"),
        str(Path("in") / "fake.png"),
        "notes.txt",
        str(Path("in") / "tiny.png"),
    }
    assert all(failures.values())
    assert "crop" in failures[str(Path("in") / "tiny.png")]  # 3x3 is smaller than a cell
    for path in failures:
        assert path in proc.stderr
    assert record(out)["counts"] == {
        "planned": 5,
        "written": 1,
        "already_present": 0,
        "failed": 4,
        "not_done": 0,
        "ignored": 0,
    }


@pytest.mark.parametrize("fmt", ["png", "jpeg", "same"])
def test_no_exif_or_gps_reaches_the_output(tmp_path, fmt):
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.5)
    photo = save(
        tmp_path / "in" / "photo.jpg",
        noise_image((48, 64, 3)),
        exif=exif.tobytes(),
        comment=b"SecretComment",
    )
    with Image.open(photo) as im:  # the input really carries them
        assert im.getexif().get(ExifTags.Base.Make) == "SecretCam"
        assert im.getexif().get_ifd(ExifTags.IFD.GPSInfo)

    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, "--format", fmt, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (written,) = [p for p in (tmp_path / "out").iterdir() if p.name != "dp-pix.json"]
    data = written.read_bytes()
    for secret in (b"SecretCam", b"SecretComment", b"Exif"):
        assert secret not in data
    with Image.open(written) as im:
        assert len(im.getexif()) == 0
        assert "exif" not in im.info and "comment" not in im.info


# -------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("png", {"a.png": "PNG", "b.png": "PNG", "c.png": "PNG", "d.png": "PNG"}),
        ("jpeg", {"a.jpg": "JPEG", "b.jpg": "JPEG", "c.jpg": "JPEG", "d.jpg": "JPEG"}),
        ("same", {"a.png": "PNG", "b.jpg": "JPEG", "c.bmp": "BMP", "d.png": "PNG"}),
    ],
)
def test_format(tmp_path, fmt, expected):
    src = tmp_path / "in"
    save(src / "a.png", noise_image((20, 30)))
    save(src / "b.jpg", noise_image((20, 30, 3)))
    save(src / "c.bmp", noise_image((20, 30, 3)))
    save(src / "d.pcx", noise_image((20, 30, 3)))  # --format same cannot keep PCX: PNG
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, "--format", fmt, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert outputs(out) == {*expected, "dp-pix.json"}
    for name, format_name in expected.items():
        with Image.open(out / name) as im:
            assert im.format == format_name
            assert im.size == (30, 20)
    assert record(out)["parameters"]["format"] == fmt


@pytest.mark.parametrize(
    ("edges", "output", "shape"),
    [
        ("partial", "full", (37, 50)),
        ("partial", "grid", (5, 7)),
        ("pad", "grid", (5, 7)),
        ("crop", "full", (32, 48)),
        ("crop", "grid", (4, 6)),
    ],
)
def test_output_sizes(tmp_path, edges, output, shape):
    save(tmp_path / "in" / "img.png", noise_image((37, 50, 3)))
    proc = run_cli(
        "pixelate",
        "in",
        "-o",
        "out",
        "-b",
        "8",
        "-e",
        "1",
        "-m",
        "4",
        "--edges",
        edges,
        "--output",
        output,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert load(tmp_path / "out" / "img.png").shape == (*shape, 3)


def test_rectangular_blocks(tmp_path):
    save(tmp_path / "in" / "img.png", noise_image((37, 50)))
    proc = run_cli(
        "pixelate",
        "in",
        "-o",
        "out",
        "-b",
        "4x10",
        "-e",
        "1",
        "-m",
        "4",
        "--output",
        "grid",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert load(tmp_path / "out" / "img.png").shape == (10, 5)
    assert record(tmp_path / "out")["parameters"]["block"] == [4, 10]


# ------------------------------------------------------------------- seeds


def test_seed_gives_the_same_bytes_for_any_jobs_and_never_reuses_noise(tmp_path):
    src = tmp_path / "in"
    twin = noise_image((24, 24, 3))
    for i in range(4):  # four copies of one image: each must get its own noise
        save(src / f"copy{i}.png", twin)
    for i in range(10):
        save(src / f"dir{i % 3}" / f"img{i}.png", noise_image((20 + i, 30, 3)))
    args = ("pixelate", "in", *SMALL, "--seed", "5")
    one = run_cli(*args, "-o", "j1", "--jobs", "1", cwd=tmp_path)
    two = run_cli(*args, "-o", "j2", "--jobs", "2", cwd=tmp_path)
    assert one.returncode == two.returncode == 0
    a = snapshot(tmp_path / "j1")
    b = snapshot(tmp_path / "j2")
    a.pop("dp-pix.json"), b.pop("dp-pix.json")
    assert len(a) == 14 and a == b
    copies = [load(tmp_path / "j1" / f"copy{i}.png") for i in range(4)]
    for i in range(4):
        for j in range(i):
            assert not np.array_equal(copies[i], copies[j])

    other = run_cli("pixelate", "in", *SMALL, "--seed", "6", "-o", "s6", cwd=tmp_path)
    unseeded = run_cli("pixelate", "in", *SMALL, "-o", "u1", cwd=tmp_path)
    assert other.returncode == unseeded.returncode == 0
    assert load(tmp_path / "s6" / "copy0.png").tobytes() != copies[0].tobytes()
    assert load(tmp_path / "u1" / "copy0.png").tobytes() != copies[0].tobytes()


def test_pixelizer_index_picks_the_noise_of_that_image():
    images = [noise_image((17, 23, 3)) for _ in range(3)]
    params = {"block": 4, "epsilon": 1.0, "m": 2, "seed": 9}
    batch = dp_pix.Pixelizer(**params).batch(images)
    px = dp_pix.Pixelizer(**params)
    np.testing.assert_array_equal(px(images[2], index=2), batch[2])
    np.testing.assert_array_equal(px(images[1], index=1), batch[1])
    np.testing.assert_array_equal(px(images[0]), batch[0])  # explicit indices left the counter
    with pytest.raises(ValueError, match="index"):
        px(images[0], index=-1)
    with pytest.raises(TypeError, match="index"):
        px(images[0], index="1")


# ------------------------------------------------------------------- record


def test_privacy_record(tmp_path):
    save(tmp_path / "in" / "grey.png", noise_image((20, 20)))
    save(tmp_path / "in" / "colour.png", noise_image((20, 20, 3)))
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    proc = run_cli(
        "pixelate",
        "in",
        "-o",
        "out",
        "-b",
        "4",
        "-e",
        "0.5",
        "-m",
        "16",
        "--mechanism",
        "gaussian",
        "--delta",
        "1e-6",
        "--edges",
        "pad",
        "--seed",
        SECRET_SEED,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    text = (tmp_path / "out" / "dp-pix.json").read_text(encoding="utf-8")
    for secret in (
        str(SECRET_SEED),
        hex(SECRET_SEED)[2:],
        SECRET_SEED.to_bytes(32, "little").hex(),
    ):
        assert secret not in text
    rec = json.loads(text)
    assert rec["version"] == dp_pix.__version__
    assert rec["status"] == "complete"
    assert rec["parameters"] == {
        "block": [4, 4],
        "epsilon": 0.5,
        "m": 16,
        "mechanism": "gaussian",
        "delta": 1e-6,
        "rho": None,
        "edges": "pad",
        "output": "full",
        "format": "png",
        "seeded": True,
    }
    px = dp_pix.Pixelizer(block=4, epsilon=0.5, m=16, mechanism="gaussian", delta=1e-6, edges="pad")
    assert rec["guarantees"] == {str(c): json.loads(json.dumps(px.describe(c))) for c in (1, 3)}
    assert rec["counts"] == {
        "planned": 3,
        "written": 2,
        "already_present": 0,
        "failed": 1,
        "not_done": 0,
        "ignored": 0,
    }
    assert rec["failures"][0]["path"] == str(Path("in") / "broken.png")
    assert rec["failures"][0]["reason"]
    assert "(0.5, 1e-06)-DP" in proc.stdout

    unseeded = run_cli("pixelate", "in/grey.png", "-o", "out2", *SMALL, cwd=tmp_path)
    assert unseeded.returncode == 0
    rec = record(tmp_path / "out2")
    assert rec["parameters"]["seeded"] is False
    assert list(rec["guarantees"]) == ["1"]


# ----------------------------------------------------------------- refusals


@pytest.fixture
def tree(tmp_path):
    save(tmp_path / "in" / "a.png", noise_image((10, 10)))
    save(tmp_path / "in" / "sub" / "b.png", noise_image((10, 10)))
    return tmp_path


@pytest.mark.parametrize(
    ("inputs", "out", "message"),
    [
        (["in"], "in/private", "inside the input folder"),
        (["in"], "in/sub", "inside the input folder"),
        (["in"], "in", "itself"),
        (["in/sub"], ".", "inside OUT"),
        (["in/a.png"], "in", "inside OUT"),  # beside its input
        (["in/a.png"], "in/a.png", "itself"),
        (["in", "in/sub/b.png"], "out", "twice"),
        (["in", "in/sub"], "out", "twice"),
        (["missing.png"], "out", "no such file"),
    ],
)
def test_unsafe_runs_are_refused_before_any_work(tree, inputs, out, message):
    before = snapshot(tree)
    proc = run_cli("pixelate", *inputs, "-o", out, *SMALL, cwd=tree)
    assert proc.returncode == 2
    assert proc.stderr.startswith("dp-pix: error: refused, nothing written")
    if message:
        assert message in proc.stderr
    assert snapshot(tree) == before
    assert not (tree / "out").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_links(tree):
    save(tree / "elsewhere" / "c.png", noise_image((10, 10)))
    os.symlink(tree / "elsewhere", tree / "in" / "folder_link")  # not followed
    os.symlink(tree / "elsewhere" / "c.png", tree / "in" / "file_link.png")  # read
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, cwd=tree)
    assert proc.returncode == 0, proc.stderr
    assert outputs(tree / "out") == {"a.png", "sub/b.png", "file_link.png", "dp-pix.json"}
    assert record(tree / "out")["ignored"] == [
        str(Path("in") / "folder_link") + " (link to a folder, not followed)"
    ]

    os.symlink(tree / "in" / "a.png", tree / "in" / "sub" / "again.png")
    twice = run_cli("pixelate", "in", "-o", "out2", *SMALL, cwd=tree)
    assert twice.returncode == 2 and "twice" in twice.stderr
    (tree / "in" / "sub" / "again.png").unlink()

    os.symlink(tree / "out" / "a.png", tree / "in" / "sub" / "into_out.png")
    into = run_cli("pixelate", "in", "-o", "out", *SMALL, "--overwrite", cwd=tree)
    assert into.returncode == 2 and "link into OUT" in into.stderr


def test_two_inputs_to_one_output_name_are_refused(tree):
    save(tree / "in" / "a.jpg", noise_image((10, 10, 3)))  # a.jpg and a.png -> a.png
    save(tree / "other" / "A.PNG", noise_image((10, 10)))  # and, on macOS, A.png
    proc = run_cli("pixelate", "in", "other", "-o", "out", *SMALL, cwd=tree)
    assert proc.returncode == 2
    assert "same output file" in proc.stderr
    for name in ("a.jpg", "a.png", "A.PNG"):
        assert name in proc.stderr
    assert not (tree / "out").exists()
    ok = run_cli("pixelate", "in", "-o", "out", *SMALL, "--format", "same", cwd=tree)
    assert ok.returncode == 0, ok.stderr  # the names differ when the suffix is kept


def test_existing_outputs_are_not_overwritten_without_a_flag(tree):
    first = run_cli("pixelate", "in", "-o", "out", *SMALL, cwd=tree)
    assert first.returncode == 0
    before = snapshot(tree / "out")
    again = run_cli("pixelate", "in", "-o", "out", *SMALL, cwd=tree)
    assert again.returncode == 2
    assert "a.png" in again.stderr and "--skip-existing" in again.stderr
    assert snapshot(tree / "out") == before

    replaced = run_cli("pixelate", "in", "-o", "out", *SMALL, "--overwrite", cwd=tree)
    assert replaced.returncode == 0
    after = snapshot(tree / "out")
    assert after.keys() == before.keys()
    assert after["a.png"] != before["a.png"]  # fresh noise

    skipped = run_cli("pixelate", "in", "-o", "out", *SMALL, "--skip-existing", cwd=tree)
    assert skipped.returncode == 0
    assert record(tree / "out")["counts"]["already_present"] == 2
    assert {k: v for k, v in snapshot(tree / "out").items() if k != "dp-pix.json"} == {
        k: v for k, v in after.items() if k != "dp-pix.json"
    }

    both = run_cli(
        "pixelate", "in", "-o", "out", *SMALL, "--skip-existing", "--overwrite", cwd=tree
    )
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_unrelated_files_in_out_are_fine(tree):
    save(tree / "out" / "keep.png", noise_image((4, 4)))
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, cwd=tree)
    assert proc.returncode == 0, proc.stderr
    assert outputs(tree / "out") == {"keep.png", "a.png", "sub/b.png", "dp-pix.json"}


def test_skip_existing_keeps_only_outputs_of_the_same_parameters(tree):
    save(tree / "out" / "a.png", load(tree / "in" / "a.png"))  # the original, not private
    foreign = run_cli("pixelate", "in", "-o", "out", *SMALL, "--skip-existing", cwd=tree)
    assert foreign.returncode == 2
    assert "dp-pix.json" in foreign.stderr

    first = run_cli("pixelate", "in", "-o", "new", "-b", "8", "-e", "1", "-m", "4", cwd=tree)
    assert first.returncode == 0
    (tree / "new" / "a.png").unlink()
    other = run_cli(
        "pixelate", "in", "-o", "new", "-b", "8", "-e", "2", "-m", "4", "--skip-existing", cwd=tree
    )
    assert other.returncode == 2
    assert "epsilon" in other.stderr
    assert not (tree / "new" / "a.png").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--mechanism", "gaussian"), "--delta"),
        (("--delta", "1e-6"), "--mechanism gaussian"),
        (("--delta", "1.5", "--mechanism", "gaussian"), "between 0 and 1"),
        (("--block", "0"), ">= 1"),
        (("--block", "4x"), "whole number"),
        (("--jobs", "0"), ">= 1"),
    ],
)
def test_bad_options_are_usage_errors(tree, extra, message):
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, *extra, cwd=tree)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tree / "out").exists()


# ------------------------------------------------------------ interruption


def test_killed_run_leaves_whole_files_and_resumes(tmp_path):
    src = tmp_path / "in"
    count = 300
    for i in range(count):
        # the first 20 files in the plan's order are grey: all done before the kill
        shape = (192, 192) if i % 4 == 0 and i < 80 else (192, 192, 3)
        save(src / f"d{i % 4}" / f"img_{i:04d}.png", noise_image(shape))
    args = ("pixelate", "in", "-b", "4", "-e", "1", "-m", "4", "--seed", "11", "--jobs", "1")
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-m", "dp_pix.cli", *args, "-o", "out"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if len(list(out.glob("d*/img_*.png"))) >= 40:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    done = sorted(out.glob("d*/img_*.png"))
    assert 40 <= len(done) < count, "the run was not killed mid-way"
    assert record(out)["status"] == "running"

    # A full run with the same seed, for reference.
    reference = run_cli(*args, "-o", "reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    expected = snapshot(tmp_path / "reference")
    expected.pop("dp-pix.json")
    # Every visible output of the killed run is whole and final.
    for path in done:
        assert path.read_bytes() == expected[path.relative_to(out).as_posix()]
    visible = {p for p in outputs(out) if not p.rsplit("/", 1)[-1].startswith(".")}
    assert visible <= {*expected, "dp-pix.json"}

    stale = out / "d3" / ".img_0299.png.0123456789ab.tmp"  # as a kill mid-write leaves it
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"half a PNG")
    refused = run_cli(*args, "-o", "out", cwd=tmp_path)
    assert refused.returncode == 2  # neither --skip-existing nor --overwrite
    resumed = run_cli(*args, "-o", "out", "--skip-existing", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    final = snapshot(out)
    rec = json.loads(final.pop("dp-pix.json"))
    assert final == expected  # every file, byte for byte, and no temporary file left
    assert rec["status"] == "complete"
    assert rec["counts"]["already_present"] == len(done)
    assert rec["counts"]["written"] == count - len(done)
    assert sorted(rec["guarantees"]) == ["1", "3"]  # grey files were all made before the kill


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_cleanly_with_a_true_record(tmp_path):
    for i in range(200):
        save(tmp_path / "in" / f"img_{i:03d}.png", noise_image((192, 192, 3)))
    out = tmp_path / "out"
    # A shell may start this test with SIGINT ignored (a background job), and the
    # child would inherit that; a terminal's Ctrl-C raises KeyboardInterrupt.
    as_from_a_terminal = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from dp_pix.cli import main; sys.exit(main())"
    )
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            as_from_a_terminal,
            "pixelate",
            "in",
            "-o",
            "out",
            "-b",
            "4",
            "-e",
            "1",
            "-m",
            "4",
            "--jobs",
            "2",
        ],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("img_*.png"))) < 20:
        time.sleep(0.005)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert b"Traceback" not in err
    written = {p.name for p in out.iterdir() if not p.name.startswith(".")} - {"dp-pix.json"}
    assert 20 <= len(written) < 200, "Ctrl-C did not arrive mid-way"
    rec = record(out)
    assert rec["status"] == "interrupted"
    assert rec["counts"]["written"] == len(written)  # files that finished after Ctrl-C too
    assert list(rec["guarantees"]) == ["3"]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------- progress


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bar_only_on_a_terminal(tmp_path):
    import pty

    for i in range(20):
        save(tmp_path / "in" / f"{i}.png", noise_image((16, 16)))
    quiet = run_cli("pixelate", "in", "-o", "quiet", *SMALL, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "20 written" in quiet.stdout

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dp_pix.cli", "pixelate", "in", "-o", "tty", *SMALL],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=300,
            check=False,
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0
    bar = b"".join(chunks).decode("utf-8", "replace")
    assert "20/20" in bar and "file/s" in bar
    assert b"20 written" in proc.stdout


def test_output_names():
    assert pipeline.output_name("x.JPG", "png") == "x.png"
    assert pipeline.output_name("x.JPG", "jpeg") == "x.jpg"
    assert pipeline.output_name("x.JPG", "same") == "x.JPG"
    assert pipeline.output_name("x.psd", "same") == "x.png"
    assert pipeline.output_name("noext", "png") == "noext.png"


def test_plan_numbers_files_in_sorted_output_order(tree):
    save(tree / "in" / "0.png", noise_image((4, 4)))
    save(tree / "lone.png", noise_image((4, 4)))
    plan = pipeline.make_plan([tree / "lone.png", tree / "in"], tree / "out")
    assert [job.rel for job in plan.jobs] == ["0.png", "a.png", "lone.png", "sub/b.png"]
    assert [job.number for job in plan.jobs] == [0, 1, 2, 3]
    # the noise index is a hash of the output path alone
    assert [job.stream for job in plan.jobs] == [pipeline.noise_index(j.rel) for j in plan.jobs]
    assert not (tree / "out").exists()  # planning writes nothing


def test_noise_index_is_a_hash_of_the_output_path():
    import hashlib

    digest = hashlib.sha256(b"sub/b.png").digest()
    assert pipeline.noise_index("sub/b.png") == int.from_bytes(digest[:8], "big") & (2**63 - 1)
    assert pipeline.noise_index("ünï/照片.png") != pipeline.noise_index("unï/照片.png")
    undecodable = os.fsdecode(b"caf\xe9.png")  # a Latin-1 name on a UTF-8 system
    digest = hashlib.sha256(b"caf\xe9.png").digest()
    assert pipeline.noise_index(undecodable) == int.from_bytes(digest[:8], "big") & (2**63 - 1)


def test_two_outputs_with_one_noise_index_are_refused(tree, monkeypatch):
    # 63-bit hashes do not collide in practice: force it.
    monkeypatch.setattr(pipeline.plan, "noise_index", lambda rel: 7)
    with pytest.raises(pipeline.RefusedError, match="same noise index") as refused:
        pipeline.make_plan([tree / "in"], tree / "out")
    assert "a.png" in str(refused.value) and "sub/b.png" in str(refused.value)
    assert not (tree / "out").exists()


def test_seeded_bytes_depend_on_the_output_path_only(tree):
    save(tree / "in" / "sub" / "c.png", noise_image((12, 12, 3)))
    args = ("pixelate", *SMALL, "--seed", "8")
    full = run_cli(*args, "in", "-o", "full", cwd=tree)
    alone = run_cli(*args, "in/a.png", "-o", "alone", cwd=tree)  # no other files
    part = run_cli(*args, "in/sub", "-o", "part", cwd=tree)  # sub/c.png becomes c.png
    assert full.returncode == part.returncode == alone.returncode == 0
    assert (tree / "full" / "a.png").read_bytes() == (tree / "alone" / "a.png").read_bytes()
    assert (tree / "full" / "sub" / "c.png").read_bytes() != (tree / "part" / "c.png").read_bytes()


@pytest.mark.parametrize(
    "bad",
    [
        ["-m", "9223372036854775808"],
        ["-m", "1" + "0" * 29],
        ["-b", "99999999999999999999999"],
        ["-b", "268435456", "--edges", "pad"],
        ["-e", "1e-300"],
        ["--mechanism", "gaussian", "--rho", "1e-300", "-e", None],
    ],
    ids=str,
)
def test_parameters_the_core_cannot_use_are_one_usage_error(tmp_path, bad):
    """Checked once by dp_pix.Params, before any file is read: exit 2, one line, no traceback."""
    for i in range(3):
        save(tmp_path / "in" / f"{i}.png", noise_image((8, 8)))
    args = {"-b": "4", "-e": "1", "-m": "4"}
    extra = []
    for flag, value in zip(bad[::2], bad[1::2]):
        if flag in args:
            if value is None:
                del args[flag]
            else:
                args[flag] = value
        else:
            extra += [flag, value]
    flat = [x for kv in args.items() for x in kv] + extra
    proc = run_cli("pixelate", "in", "-o", "out", *flat, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "must be <=" in proc.stderr or "too small" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_gaussian_with_a_zcdp_budget(tmp_path):
    save(tmp_path / "a.png", noise_image((8, 8, 3)))
    proc = run_cli("pixelate", "a.png", "-o", "out", "-b", "4", "-m", "2",
                   "--mechanism", "gaussian", "--rho", "0.5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0.5-zCDP" in proc.stdout
    rec = json.loads((tmp_path / "out" / "dp-pix.json").read_text(encoding="utf-8"))
    assert rec["parameters"]["rho"] == 0.5 and rec["parameters"]["epsilon"] is None
    both = run_cli("pixelate", "a.png", "-o", "o2", "-b", "4", "-m", "2", "-e", "1",
                   "--mechanism", "gaussian", "--rho", "0.5", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
