"""Reading and writing image files as uint8 arrays.

``read_image`` turns any file Pillow can decode into one of three array
layouts, by fixed and documented rules, so that what reaches the privacy
mechanism is always the 8-bit ``(H, W)`` or ``(H, W, C)`` image DP-Pix is
defined on; ``read_image_file`` applies the same rules to an open binary
file or to bytes (a member of a zip archive, a download) under a name the
caller gives for messages. ``write_image`` writes an array back atomically
and without any metadata: a released image must not carry the EXIF, GPS
position, ICC profile or text comments of the photo it was made from.

All of them work without the compiled extension.
"""

from __future__ import annotations

import contextlib
import io as _stdio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Union

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "IMAGE_SUFFIXES",
    "READ_MODES",
    "VIDEO_SUFFIXES",
    "ImageReadError",
    "atomic_file",
    "atomic_path",
    "has_alpha",
    "read_image",
    "read_image_file",
    "to_8bit",
    "write_bytes",
    "write_image",
]

PathLike = Union[str, "os.PathLike[str]"]

# Files in a folder are images when their suffix (any case) is one of these;
# a fixed list, so that what a run picks up does not depend on Pillow plugins.
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".apng",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".bmp",
        ".dib",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".tga",
        ".pcx",
        ".qoi",
        ".avif",
        ".jp2",
        ".j2k",
        ".jpx",
        ".jpf",
        ".ico",
        ".sgi",
        ".ras",
        ".psd",
        ".im",
    }
)

READ_MODES = (None, "L", "RGB", "RGBA")
"""The values of ``mode`` that :func:`read_image` and :func:`read_image_file` accept."""

# Files in a folder are videos when their suffix is one of these (read with
# PyAV by dp_pix.video). Not ".ts": in a folder it is more often TypeScript
# than an MPEG transport stream (name one on the command line instead).
VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".qt",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".m2ts",
        ".mts",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
    }
)

# Formats whose encoder takes a ``quality`` (lossy encoders).
_QUALITY_FORMATS = ("JPEG", "WEBP")
_DEFAULT_QUALITY = 95


class ImageReadError(OSError):
    """A file could not be read as an image: missing decoder, corrupt or
    truncated data, not an image at all, or a pixel format with no 8-bit rule.

    ``path`` is the file (or, for members of a zip archive, ``archive/member``).
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = path
        self.reason = reason


def read_image(
    path: PathLike | IO[bytes],
    mode: str | None = None,
    *,
    keep_alpha: bool = False,
) -> np.ndarray:
    """Read an image file into a new, writable, C-contiguous uint8 array.

    Parameters
    ----------
    path
        A file path, or a binary file object (errors then name its ``name``).
    mode
        ``None`` (default) keeps the file's kind: grey files give ``(H, W)``,
        colour files ``(H, W, 3)``. ``"L"`` gives ``(H, W)`` grey (colour is
        converted with Pillow's ITU-R 601-2 luma, ``L = (299 R + 587 G +
        114 B) / 1000``), ``"RGB"`` gives ``(H, W, 3)`` (grey is copied to the
        three channels), ``"RGBA"`` gives ``(H, W, 4)`` (alpha 255 where the
        file has none).
    keep_alpha
        With ``mode=None`` only: keep an alpha channel where the file has one,
        giving ``(H, W, 2)`` for grey+alpha and ``(H, W, 4)`` for colour+alpha.
        By default alpha is dropped, **not** composited: transparent pixels
        come out with the colour values stored under them.

    Rules applied to every file, in this order:

    - only the first frame of a multi-frame file (GIF, APNG, TIFF) is read;
    - the EXIF orientation tag is applied (``ImageOps.exif_transpose``), so
      the array is upright as a viewer shows it; the tag is then gone;
    - mode ``"1"`` (1-bit) becomes 0/255 grey;
    - 16-bit grey (``"I;16*"``, and ``"I"`` as Pillow opens 16-bit PGM) is
      reduced to 8 bits by keeping the high byte, ``v >> 8`` (floor(v/256)):
      65535 → 255, 256 → 1, 255 → 0. This is the rule Pillow itself applies
      to 16-bit colour PNGs. ``"I"`` values outside 0..65535 are an error;
    - palette (``"P"``) images become RGB (RGBA if the palette has a
      transparent entry), also when the palette happens to be grey: ask for
      ``mode="L"`` to get grey;
    - CMYK, YCbCr, LAB, HSV become RGB by Pillow's conversion, without
      colour management (embedded ICC profiles are ignored);
    - 32-bit float images (``"F"``) are refused: there is no rule to map them
      to 0..255 that fits every source.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ImageReadError
        (an ``OSError``) the file is not an image, is corrupt or truncated, or
        has a pixel format with no 8-bit rule. The message names the path.
    """
    _check_read_args(mode, keep_alpha)
    if not isinstance(path, (str, bytes, os.PathLike)):
        if hasattr(path, "read"):
            name = str(getattr(path, "name", "<file object>"))
            return _read(path, name, mode, keep_alpha)
        raise TypeError(
            f"path must be a str, os.PathLike or binary file object, got {type(path).__name__}"
        )
    fspath = os.fspath(path)
    with open(fspath, "rb") as fp:
        return _read(fp, str(fspath), mode, keep_alpha)


def read_image_file(
    fp: IO[bytes] | bytes,
    name: str,
    mode: str | None = None,
    *,
    keep_alpha: bool = False,
) -> np.ndarray:
    """Decode an image from an open binary file (or from ``bytes``) into a
    new, writable, C-contiguous uint8 array.

    For images that do not come from a path of their own: a member of a zip
    archive, a download, a database blob. ``name`` says where the bytes come
    from (e.g. ``"archive.zip/a/b.png"``); every error names it. ``mode`` and
    ``keep_alpha`` and the rules applied are those of :func:`read_image`. The
    file is read from its current position; it is not closed.

    Raises :class:`ImageReadError` (an ``OSError``) naming ``name`` if the
    data are not an image, are corrupt or truncated, or have a pixel format
    with no 8-bit rule.
    """
    _check_read_args(mode, keep_alpha)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if isinstance(fp, (bytes, bytearray, memoryview)):
        return _read(_stdio.BytesIO(fp), name, mode, keep_alpha)
    if not hasattr(fp, "read"):
        raise TypeError(f"fp must be a binary file object or bytes, got {type(fp).__name__}")
    return _read(fp, name, mode, keep_alpha)


def _check_read_args(mode: str | None, keep_alpha: bool) -> None:
    if mode not in READ_MODES:
        raise ValueError(f"mode must be one of None, 'L', 'RGB', 'RGBA'; got {mode!r}")
    if not isinstance(keep_alpha, bool):
        raise TypeError(f"keep_alpha must be True or False, got {type(keep_alpha).__name__}")
    if keep_alpha and mode is not None:
        raise ValueError(
            f"keep_alpha=True conflicts with mode={mode!r}: use mode='RGBA' for colour with "
            "alpha, or mode=None with keep_alpha=True to keep the file's own alpha"
        )


def _read(fp: IO[bytes], name: str, mode: str | None, keep_alpha: bool) -> np.ndarray:
    """Decode an open binary file; every decoding failure names ``name``."""
    try:
        with Image.open(fp) as opened:
            opened.load()
            im = ImageOps.exif_transpose(opened)
            im = to_8bit(im, name, keep_alpha or mode == "RGBA")
            if mode is not None and im.mode != mode:
                im = im.convert(mode)
            return np.array(im, dtype=np.uint8, copy=True, order="C")
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives here when it is an error (as ``dp-pix pixelate`` sets it).
        raise ImageReadError(
            name, f"{exc} (dp-pix pixelate --max-pixels, or PIL.Image.MAX_IMAGE_PIXELS, allows it)"
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:
        # Decoders report bad data with many exception types (OSError for
        # unidentified or truncated files, SyntaxError, struct.error, ...);
        # the file is untrusted input, so every failure is "cannot read".
        raise ImageReadError(name, f"{type(exc).__name__}: {exc}") from exc


def has_alpha(im: Image.Image) -> bool:
    """Whether the rules of ``read_image`` see an alpha channel in ``im``: an
    alpha mode, or a palette with a transparent entry."""
    return im.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (
        im.mode == "P" and "transparency" in im.info
    )


def to_8bit(im: Image.Image, name: str, want_alpha: bool) -> Image.Image:
    """Bring any Pillow mode to "L", "LA", "RGB" or "RGBA" by the rules in
    ``read_image``; alpha modes only when ``want_alpha``. The one rule set for
    decoded files and for images handed to the API (``dp_pix.images``);
    ``ImageReadError`` naming ``name`` for a mode with no 8-bit rule."""
    m = im.mode
    if m in ("L", "RGB"):
        return im
    if m == "1":
        return im.convert("L")
    if m in ("LA", "La"):
        im = im.convert("LA")
        return im if want_alpha else im.convert("L")
    if has_alpha(im):
        im = im.convert("RGBA")
        return im if want_alpha else im.convert("RGB")
    if m == "P":
        return im.convert("RGB")
    if m.startswith("I;16") or m == "I":
        values = np.asarray(im)
        if m == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageReadError(
                name,
                f"32-bit integer image with values {values.min()}..{values.max()} outside "
                "0..65535; convert it to 8 bits yourself and pass the array",
            )
        return Image.fromarray((values.astype(np.uint32) >> 8).astype(np.uint8))
    if m == "F":
        raise ImageReadError(
            name, "32-bit float images (mode 'F') are not supported; scale to 0..255 yourself"
        )
    try:
        return im.convert("RGB")
    except ValueError as exc:
        raise ImageReadError(name, f"no conversion from Pillow mode {m!r} to RGB") from exc


@contextlib.contextmanager
def atomic_file(path: PathLike, *, overwrite: bool = False) -> Iterator[IO[bytes]]:
    """A binary file that appears at ``path`` whole, or not at all.

    What is written goes to a hidden temporary file in the same directory; on
    leaving the block it is flushed, fsynced and moved into place
    (``os.replace``, or a hard link when ``overwrite=False``, so that a file
    created meanwhile is never clobbered: ``FileExistsError``), then the
    directory is fsynced. On any error the temporary file is removed and
    ``path`` is untouched.
    """
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fp:
        yield fp  # atomic_path fsyncs the file and moves it into place


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary path whose file appears at ``path`` whole, or not at all.

    For writers that open files by name (FFmpeg's muxers seek and reread what
    they wrote): the block gets the path of a new, empty, hidden file in the
    destination directory and writes it by name; on leaving the block the file
    is fsynced and moved into place as :func:`atomic_file` does
    (``FileExistsError`` when ``overwrite=False`` and ``path`` appeared
    meanwhile). On any error the temporary file is removed.
    """
    dest = Path(os.fspath(path))
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {type(overwrite).__name__}")
    parent = dest.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {dest}: directory {parent} does not exist")
    if not overwrite and os.path.lexists(dest):
        raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it")
    fd, tmp = _create_temp(parent, dest.name)
    os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, dest)
        else:
            _move_no_clobber(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(parent)


def write_bytes(path: PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, overwrite=overwrite) as fp:
        fp.write(data)
    return Path(os.fspath(path))


def write_image(
    path: PathLike,
    array: np.ndarray,
    *,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a uint8 image array to ``path`` atomically, with no metadata.

    Parameters
    ----------
    path
        Destination. Its directory must exist.
    array
        uint8 ``(H, W)`` or ``(H, W, 1)`` grey, ``(H, W, 2)`` grey+alpha,
        ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; any strides.
    format
        A Pillow format name (``"PNG"``, ``"JPEG"``, ...; ``"jpg"`` is
        accepted). Default: from the file suffix.
    quality
        JPEG and WebP only, 1..100; default 95. JPEG is written with 4:4:4
        chroma (no subsampling) so cell edges of a pixelized image stay sharp.
        Re-encoding a released image, lossy or not, is post-processing: it
        costs no privacy.
    overwrite
        Replace an existing file. By default an existing ``path`` raises
        ``FileExistsError`` and is left untouched.

    The image is encoded into a temporary file in the destination directory,
    flushed and fsynced, then moved into place (``os.replace``, or a hard link
    when ``overwrite=False`` so that a file created meanwhile is not
    clobbered); readers never see a half-written file, and the temporary file
    is removed on any error. Nothing but pixels is written: the array carries
    no EXIF, GPS, ICC profile, comment or PNG text chunk, and none is added.

    Returns the path written, as a ``Path``.
    """
    dest = Path(os.fspath(path))
    image = _to_pillow(array)
    fmt = _resolve_format(dest, format)
    params = _save_params(fmt, quality)
    if image.mode in ("LA", "RGBA") and fmt == "JPEG":
        raise ValueError(
            f"JPEG cannot store an alpha channel ({dest}): drop it (array[..., :-1]) or write PNG"
        )
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {type(overwrite).__name__}")
    with atomic_file(dest, overwrite=overwrite) as fp:
        try:
            image.save(fp, format=fmt, **params)
        except (KeyError, OSError) as exc:
            # Pillow signals "this format cannot hold this mode" with
            # KeyError or an OSError without errno; real I/O errors have one.
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            raise ValueError(
                f"cannot write a {image.mode} image as {fmt} ({dest}): {exc}; "
                "write PNG, or change the number of channels"
            ) from exc
    return dest


def _to_pillow(array: np.ndarray) -> Image.Image:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a numpy ndarray, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise TypeError(
            f"array must have dtype uint8, got {array.dtype}; convert explicitly, e.g. "
            "np.clip(a, 0, 255).astype(np.uint8)"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4))):
        raise ValueError(
            f"array must have shape (H, W) or (H, W, C) with C in 1..4, got {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"array is empty (shape {array.shape})")
    return Image.fromarray(np.ascontiguousarray(array))


def _resolve_format(dest: Path, format: str | None) -> str:
    Image.init()
    if format is None:
        fmt = Image.registered_extensions().get(dest.suffix.lower())
        if fmt is None:
            raise ValueError(
                f"cannot tell the image format of {dest} from its suffix {dest.suffix!r}; "
                "use a suffix such as .png or .jpg, or pass format='PNG'"
            )
    else:
        if not isinstance(format, str):
            raise TypeError(f"format must be a str such as 'PNG', got {type(format).__name__}")
        fmt = format.upper()
        fmt = {"JPG": "JPEG", "TIF": "TIFF"}.get(fmt, fmt)
    if fmt not in Image.SAVE:
        raise ValueError(f"Pillow cannot write format {fmt!r} (for {dest}); use PNG or JPEG")
    return fmt


def _save_params(fmt: str, quality: int | None) -> dict:
    if quality is not None:
        if fmt not in _QUALITY_FORMATS:
            raise ValueError(f"quality applies to JPEG and WebP only, not {fmt}; leave it None")
        if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
            raise TypeError(f"quality must be an int in 1..100, got {type(quality).__name__}")
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be in 1..100, got {quality}")
    if fmt == "JPEG":
        return {"quality": int(quality or _DEFAULT_QUALITY), "subsampling": 0}
    if fmt == "WEBP":
        return {"quality": int(quality or _DEFAULT_QUALITY)}
    return {}


def _create_temp(directory: Path, name: str) -> tuple[int, Path]:
    # os.open with O_EXCL and mode 0o666 lets the umask set the final file's
    # permissions (mkstemp would leave 0o600 behind on the published file).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _move_no_clobber(tmp: Path, dest: Path) -> None:
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it") from None
    except OSError:
        # Filesystems without hard links: the check in write_image stands.
        if os.path.lexists(dest):
            raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
