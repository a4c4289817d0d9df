"""dp_pix.io: reading any image file as uint8, writing atomically without metadata."""

from __future__ import annotations

import io
import os
import stat

import numpy as np
import pytest
from dp_pix.io import READ_MODES, ImageReadError, read_image, read_image_file, write_image
from PIL import ExifTags, Image, PngImagePlugin

RNG = np.random.default_rng(20180704)


def _random(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _save(path, image: Image.Image, fmt: str | None = None, **params) -> str:
    image.save(path, format=fmt, **params)
    return str(path)


def _mode(path) -> str:
    with Image.open(path) as image:
        return image.mode


def _secret_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SecretCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 1.5)
    return exif


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("suffix", [".png", ".pgm", ".bmp", ".tif"])
def test_grey_round_trip_is_exact(tmp_path, suffix):
    array = _random((7, 5))
    path = _save(tmp_path / f"g{suffix}", Image.fromarray(array))
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (7, 5)
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable and out.flags.c_contiguous


def test_rgb_round_trip_and_modes(tmp_path):
    array = _random((6, 9, 3))
    path = _save(tmp_path / "c.png", Image.fromarray(array))
    np.testing.assert_array_equal(read_image(path), array)
    np.testing.assert_array_equal(read_image(path, "RGB"), array)
    rgba = read_image(path, "RGBA")
    assert rgba.shape == (6, 9, 4)
    np.testing.assert_array_equal(rgba[..., :3], array)
    assert (rgba[..., 3] == 255).all()
    grey = read_image(path, "L")
    r, g, b = (array[..., i].astype(float) for i in range(3))
    luma = (299 * r + 587 * g + 114 * b) / 1000  # ITU-R 601-2, as documented
    assert grey.shape == (6, 9)
    assert np.abs(grey - luma).max() <= 1


def test_grey_to_rgb_repeats_the_channel(tmp_path):
    array = _random((4, 3))
    path = _save(tmp_path / "g.png", Image.fromarray(array))
    out = read_image(path, "RGB")
    assert out.shape == (4, 3, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], array)


def test_rgba_alpha_dropped_unless_asked(tmp_path):
    array = _random((5, 4, 4))
    array[0, 0, 3] = 0  # a fully transparent pixel keeps its stored colour
    path = _save(tmp_path / "a.png", Image.fromarray(array))
    np.testing.assert_array_equal(read_image(path), array[..., :3])
    np.testing.assert_array_equal(read_image(path, keep_alpha=True), array)
    np.testing.assert_array_equal(read_image(path, "RGBA"), array)


def test_grey_alpha(tmp_path):
    array = _random((5, 4, 2))
    path = _save(tmp_path / "la.png", Image.fromarray(array))
    np.testing.assert_array_equal(read_image(path), array[..., 0])
    np.testing.assert_array_equal(read_image(path, keep_alpha=True), array)


def test_one_bit_becomes_0_and_255(tmp_path):
    bits = RNG.integers(0, 2, size=(9, 11)).astype(bool)
    image = Image.fromarray(bits.astype(np.uint8) * 255).convert("1")
    path = _save(tmp_path / "b.png", image)
    assert _mode(path) == "1"
    out = read_image(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.where(bits, 255, 0))


def test_16_bit_png_keeps_the_high_byte(tmp_path):
    values = np.array([[0, 255, 256, 511], [32768, 65280, 65534, 65535]], dtype=np.uint16)
    path = _save(tmp_path / "d.png", Image.fromarray(values))
    assert _mode(path).startswith("I;16")
    np.testing.assert_array_equal(read_image(path), np.array([[0, 0, 1, 1], [128, 255, 255, 255]]))
    assert read_image(path, "RGB").shape == (2, 4, 3)


def test_16_bit_pgm_mode_i(tmp_path):
    values = np.array([[0, 1000, 40000, 65535]], dtype=">u2")
    path = tmp_path / "d.pgm"
    path.write_bytes(b"P5\n4 1\n65535\n" + values.tobytes())
    assert _mode(path) == "I"
    np.testing.assert_array_equal(read_image(path), values.astype(np.uint32) >> 8)


def test_32_bit_out_of_range_and_float_are_refused(tmp_path):
    path = _save(tmp_path / "i.tif", Image.fromarray(np.array([[-5, 70000]], dtype=np.int32)))
    with pytest.raises(ImageReadError, match="i.tif.*outside 0..65535"):
        read_image(path)
    path = _save(tmp_path / "f.tif", Image.fromarray(np.array([[0.5, 2.0]], dtype=np.float32)))
    with pytest.raises(ImageReadError, match="f.tif.*float"):
        read_image(path)


def test_palette_becomes_rgb_and_transparency_is_alpha(tmp_path):
    palette = [0, 0, 0, 200, 10, 20, 7, 7, 7] + [0] * (256 * 3 - 9)
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    image = Image.frombytes("P", (3, 2), indices.tobytes())
    image.putpalette(palette)
    lut = np.array(palette, dtype=np.uint8).reshape(256, 3)
    path = _save(tmp_path / "p.png", image)
    out = read_image(path)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out, lut[indices])
    path = _save(tmp_path / "pt.png", image, transparency=1)
    np.testing.assert_array_equal(read_image(path), lut[indices])
    with_alpha = read_image(path, keep_alpha=True)
    np.testing.assert_array_equal(with_alpha[..., 3], np.where(indices == 1, 0, 255))


def test_cmyk_becomes_rgb(tmp_path):
    cmyk = np.zeros((2, 2, 4), dtype=np.uint8)
    cmyk[0, 0] = (255, 0, 0, 0)  # cyan
    cmyk[0, 1] = (0, 0, 0, 255)  # black
    cmyk[1, 0] = (0, 255, 255, 0)  # red
    image = Image.frombytes("CMYK", (2, 2), cmyk.tobytes())
    path = _save(tmp_path / "k.tif", image)
    out = read_image(path)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[0, 0], (0, 255, 255))
    np.testing.assert_array_equal(out[0, 1], (0, 0, 0))
    np.testing.assert_array_equal(out[1, 0], (255, 0, 0))
    np.testing.assert_array_equal(out[1, 1], (255, 255, 255))


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        (1, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # stored rotated: view turns it 90° clockwise
        (8, lambda a: np.rot90(a, 1)),
        (2, lambda a: a[:, ::-1]),
    ],
)
def test_exif_orientation_is_applied(tmp_path, orientation, expected):
    array = _random((3, 5, 3))
    path = _save(tmp_path / "o.png", Image.fromarray(array), exif=_secret_exif(orientation))
    np.testing.assert_array_equal(read_image(path), expected(array))


def test_jpeg_orientation_is_applied(tmp_path):
    array = np.zeros((16, 32), dtype=np.uint8)
    array[:, :16] = 255
    path = _save(tmp_path / "o.jpg", Image.fromarray(array), exif=_secret_exif(6), quality=95)
    out = read_image(path)
    assert out.shape == (32, 16)
    assert out[:16].mean() > 240 and out[16:].mean() < 15


def test_file_object(tmp_path):
    array = _random((3, 4))
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    buffer.seek(0)
    np.testing.assert_array_equal(read_image(buffer), array)


def test_read_image_file_from_a_file_object_or_bytes():
    array = _random((5, 6, 3))
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    data = buffer.getvalue()
    np.testing.assert_array_equal(read_image_file(data, "a.zip/x.png"), array)
    np.testing.assert_array_equal(read_image_file(io.BytesIO(data), "x.png", "RGB"), array)
    grey = read_image_file(io.BytesIO(data), "x.png", mode="L")
    np.testing.assert_array_equal(grey, read_image(io.BytesIO(data), "L"))
    assert grey.flags.writeable and grey.flags.c_contiguous
    # The same rules as read_image: the mode must be one of READ_MODES.
    assert READ_MODES == (None, "L", "RGB", "RGBA")
    with pytest.raises(ValueError, match="mode"):
        read_image_file(data, "x.png", "CMYK")


def test_read_image_file_names_the_source_in_errors():
    with pytest.raises(ImageReadError, match="archive.zip/member.png") as info:
        read_image_file(b"not an image", "archive.zip/member.png")
    assert info.value.path == "archive.zip/member.png"
    with pytest.raises(TypeError, match="fp"):
        read_image_file("x.png", "x.png")  # a path belongs to read_image
    with pytest.raises(TypeError, match="name"):
        read_image_file(b"", None)


@pytest.mark.parametrize(
    "content",
    [b"", b"not an image at all\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["empty", "text", "bad-png"],
)
def test_non_images_raise_naming_the_path(tmp_path, content):
    path = tmp_path / "bad file.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match="bad file.png") as info:
        read_image(path)
    assert isinstance(info.value, OSError)
    assert info.value.path == str(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_raise(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.fromarray(_random((64, 64, 3))).save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageReadError, match=f"cut.{fmt.lower()}"):
        read_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(OSError):
        read_image(tmp_path)


def test_read_argument_errors(tmp_path):
    path = _save(tmp_path / "g.png", Image.fromarray(_random((2, 2))))
    with pytest.raises(ValueError, match="mode"):
        read_image(path, "CMYK")
    with pytest.raises(ValueError, match="keep_alpha"):
        read_image(path, "RGB", keep_alpha=True)
    with pytest.raises(TypeError, match="keep_alpha"):
        read_image(path, keep_alpha=1)
    with pytest.raises(TypeError, match="path"):
        read_image(12)


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 2), (5, 7, 3), (5, 7, 4), (1, 1)])
def test_png_write_round_trip(tmp_path, shape):
    array = _random(shape)
    written = write_image(tmp_path / "x.png", array)
    assert written == tmp_path / "x.png"
    np.testing.assert_array_equal(read_image(written, keep_alpha=True), array)
    assert os.listdir(tmp_path) == ["x.png"]  # no temporary file left


def test_single_channel_and_strided_arrays(tmp_path):
    array = _random((6, 8, 1))
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.png", array)), array[..., 0])
    base = _random((10, 12, 3))
    view = base[::2, ::-3]
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "b.png", view)), view)
    fortran = np.asfortranarray(base)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "c.bmp", fortran)), base)


def test_jpeg_quality(tmp_path):
    smooth = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)
    image = np.stack([smooth, smooth[::-1], smooth.T], axis=-1)
    high = read_image(write_image(tmp_path / "h.jpg", image, quality=95))
    low = read_image(write_image(tmp_path / "l.jpeg", image, quality=5))
    err_high = np.abs(high.astype(int) - image).mean()
    err_low = np.abs(low.astype(int) - image).mean()
    assert err_high < 2 < err_low
    assert (tmp_path / "h.jpg").stat().st_size > (tmp_path / "l.jpeg").stat().st_size


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "x.png"
    first, second = _random((3, 3)), _random((3, 3)) | 1
    write_image(path, first)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_image(path, second)
    np.testing.assert_array_equal(read_image(path), first)
    write_image(path, second, overwrite=True)
    np.testing.assert_array_equal(read_image(path), second)
    assert os.listdir(tmp_path) == ["x.png"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_image(tmp_path / "x.png", _random((3, 3)))
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    original = _random((3, 3))
    write_image(path, original)

    def broken_save(self, fp, *args, **kwargs):
        raise RuntimeError("encoder died")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(RuntimeError):
        write_image(path, _random((3, 3)), overwrite=True)
    monkeypatch.undo()
    np.testing.assert_array_equal(read_image(path), original)
    assert os.listdir(tmp_path) == ["x.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_file_respects_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_image(tmp_path / "x.png", _random((2, 2)))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_format_argument(tmp_path):
    array = _random((4, 4, 3))
    path = write_image(tmp_path / "noext", array, format="png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path = write_image(tmp_path / "x.dat", array, format="jpg")
    assert path.read_bytes()[:2] == b"\xff\xd8"


def test_write_argument_errors(tmp_path):
    good = _random((4, 4))
    cases = [
        (TypeError, "dtype uint8", {"array": good.astype(np.float64)}),
        (TypeError, "ndarray", {"array": good.tolist()}),
        (ValueError, "shape", {"array": _random((2, 2, 5))}),
        (ValueError, "shape", {"array": _random((2, 2, 2, 2))}),
        (ValueError, "empty", {"array": np.zeros((0, 4), np.uint8)}),
        (ValueError, "suffix", {"path": tmp_path / "x.unknownext"}),
        (ValueError, "alpha", {"path": tmp_path / "x.jpg", "array": _random((4, 4, 4))}),
        (ValueError, "quality applies", {"quality": 90}),
        (ValueError, "1..100", {"path": tmp_path / "x.jpg", "quality": 0}),
        (TypeError, "quality", {"path": tmp_path / "x.jpg", "quality": 9.5}),
        (FileNotFoundError, "does not exist", {"path": tmp_path / "no" / "x.png"}),
        (ValueError, "cannot write format", {"format": "NOSUCH"}),
        (TypeError, "overwrite", {"overwrite": "yes"}),
        (
            ValueError,
            "cannot write a LA image as BMP",
            {"path": tmp_path / "x.bmp", "array": _random((4, 4, 2))},
        ),
    ]
    for error, message, kwargs in cases:
        args = {"path": tmp_path / "x.png", "array": good, **kwargs}
        with pytest.raises(error, match=message):
            write_image(**args)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- metadata


# A TIFF's own structure is an IFD that getexif() shows: width, height, bits,
# compression, photometric, strip offsets, samples, rows/strip, strip sizes,
# planar configuration, resolution. Nothing else may appear.
_TIFF_STRUCTURE = {256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 317, 338}


def _no_metadata(path) -> None:
    data = path.read_bytes()
    with Image.open(path) as image:
        image.load()
        tags = set(image.getexif())
        if image.format == "TIFF":
            assert tags <= _TIFF_STRUCTURE
        else:
            assert tags == set()
        for key in ("exif", "icc_profile", "comment", "Author", "Comment", "XML:com.adobe.xmp"):
            assert key not in image.info
        assert getattr(image, "text", {}) == {}
    for marker in (b"Exif", b"SecretCam", b"ICC_PROFILE", b"secret comment", b"Alice"):
        assert marker not in data
    if data.startswith(b"\x89PNG"):
        for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP", b"tIME"):
            assert chunk not in data


def _photo_with_metadata(tmp_path, fmt: str) -> str:
    array = _random((24, 32, 3))
    image = Image.fromarray(array)
    params = {"exif": _secret_exif(6), "icc_profile": b"fake icc profile " * 8}
    if fmt == "JPEG":
        params["comment"] = b"secret comment"
        path = tmp_path / "photo.jpg"
    else:
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "Alice")
        info.add_itxt("Comment", "secret comment")
        params["pnginfo"] = info
        path = tmp_path / "photo.png"
    image.save(path, fmt, **params)
    with Image.open(path) as check:  # the input really carries it all
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "icc_profile" in check.info
    return str(path)


@pytest.mark.parametrize("source_fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_written_files_carry_no_metadata(tmp_path, source_fmt, suffix):
    source = _photo_with_metadata(tmp_path, source_fmt)
    array = read_image(source)
    assert array.shape == (32, 24, 3)  # orientation 6 applied
    out = tmp_path / "out"
    out.mkdir()
    written = write_image(out / f"released{suffix}", array)
    _no_metadata(written)


def test_atomic_path_appears_whole_or_not_at_all(tmp_path):
    from dp_pix.io import atomic_path

    dest = tmp_path / "clip.mp4"
    with atomic_path(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".clip.mp4.") and tmp.exists()
        assert not dest.exists()
        tmp.write_bytes(b"frames")
    assert dest.read_bytes() == b"frames" and os.listdir(tmp_path) == ["clip.mp4"]
    with pytest.raises(FileExistsError), atomic_path(dest):
        pass
    with pytest.raises(RuntimeError), atomic_path(dest, overwrite=True) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder failed")
    assert dest.read_bytes() == b"frames" and os.listdir(tmp_path) == ["clip.mp4"]
    with atomic_path(dest, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert dest.read_bytes() == b"new"


def test_video_suffixes_are_not_image_suffixes():
    from dp_pix.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    assert {".mp4", ".mov", ".mkv", ".webm", ".avi"} <= VIDEO_SUFFIXES
    assert not VIDEO_SUFFIXES & IMAGE_SUFFIXES
    assert ".ts" not in VIDEO_SUFFIXES  # TypeScript sources in a folder are not videos
