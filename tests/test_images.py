"""Images in other kinds than numpy arrays: PIL images in and out, and objects
that expose ``__array__``, the array interface or the buffer protocol."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import dp_pix
import numpy as np
import pytest
from dp_pix import images
from dp_pix.io import read_image_file
from PIL import Image

P = dp_pix.Params(block=4, epsilon=1.0, m=2)
SEED = 1234


def photo(shape=(21, 30, 3), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def encoded(im: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, format=fmt)
    return buffer.getvalue()


# ------------------------------------------------------------------- PIL


@pytest.mark.parametrize("mode, shape", [("L", (21, 30)), ("RGB", (21, 30, 3))])
def test_pil_in_pil_out_same_size_same_bytes_as_the_array(mode, shape):
    array = photo(shape)
    pil = Image.fromarray(array)
    assert pil.mode == mode
    out = dp_pix.dp_pixelate(pil, P, seed=SEED)
    assert isinstance(out, Image.Image)
    assert out.mode == mode and out.size == pil.size
    # the PIL path privatizes exactly the array it holds
    expected = dp_pix.dp_pixelate(array, P, seed=SEED)
    np.testing.assert_array_equal(np.asarray(out), expected)
    assert not out.info  # no metadata comes back


def test_pil_grid_output_is_a_pil_image_of_the_grid():
    pil = Image.fromarray(photo((21, 30)))
    out = dp_pix.dp_pixelate(pil, P.replace(output="grid"))
    assert isinstance(out, Image.Image) and out.size == (8, 6)


def test_pixelizer_batch_and_baselines_take_pil_images():
    a, b = Image.fromarray(photo((9, 9, 3), 1)), Image.fromarray(photo((5, 7), 2))
    grey = photo((6, 6), 3)
    pixelizer = dp_pix.Pixelizer(P, seed=SEED)
    outs = pixelizer.batch([a, b, grey])
    assert [type(o).__name__ for o in outs] == ["Image", "Image", "ndarray"]
    assert outs[0].size == (9, 9) and outs[1].mode == "L"
    assert isinstance(pixelizer(a), Image.Image)
    outs2 = dp_pix.dp_pixelate_batch([a, b], P)
    assert all(isinstance(o, Image.Image) for o in outs2)
    mosaic = dp_pix.pixelate(a, block=3)
    assert isinstance(mosaic, Image.Image)
    np.testing.assert_array_equal(np.asarray(mosaic), dp_pix.pixelate(np.asarray(a), block=3))
    noisy = dp_pix.noisy_pixelate(b, block=2, sigma=5, seed=1)
    assert isinstance(noisy, Image.Image) and noisy.size == b.size
    with pytest.raises(TypeError, match="one PIL image"):
        pixelizer.batch(a)  # type: ignore[call-overload]


def _files_and_pil_objects():
    """Images of every mode with a rule, each as a PIL object and as a file."""
    rgb = photo((8, 10, 3), 5)
    grey = photo((8, 10), 6)
    cases = {
        "1": Image.fromarray(grey > 127),
        "P": Image.fromarray(rgb).quantize(16),
        "I;16": Image.fromarray(grey.astype(np.uint16) * 257 + 3),
        "I": Image.fromarray(grey.astype(np.int32) * 200),
        "CMYK": Image.fromarray(rgb).convert("CMYK"),
        "YCbCr": Image.fromarray(rgb).convert("YCbCr"),
    }
    fmt = {"CMYK": "TIFF", "YCbCr": "TIFF", "I": "TIFF"}
    return [(mode, im, encoded(im, fmt.get(mode, "PNG"))) for mode, im in cases.items()]


@pytest.mark.parametrize("mode, pil, data", _files_and_pil_objects(), ids=lambda x: str(x)[:8])
def test_pil_modes_follow_the_rules_of_read_image(mode, pil, data):
    """One rule set: a PIL object converts to the array read_image gives for
    the same image as a file."""
    assert pil.mode == mode
    expected = read_image_file(data, f"x.{mode}")
    got = images.from_pil(pil)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    out = dp_pix.dp_pixelate(pil, P, seed=SEED)
    assert out.mode == ("L" if expected.ndim == 2 else "RGB") and out.size == pil.size


def test_pil_rules_in_detail():
    sixteen = Image.fromarray(np.array([[0, 255, 256, 65535]], np.uint16))
    np.testing.assert_array_equal(images.from_pil(sixteen), [[0, 0, 1, 255]])
    one = Image.fromarray(np.array([[True, False]]))
    np.testing.assert_array_equal(images.from_pil(one), [[255, 0]])
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30] * 256)
    np.testing.assert_array_equal(images.from_pil(palette), [[[10, 20, 30]] * 2])


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "RGBa", "La"])
def test_pil_alpha_is_refused_with_both_ways_out(mode):
    with pytest.raises(ValueError, match="alpha") as err:
        dp_pix.dp_pixelate(Image.new(mode, (4, 4)), P)
    message = str(err.value)
    assert "convert(" in message and "np.asarray(image.convert(" in message


def test_pil_palette_with_transparency_is_refused():
    im = Image.new("P", (4, 4))
    im.info["transparency"] = 0
    with pytest.raises(ValueError, match="transparent"):
        dp_pix.pixelate(im, block=2)


def test_alpha_kept_through_numpy_is_privatized_as_a_fourth_channel():
    rgba = Image.fromarray(photo((8, 8, 4)))
    out = dp_pix.dp_pixelate(np.asarray(rgba), P, seed=SEED)
    assert out.shape == (8, 8, 4)
    assert dp_pix.Pixelizer(P).describe(4)["sensitivity_l1"] == 255 * 2 * 4


def test_pil_float_and_out_of_range_int_are_refused():
    with pytest.raises(TypeError, match="mode 'F'"):
        dp_pix.dp_pixelate(Image.new("F", (4, 4)), P)
    with pytest.raises(ValueError, match="outside 0..65535"):
        dp_pix.dp_pixelate(Image.fromarray(np.full((2, 2), 70000, np.int32)), P)


def test_pil_exif_orientation_is_not_applied():
    """The object's pixel grid is privatized as it is: the size does not change."""
    im = Image.fromarray(photo((6, 10)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    im.info["exif"] = exif.tobytes()
    out = dp_pix.pixelate(im, block=2)
    assert out.size == (10, 6) and not out.info


# --------------------------------------------------------- array-like objects


class Tensor:
    """Exposes its memory through ``__array__`` only (as torch, JAX, Arrow do)."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self._array.dtype:
            raise TypeError("no casts")
        return self._array


class Interface:
    """Exposes its memory through the array interface only."""

    def __init__(self, array: np.ndarray) -> None:
        self._keep = array
        self.__array_interface__ = array.__array_interface__


def test_array_objects_are_read_without_a_copy():
    base = photo((12, 16, 3))
    for obj in (Tensor(base), Interface(base), memoryview(base)):
        array, _ = images.to_array(obj)
        assert isinstance(array, np.ndarray) and np.shares_memory(array, base)
    strided = np.asfortranarray(base)[::2, ::3]
    array, _ = images.to_array(Tensor(strided))
    assert np.shares_memory(array, strided)


@pytest.mark.parametrize("wrap", [Tensor, Interface, memoryview], ids=lambda w: w.__name__)
def test_array_objects_give_arrays_with_the_bytes_of_the_array(wrap):
    base = np.asfortranarray(photo((12, 16, 3)))
    out = dp_pix.dp_pixelate(wrap(base), P, seed=SEED)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, dp_pix.dp_pixelate(base, P, seed=SEED))
    np.testing.assert_array_equal(dp_pix.pixelate(wrap(base), block=4),
                                  dp_pix.pixelate(base, block=4))


def test_a_stacked_batch_can_be_an_array_object():
    stack = photo((3, 8, 8))
    out = dp_pix.Pixelizer(P, seed=SEED).batch(Tensor(stack))  # type: ignore[call-overload]
    np.testing.assert_array_equal(out, dp_pix.Pixelizer(P, seed=SEED).batch(stack))
    listed = dp_pix.dp_pixelate_batch([Tensor(stack[0]), memoryview(stack[1])], P)
    assert [o.shape for o in listed] == [(8, 8), (8, 8)]


def test_array_objects_are_never_cast():
    with pytest.raises(TypeError, match="dtype uint8, got float64"):
        dp_pix.dp_pixelate(Tensor(np.zeros((4, 4))), P)
    with pytest.raises(TypeError, match="numpy uint8 array or a PIL image, got list"):
        dp_pix.dp_pixelate([[1, 2], [3, 4]], P)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="read_image_file"):
        dp_pix.dp_pixelate(b"\x89PNG...", P)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="numpy uint8 array or a PIL image"):
        dp_pix.dp_pixelate("image.png", P)  # type: ignore[type-var]


# ------------------------------------------------------------------ import


def test_import_dp_pix_loads_neither_pillow_nor_datasets():
    code = (
        "import sys, dp_pix\n"
        "print(sorted(m for m in ('PIL', 'datasets', 'ray') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_mypy_sees_pil_in_pil_out(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    program = tmp_path / "user.py"
    program.write_text(textwrap.dedent("""
        import numpy as np
        from PIL import Image
        import dp_pix

        params = dp_pix.Params(block=16, epsilon=0.5, m=16)
        pil = Image.new("RGB", (8, 8))
        array = np.zeros((8, 8), np.uint8)
        reveal_type(dp_pix.dp_pixelate(pil, params))
        reveal_type(dp_pix.dp_pixelate(array, params))
        reveal_type(dp_pix.Pixelizer(params)(pil))
        reveal_type(dp_pix.Pixelizer(params).batch([pil]))
        reveal_type(dp_pix.dp_pixelate_batch([array], params))
        reveal_type(dp_pix.pixelate(pil, block=4))
        reveal_type(dp_pix.noisy_pixelate(array, block=4, sigma=3.0))
        dp_pix.dp_pixelate(pil, block=16, epsilon=0.5, m=16, edges="wrap")
    """))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "c"),
         "--config-file", "/dev/null", str(program)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    revealed = [line.split("Revealed type is ", 1)[1].strip('"')
                for line in done.stdout.splitlines() if "Revealed type is" in line]
    kinds = ["PIL" if r.startswith("PIL.Image.Image") else
             "list[PIL]" if r.startswith("list[PIL.Image.Image") else
             "list[array]" if r.startswith("list[numpy.ndarray") else
             "array" if r.startswith("numpy.ndarray") else r for r in revealed]
    assert kinds == ["PIL", "array", "PIL", "list[PIL]", "list[array]", "PIL", "array"], done.stdout
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and '"edges"' in errors[0], done.stdout
