"""dp_pix.datasets: the real sets (skipped where absent) and synthetic folders."""

from __future__ import annotations

import csv
import hashlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from dp_pix import datasets
from dp_pix.datasets import (
    DATA_ENV,
    ImageDataset,
    Skipped,
    load_att_faces,
    load_image_folder,
    load_miniimagenet,
    load_omniglot,
)
from dp_pix.io import ImageReadError
from PIL import Image

RNG = np.random.default_rng(1994)


def _set_folder(data_root: Path, name: str, marker: str) -> Path:
    folder = data_root / name
    if not (folder / marker).exists():
        pytest.skip(
            f"real data set {name} not found at {folder} (set {DATA_ENV} to the folder holding "
            f"{name}/, or place it at ../shared/data next to the checkout)"
        )
    return folder


@pytest.fixture(scope="module")
def att_root(data_root: Path) -> Path:
    return _set_folder(data_root, "att_faces", "s1/1.pgm")


@pytest.fixture(scope="module")
def omniglot_root(data_root: Path) -> Path:
    return _set_folder(data_root, "omniglot", "images_background.zip")


@pytest.fixture(scope="module")
def mini_root(data_root: Path) -> Path:
    return _set_folder(data_root, "miniimagenet_sample", "labels.csv")


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ================================================================ real data: AT&T


def test_att_faces_real(att_root):
    ds = load_att_faces(att_root)
    assert len(ds) == 400 and ds.skipped == ()
    sums = {}
    for line in (att_root / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        sums[rel] = digest
    assert len(sums) == 400
    rels = [Path(p).relative_to(att_root).as_posix() for p in ds.paths]
    assert sorted(rels) == sorted(sums)
    for path, rel in zip(ds.paths, rels):
        assert _sha256(path) == sums[rel], f"{path} differs from SHA256SUMS"

    # subject order s1, s2, ..., s40 (numeric), images 1..10 within each
    assert rels[:11] == [f"s1/{i}.pgm" for i in range(1, 11)] + ["s2/1.pgm"]
    assert rels[-1] == "s40/10.pgm"
    np.testing.assert_array_equal(ds.labels, np.repeat(np.arange(40), 10))
    assert ds.labels.dtype == np.int64
    assert ds.class_names == tuple(f"s{i}" for i in range(1, 41))
    assert all(ds.class_names[label] == rel.split("/")[0] for label, rel in zip(ds.labels, rels))

    images = ds.as_array()
    assert images.shape == (400, 112, 92) and images.dtype == np.uint8
    # pixels against the raw PGM bytes, decoded without Pillow
    for i, path in enumerate(ds.paths):
        raw = Path(path).read_bytes()
        assert raw[:14] == b"P5\n92 112\n255\n"
        np.testing.assert_array_equal(images[i], np.frombuffer(raw[14:], np.uint8).reshape(112, 92))
    np.testing.assert_array_equal(ds[137], images[137])


def test_att_faces_through_the_environment(att_root, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(att_root.parent))
    ds = load_att_faces()
    assert len(ds) == 400 and Path(ds.root) == att_root


# ================================================================ real data: Omniglot


@pytest.mark.parametrize(
    ("subset", "images", "characters", "alphabets"),
    [("background", 19280, 964, 30), ("evaluation", 13180, 659, 20)],
)
def test_omniglot_real_counts_and_labels(omniglot_root, subset, images, characters, alphabets):
    with load_omniglot(omniglot_root, subset) as ds:
        assert len(ds) == images and ds.skipped == ()
        assert len(ds.class_names) == characters
        assert len(ds.label_sets["alphabet"].names) == alphabets
        np.testing.assert_array_equal(np.bincount(ds.labels), np.full(characters, 20))
        assert len(set(ds.paths)) == images
        assert ds.root.endswith(f"images_{subset}.zip")
        with zipfile.ZipFile(ds.root) as archive:
            pngs = [n for n in archive.namelist() if n.endswith(".png")]
        assert sorted(ds.paths) == sorted(f"{ds.root}/{n}" for n in pngs)
        # labels agree with the folders in each path
        for path, label, alphabet in zip(
            ds.paths[::97], ds.labels[::97], ds.label_sets["alphabet"].labels[::97]
        ):
            alpha, char = path.split("/")[-3:-1]
            assert ds.class_names[label] == f"{alpha}/{char}"
            assert ds.label_sets["alphabet"].names[alphabet] == alpha


def test_omniglot_real_pixels(omniglot_root):
    ds = load_omniglot(omniglot_root / "images_background.zip", "background")
    inverted = load_omniglot(omniglot_root, "background", invert=True)
    # a sample across the whole set, plus all of one alphabet
    alphabet = ds.label_sets["alphabet"].names.index("Korean")
    one_alphabet = np.flatnonzero(ds.label_sets["alphabet"].labels == alphabet)
    assert len(one_alphabet) == 40 * 20
    sample = np.unique(np.concatenate([np.arange(0, len(ds), 211), one_alphabet]))
    images = ds[sample].as_array()
    assert images.shape == (len(sample), 105, 105) and images.dtype == np.uint8
    assert set(np.unique(images)) == {0, 255}
    # strokes are the minority: black on white as stored, white on black inverted
    assert (images == 0).mean() < 0.2
    np.testing.assert_array_equal(inverted[sample].as_array(), 255 - images)
    # same pixels as Pillow on the member bytes
    with zipfile.ZipFile(omniglot_root / "images_background.zip") as archive:
        for i in sample[::50]:
            member = ds.paths[i].split(".zip/", 1)[1]
            with archive.open(member) as fp, Image.open(fp) as im:
                assert im.mode == "1" and im.size == (105, 105)
                np.testing.assert_array_equal(
                    np.asarray(im, dtype=np.uint8) * 255, images[np.searchsorted(sample, i)]
                )


def test_omniglot_unpacked_folder_matches_zip(omniglot_root, tmp_path):
    zipped = load_omniglot(omniglot_root, "evaluation")
    prefix = "images_evaluation/Keble/"
    with zipfile.ZipFile(omniglot_root / "images_evaluation.zip") as archive:
        members = [n for n in archive.namelist() if n.startswith(prefix)]
        archive.extractall(tmp_path, members)
    for where in (tmp_path, tmp_path / "images_evaluation"):
        unpacked = load_omniglot(where, "evaluation")
        assert len(unpacked) == 26 * 20
        keep = np.flatnonzero(
            np.array(zipped.label_sets["alphabet"].names)[zipped.label_sets["alphabet"].labels]
            == "Keble"
        )
        subset = zipped[keep]
        assert [p.split("images_evaluation/")[1] for p in unpacked.paths] == [
            p.split("images_evaluation/")[1] for p in subset.paths
        ]
        assert [unpacked.class_names[i] for i in unpacked.labels] == [
            subset.class_names[i] for i in subset.labels
        ]
        np.testing.assert_array_equal(unpacked[::37].as_array(), subset[::37].as_array())


# ================================================================ real data: miniImageNet


def test_miniimagenet_real(mini_root):
    ds = load_miniimagenet(mini_root)
    with open(mini_root / "labels.csv", newline="") as fp:
        rows = list(csv.DictReader(fp))
    assert len(ds) == len(rows) == 500 and ds.skipped == ()
    assert [Path(p).relative_to(mini_root).as_posix() for p in ds.paths] == [
        r["path"] for r in rows
    ]
    np.testing.assert_array_equal(ds.labels, [int(r["class_index"]) for r in rows])
    assert [ds.class_names[i] for i in ds.labels] == [r["wnid"] for r in rows]
    assert len(ds.class_names) == 100 and list(ds.class_names) == sorted(ds.class_names)
    split = ds.label_sets["ravi_split"]
    assert [split.names[i] for i in split.labels] == [r["ravi_split"] for r in rows]
    for path, row in zip(ds.paths, rows):
        assert _sha256(path) == row["sha256"], f"{path} differs from labels.csv"
    images = ds.as_array()
    assert images.shape == (500, 84, 84, 3) and images.dtype == np.uint8
    assert 30 < images.mean() < 220


def test_miniimagenet_plain_csv_and_folders(mini_root, tmp_path):
    reference = load_miniimagenet(mini_root)
    plain = tmp_path / "train.csv"
    with open(mini_root / "labels.csv", newline="") as fp, open(plain, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["filename", "label"])
        for row in csv.DictReader(fp):
            writer.writerow([Path(row["path"]).name, row["wnid"]])  # looked up in images/<label>/
    ds = load_miniimagenet(mini_root, csv=plain)
    assert ds.paths == reference.paths
    np.testing.assert_array_equal(ds.labels, reference.labels)
    assert ds.class_names == reference.class_names
    folders = load_miniimagenet(mini_root / "images")  # no CSV there: class folders
    assert sorted(folders.paths) == sorted(reference.paths)
    assert folders.class_names == reference.class_names
    np.testing.assert_array_equal(folders[:7].as_array(), reference[:7].as_array())


# ================================================================ synthetic: AT&T


def _write_att(root: Path, skip: tuple[str, ...] = ()) -> None:
    for s in range(1, 41):
        (root / f"s{s}").mkdir(parents=True, exist_ok=True)
        for i in range(1, 11):
            if f"s{s}/{i}.pgm" not in skip:
                value = np.full((112, 92), (s * 10 + i) % 256, dtype=np.uint8)
                Image.fromarray(value).save(root / f"s{s}/{i}.pgm")


def test_att_faces_synthetic(tmp_path):
    _write_att(tmp_path)
    (tmp_path / "README.txt").write_text("ignored")
    (tmp_path / "s41").mkdir()
    Image.fromarray(np.zeros((112, 92), np.uint8)).save(tmp_path / "s41" / "1.pgm")
    Image.fromarray(np.zeros((112, 92), np.uint8)).save(tmp_path / "s3" / "11.pgm")
    ds = load_att_faces(tmp_path)
    images = ds.as_array()
    expected = [(s * 10 + i) % 256 for s in range(1, 41) for i in range(1, 11)]
    np.testing.assert_array_equal(images[:, 0, 0], expected)
    np.testing.assert_array_equal(ds.labels, np.repeat(np.arange(40), 10))
    assert [Path(p).relative_to(tmp_path).as_posix() for p in (s.path for s in ds.skipped)] == [
        "s3/11.pgm",
        "s41/1.pgm",
    ]


def test_att_faces_missing_files_are_named(tmp_path):
    _write_att(tmp_path, skip=("s3/7.pgm", "s12/1.pgm"))
    with pytest.raises(FileNotFoundError, match="2 of 400 files missing: s3/7.pgm, s12/1.pgm"):
        load_att_faces(tmp_path)


def test_att_faces_wrong_size_and_corrupt(tmp_path):
    _write_att(tmp_path)
    Image.fromarray(np.zeros((100, 92), np.uint8)).save(tmp_path / "s5" / "2.pgm")
    (tmp_path / "s7" / "3.pgm").write_bytes(b"P5\n92 112\n255\n" + b"\x00" * 100)  # truncated
    ds = load_att_faces(tmp_path)
    assert len(ds) == 400  # listing does not decode
    with pytest.raises(ImageReadError, match=r"s5/2\.pgm.*expected an image of shape \(112, 92\)"):
        ds[41]
    with pytest.raises(ImageReadError, match=r"s7/3\.pgm"):
        ds[62]
    with pytest.raises(ImageReadError, match=r"s5/2\.pgm"):
        ds.as_array()
    skipping = load_att_faces(tmp_path, on_error="skip")
    assert len(skipping) == 398
    assert [Path(s.path).relative_to(tmp_path).as_posix() for s in skipping.skipped] == [
        "s5/2.pgm",
        "s7/3.pgm",
    ]
    assert "expected an image of shape" in skipping.skipped[0].reason
    labels = np.delete(np.repeat(np.arange(40), 10), [41, 62])
    np.testing.assert_array_equal(skipping.labels, labels)
    assert skipping.as_array().shape == (398, 112, 92)


def test_data_root_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=f"{DATA_ENV} is not set"):
        load_att_faces()
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no att_faces there"):
        load_att_faces()
    with pytest.raises(FileNotFoundError, match="no miniimagenet or miniimagenet_sample"):
        load_miniimagenet()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_omniglot(tmp_path / "nothing")
    _write_att(tmp_path / "att_faces")
    assert len(load_att_faces()) == 400
    with pytest.raises(ValueError, match="on_error"):
        load_att_faces(on_error="ignore")


# ================================================================ synthetic: folders


def _png(path: Path, value: int, size=(4, 6), mode="L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"L": (), "RGB": (3,)}[mode]
    Image.fromarray(np.full(size + channels, value, dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    _png(root / "c10" / "a.png", 1)
    _png(root / "c2" / "img10.png", 2)
    _png(root / "c2" / "img9.png", 3)
    _png(root / "c2" / "deeper" / "x.jpg", 4)
    _png(root / "b" / "z.bmp", 5, mode="RGB")
    _png(root / "loose.png", 6)  # not in a class folder
    (root / "README.md").write_text("ignored, not reported")
    (root / "c2" / "notes.txt").write_text("not an image")
    (root / "c2" / ".DS_Store").write_bytes(b"\x00\x01")
    _png(root / ".cache" / "c" / "y.png", 7)  # hidden folder
    (root / "empty").mkdir()
    return root


def test_image_folder_order_labels_and_skipped(folder):
    ds = load_image_folder(folder)
    rel = [Path(p).relative_to(folder).as_posix() for p in ds.paths]
    assert rel == ["b/z.bmp", "c2/deeper/x.jpg", "c2/img9.png", "c2/img10.png", "c10/a.png"]
    assert ds.class_names == ("b", "c2", "c10")
    np.testing.assert_array_equal(ds.labels, [0, 1, 1, 1, 2])
    skipped = {Path(s.path).relative_to(folder).as_posix(): s.reason for s in ds.skipped}
    assert skipped == {
        ".cache": "hidden folder, not searched",
        "c2/.DS_Store": "hidden file",
        "c2/notes.txt": "not an image file (.txt)",
        "loose.png": "not inside a class folder",
    }
    assert all(isinstance(s, Skipped) for s in ds.skipped)
    assert ds[0].shape == (4, 6, 3) and ds[1].shape == (4, 6)
    with pytest.raises(ValueError, match=r"images differ in shape: .*z\.bmp.*x\.jpg.*as_list"):
        ds.as_array()
    assert [im.shape for im in ds.as_list()] == [(4, 6, 3)] + [(4, 6)] * 4
    grey = load_image_folder(folder, mode="L").as_array()
    assert grey.shape == (5, 4, 6)
    np.testing.assert_array_equal(grey[:, 0, 0], [5, 4, 3, 2, 1])
    assert load_image_folder(folder, mode="RGB").as_array().shape == (5, 4, 6, 3)


def test_image_folder_corrupt_file(folder):
    bad = folder / "c2" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = load_image_folder(folder, mode="L")
    assert len(ds) == 6
    index = ds.paths.index(str(bad))
    with pytest.raises(ImageReadError, match="broken.png"):
        ds[index]
    with pytest.raises(ImageReadError, match="broken.png"):
        list(ds)
    skipping = load_image_folder(folder, mode="L", on_error="skip")
    assert len(skipping) == 5 and str(bad) not in skipping.paths
    assert skipping.skipped[-1].path == str(bad)
    assert skipping.skipped[-1].reason  # Pillow's words, which vary by version
    np.testing.assert_array_equal(skipping.labels, [0, 1, 1, 1, 2])


def test_image_folder_extensions_and_errors(folder, tmp_path):
    only_png = load_image_folder(folder, extensions=[".PNG"])
    assert len(only_png) == 3
    assert any(s.reason == "not an image file (.jpg)" for s in only_png.skipped)
    with pytest.raises(TypeError, match="extensions"):
        load_image_folder(folder, extensions=".png")
    with pytest.raises(NotADirectoryError):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="mode"):
        load_image_folder(folder, mode="P")


@pytest.mark.skipif(not hasattr(Path, "symlink_to"), reason="no symlinks")
def test_image_folder_follows_links_once(folder, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    _png(elsewhere / "q.png", 8)
    try:
        (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
        (folder / "c2" / "loop").symlink_to(folder, target_is_directory=True)
    except OSError as exc:  # e.g. Windows without the privilege
        pytest.skip(f"cannot create symlinks: {exc}")
    ds = load_image_folder(folder)
    assert "linked" in ds.class_names
    assert [Path(p).relative_to(folder).as_posix() for p in ds.paths].count("linked/q.png") == 1
    assert len(ds) == 6 and len(set(ds.paths)) == 6


# ================================================================ the data set object


def test_sequence_protocol(folder):
    ds = load_image_folder(folder, mode="L")
    assert isinstance(ds, ImageDataset) and len(ds) == 5
    first = ds[0]
    np.testing.assert_array_equal(ds[-5], first)
    np.testing.assert_array_equal(ds[np.int64(4)], ds[-1])
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(IndexError):
        ds[-6]
    with pytest.raises(TypeError, match="index"):
        ds[1.0]
    with pytest.raises(TypeError, match="index"):
        ds[True]

    tail = ds[1:4]
    assert isinstance(tail, ImageDataset) and len(tail) == 3
    assert tail.paths == ds.paths[1:4] and tail.class_names == ds.class_names
    np.testing.assert_array_equal(tail.labels, ds.labels[1:4])
    np.testing.assert_array_equal(tail.as_array(), ds.as_array()[1:4])
    picked = ds[[4, 0, -1]]
    assert picked.paths == (ds.paths[4], ds.paths[0], ds.paths[4])
    mask = ds[ds.labels == 1]
    assert len(mask) == 3 and set(mask.labels) == {1}
    assert len(ds[[]]) == 0 and len(ds[::-1]) == 5
    with pytest.raises(IndexError):
        ds[[0, 9]]
    with pytest.raises(IndexError):
        ds[np.array([True, False])]

    assert [im[0, 0] for im in ds] == [5, 4, 3, 2, 1]
    assert not ds.labels.flags.writeable
    assert "5 images" in repr(ds) and "3 classes" in repr(ds)
    with pytest.raises(ValueError, match="no images"):
        ds[[]].as_array()


def test_map_is_lazy_and_chains(folder):
    ds = load_image_folder(folder, mode="L")
    calls = []

    def double(image):
        calls.append(1)
        return image * 2

    doubled = ds.map(double)
    assert calls == []
    np.testing.assert_array_equal(doubled[1:3].as_array(), ds[1:3].as_array() * 2)
    assert len(calls) == 2
    twice = doubled.map(lambda im: im + 1)
    np.testing.assert_array_equal(twice[0], ds[0] * 2 + 1)
    with pytest.raises(TypeError, match="callable"):
        ds.map(3)


# ================================================================ synthetic: Omniglot


def _omniglot_zip(path: Path, top: str = "images_background", corrupt: str | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for alphabet in ("Beta", "Alpha"):
            for char in ("character02", "character10", "character01"):
                for drawer in (2, 1):
                    bits = RNG.integers(0, 2, size=(105, 105)).astype(np.uint8) * 255
                    buffer = _png_bytes(Image.fromarray(bits).convert("1"))
                    name = f"{top}/{alphabet}/{char}/0001_{drawer:02d}.png"
                    archive.writestr(name, b"garbage" if name == corrupt else buffer)
        archive.writestr(f"{top}/Alpha/README.txt", "stray")
        archive.writestr("__MACOSX/._x", "outside the subset")


def _png_bytes(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_omniglot_synthetic_zip(tmp_path):
    path = tmp_path / "images_background.zip"
    _omniglot_zip(path)
    ds = load_omniglot(path)
    assert len(ds) == 12
    assert ds.class_names == tuple(
        f"{a}/character{c}" for a in ("Alpha", "Beta") for c in ("01", "02", "10")
    )
    np.testing.assert_array_equal(ds.labels, np.repeat(np.arange(6), 2))
    np.testing.assert_array_equal(ds.label_sets["alphabet"].labels, np.repeat([0, 1], 6))
    assert ds.paths[0] == f"{path}/images_background/Alpha/character01/0001_01.png"
    assert [s.path for s in ds.skipped] == [f"{path}/images_background/Alpha/README.txt"]
    images = ds.as_array()
    assert images.shape == (12, 105, 105) and set(np.unique(images)) == {0, 255}
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[3], images[3])
    ds.close()
    np.testing.assert_array_equal(ds[3], images[3])  # reopens after close
    with pytest.raises(ValueError, match="subset="):
        load_omniglot(path, "evaluation")
    with pytest.raises(ValueError, match="subset must be"):
        load_omniglot(path, "train")
    with pytest.raises(TypeError, match="invert"):
        load_omniglot(path, invert=1)


def test_omniglot_corrupt_member(tmp_path):
    path = tmp_path / "images_evaluation.zip"
    bad = "images_evaluation/Beta/character10/0001_01.png"
    _omniglot_zip(path, "images_evaluation", corrupt=bad)
    ds = load_omniglot(tmp_path, "evaluation")
    with pytest.raises(ImageReadError, match=f"{path}/{bad}"):
        ds.as_array()
    skipping = load_omniglot(tmp_path, "evaluation", on_error="skip")
    assert len(skipping) == 11
    assert skipping.skipped[-1].path == f"{path}/{bad}"


def test_not_a_zip(tmp_path):
    path = tmp_path / "images_background.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(zipfile.BadZipFile, match="images_background.zip"):
        load_omniglot(path)


# ================================================================ synthetic: miniImageNet CSVs


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    for i, (wnid, name) in enumerate([("n02", "a.jpg"), ("n01", "b.jpg"), ("n02", "c.jpg")]):
        _png(tmp_path / "images" / name, 40 * i + 10, size=(84, 84), mode="RGB")
    return tmp_path


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fp:
        csv.writer(fp).writerows(rows)
    return path


def test_miniimagenet_csv_variants(mini):
    headerless = _write_csv(mini / "x.csv", [["a.jpg", "n02"], ["b.jpg", "n01"], ["c.jpg", "n02"]])
    ds = load_miniimagenet(mini, csv=headerless)
    assert ds.class_names == ("n01", "n02")
    np.testing.assert_array_equal(ds.labels, [1, 0, 1])
    assert ds.as_array().shape == (3, 84, 84, 3)
    assert [Path(p).name for p in ds.paths] == ["a.jpg", "b.jpg", "c.jpg"]
    indexed = _write_csv(
        mini / "y.csv",
        [
            ["path", "wnid", "class_index"],
            ["images/a.jpg", "n02", "0"],
            ["images/b.jpg", "n01", "1"],
        ],
    )
    ds = load_miniimagenet(mini, csv=indexed)
    assert ds.class_names == ("n02", "n01")
    np.testing.assert_array_equal(ds.labels, [0, 1])


@pytest.mark.parametrize(
    ("rows", "error", "message"),
    [
        (
            [["filename", "label"], ["a.jpg", "n02"], ["images/a.jpg", "n02"]],
            ValueError,
            "line 3 names the same image as line 2",
        ),
        (
            [["filename", "label"], ["a.jpg", "n02"], ["zzz.jpg", "n02"]],
            FileNotFoundError,
            r"1 of 2 files missing: zzz.jpg \(line 3\)",
        ),
        ([["name", "what", "else"], ["a.jpg", "n02", "x"]], ValueError, "cannot find the columns"),
        ([["filename", "label"], ["a.jpg"]], ValueError, "line 2 has 1 fields"),
        (
            [["filename", "label", "class_index"], ["a.jpg", "n02", "1"]],
            ValueError,
            "class_index must number",
        ),
        (
            [["filename", "label", "class_index"], ["a.jpg", "n02", "0"], ["c.jpg", "n02", "1"]],
            ValueError,
            "label n02 has class_index 1",
        ),
        ([], ValueError, "no rows"),
    ],
)
def test_miniimagenet_csv_errors(mini, rows, error, message):
    path = _write_csv(mini / "bad.csv", rows)
    with pytest.raises(error, match=message):
        load_miniimagenet(mini, csv=path)


def test_natural_order():
    names = ["s10", "s2", "s1", "s01", "a", "s2b", "S3"]
    assert datasets.files.sorted_paths(names) == ["S3", "a", "s01", "s1", "s2", "s2b", "s10"]
    assert datasets.files.sorted_paths(["b/1", "a10/2", "a9/3"]) == ["a9/3", "a10/2", "b/1"]
