"""dp_pix.huggingface on real ``datasets`` objects built from the AT&T faces
(no hub access: the tests run offline)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

# Before datasets is imported: never reach for the hub.
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

import dp_pix
import numpy as np
import pytest
from dp_pix.io import read_image
from dp_pix.pipeline import noise_index
from PIL import Image

datasets = pytest.importorskip("datasets", reason="pip install 'dp-pix[huggingface]'")
from dp_pix import huggingface as hf

P = dp_pix.Params(block=8, epsilon=1.0, m=16)
SEED = 2718


@pytest.fixture(scope="module")
def face_files(data_root: Path) -> list[Path]:
    root = data_root / "att_faces"
    if not root.is_dir():
        pytest.skip(f"the AT&T faces are not at {root} (set DP_PIX_DATA)")
    files = sorted(root.glob("s[1-6]/*.pgm"), key=lambda f: (int(f.parent.name[1:]), int(f.stem)))
    assert len(files) == 60
    return files


@pytest.fixture(scope="module")
def faces(face_files):
    """A Dataset of 60 faces (PGM bytes, as a Dataset built from files holds them) and labels."""
    return datasets.Dataset.from_dict(
        {
            "image": [{"bytes": f.read_bytes(), "path": None} for f in face_files],
            "label": [int(f.parent.name[1:]) for f in face_files],
        },
        features=datasets.Features(
            {"image": datasets.Image(), "label": datasets.Value("int64")}
        ),
    )


def stored(ds, column="image") -> list[bytes]:
    """The stored bytes of an Image column (what a release publishes)."""
    return [v["bytes"] for v in ds.cast_column(column, datasets.Image(decode=False))[column]]


def test_a_dataset_is_privatized_once_batched_and_on_two_processes(faces, face_files):
    one, record = hf.privatize(faces, P, seed=SEED, batch_size=7)
    two, record2 = hf.privatize(faces, P, seed=SEED, batch_size=16, num_proc=2)
    # the same seed gives the same bytes, whatever the batches and processes
    assert stored(one) == stored(two)
    # ... and they are the Pixelizer's, row i drawing image index i
    pixelizer = dp_pix.Pixelizer(P, seed=SEED)
    for i in (0, 13, 59):
        expected = pixelizer(read_image(face_files[i]), index=i)
        np.testing.assert_array_equal(np.asarray(one[i]["image"]), expected)
    image = two[5]["image"]
    assert image.mode == "L" and image.size == (92, 112)
    assert not np.array_equal(np.asarray(image), read_image(face_files[5]))
    # other columns and the features are unchanged; no path travels
    assert one["label"][:] == faces["label"][:]
    assert one.features == faces.features
    raw = one.cast_column("image", datasets.Image(decode=False))["image"]
    assert all(v["path"] is None for v in raw)
    # the record: in the info, returned, as the CLI writes it
    assert json.loads(one.info.description) == record
    assert hf.read_record(two) == record2
    assert record["record"] == "dp-pix privacy record" and record["tool"] == hf.TOOL
    assert record["status"] == "complete"
    assert record["parameters"] == {**P.to_dict(), "column": "image", "format": "png",
                                    "seeded": True}
    assert list(record["guarantees"]) == ["1"]
    assert record["guarantees"]["1"]["guarantee"] == P.describe(1)["guarantee"]
    assert record["counts"] == {"planned": 60, "written": 60, "failed": 0}
    assert record["inputs"] == [{"split": None, "column": "image", "rows": 60}]
    assert "secret key" in record["seed"]
    # the input keeps its own info
    assert faces.info.description == ""


def test_a_dataset_dict_privatizes_each_split(faces, face_files):
    dd = datasets.DatasetDict(
        {"train": faces.select(range(48)), "test": faces.select(range(48, 60))}
    )
    out, record = hf.privatize(dd, P, seed=SEED, num_proc=2, batch_size=10)
    assert isinstance(out, datasets.DatasetDict) and list(out) == ["train", "test"]
    assert [len(out[s]) for s in out] == [48, 12]
    for split in out.values():
        assert json.loads(split.info.description) == record
    assert hf.read_record(out) == record
    assert record["inputs"] == [
        {"split": "train", "column": "image", "rows": 48},
        {"split": "test", "column": "image", "rows": 12},
    ]
    assert record["counts"]["written"] == 60
    # row i of split s draws the stream noise_index("s/i"): the splits never share noise
    pixelizer = dp_pix.Pixelizer(P, seed=SEED)
    test_row = np.asarray(out["test"][3]["image"])
    np.testing.assert_array_equal(
        test_row, pixelizer(read_image(face_files[51]), index=noise_index("test/3"))
    )
    again, _ = hf.privatize(dd, P, seed=SEED)
    assert stored(again["train"]) == stored(out["train"])
    assert stored(again["test"]) == stored(out["test"])


def test_without_a_seed_each_call_is_a_new_release_read_back_unchanged(faces):
    small = faces.select(range(6))
    a, record = hf.privatize(small, P)
    b, _ = hf.privatize(small, P)
    assert stored(a) != stored(b)  # fresh OS randomness, never a cached result
    assert record["parameters"]["seeded"] is False and "no seed" in record["seed"]
    # reading the release again costs nothing: the same pixels every epoch
    assert np.array_equal(np.asarray(a[0]["image"]), np.asarray(a[0]["image"]))


def test_the_trap_an_on_the_fly_transform_draws_fresh_noise_at_every_read(faces):
    """What the docs warn about: with_transform privatizes at every read, so
    two epochs see two independent noisy copies of the same face."""
    def transform(batch):
        return {"image": [dp_pix.dp_pixelate(im, P) for im in batch["image"]]}

    lazy = faces.select(range(2)).with_transform(transform)
    first, second = np.asarray(lazy[0]["image"]), np.asarray(lazy[0]["image"])
    assert not np.array_equal(first, second)


def test_the_record_survives_save_and_load(faces, tmp_path):
    out, record = hf.privatize(faces.select(range(5)), P, seed=SEED)
    out.save_to_disk(str(tmp_path / "private"))
    loaded = datasets.load_from_disk(str(tmp_path / "private"))
    assert hf.read_record(loaded) == record
    assert stored(loaded) == stored(out)
    # a dataset on disk is privatized too (the map writes beside it)
    again, _ = hf.privatize(loaded, P, seed=SEED, num_proc=2)
    assert len(again) == 5


def colour_rows():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (10, 12, 4), dtype=np.uint8))
    palette = rgb.quantize(8)
    rows = []
    for im in (rgb, rgba, palette):
        buffer = io.BytesIO()
        im.save(buffer, format="PNG")
        rows.append({"bytes": buffer.getvalue(), "path": None})
    return rows


@pytest.mark.parametrize("mode, channels", [(None, 3), ("RGB", 3), ("L", 1), ("RGBA", 4)])
def test_file_rules_and_the_feature_mode(mode, channels):
    ds = datasets.Dataset.from_dict(
        {"picture": colour_rows()},
        features=datasets.Features({"picture": datasets.Image(mode=mode)}),
    )
    out, record = hf.privatize(ds, P, column="picture", seed=1)
    shapes = {np.asarray(im).shape for im in out["picture"][:]}
    assert shapes == {(10, 12, channels) if channels > 1 else (10, 12)}
    assert list(record["guarantees"]) == [str(channels)]
    assert record["guarantees"][str(channels)]["sensitivity_l1"] == 255 * 16 * channels
    assert out.features["picture"] == datasets.Image(mode=mode)


def test_refusals(faces):
    with pytest.raises(TypeError, match="dp_pix.Params"):
        hf.privatize(faces, {"block": 8})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no column 'img'.*'image', 'label'"):
        hf.privatize(faces, P, column="img")
    with pytest.raises(TypeError, match="not an Image feature"):
        hf.privatize(faces, P, column="label")
    with pytest.raises(TypeError, match="streamed"):
        hf.privatize(faces.to_iterable_dataset(), P)
    with pytest.raises(TypeError, match="datasets.Dataset"):
        hf.privatize([np.zeros((4, 4), np.uint8)], P)
    with pytest.raises(ValueError, match="seed must lie"):
        hf.privatize(faces, P, seed=-1)
    with pytest.raises(ValueError, match="batch_size"):
        hf.privatize(faces, P, batch_size=0)
    with pytest.raises(ValueError, match="Image\\(mode='P'\\)"):
        hf.privatize(faces.cast_column("image", datasets.Image(mode="P")), P)


def test_a_row_that_cannot_be_privatized_stops_the_run_naming_it(faces):
    big = P.replace(block=128, edges="crop")  # larger than a 92x112 face
    with pytest.raises(ValueError, match="row 0.*edges='crop'"):
        hf.privatize(faces.select(range(3)), big)
    holes = datasets.Dataset.from_dict(
        {"image": [colour_rows()[0], None]}, features=datasets.Features({"image": datasets.Image()})
    )
    with pytest.raises(ValueError, match="row 1: no image"):
        hf.privatize(holes, P)
    broken = datasets.Dataset.from_dict(
        {"image": [{"bytes": b"not an image", "path": None}]},
        features=datasets.Features({"image": datasets.Image()}),
    )
    with pytest.raises(ValueError, match="row 0.*cannot read image"):
        hf.privatize(broken, P)


def test_without_the_extra_the_import_error_names_it():
    code = (
        "import sys; sys.modules['datasets'] = None\n"
        "try:\n    import dp_pix.huggingface\n"
        "except ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'dp-pix[huggingface]'" in done.stdout
