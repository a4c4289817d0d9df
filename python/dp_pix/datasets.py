"""The data sets of the DP-Pix experiments, and any folder of images.

Every loader returns an :class:`ImageDataset`: a lazy, read-only sequence of
uint8 images with integer labels. Listing is done up front (so the length,
labels and paths are known at once and missing files are reported at once);
pixels are decoded only when an image is indexed, iterated or materialized
with :meth:`ImageDataset.as_array`.

Where the data live: each loader takes its location as an argument; without
one it looks in ``$DP_PIX_DATA/<set>`` (``att_faces``, ``omniglot``,
``miniimagenet`` or ``miniimagenet_sample``), and otherwise raises an error
saying where to put the files. Nothing is downloaded.

Guarantees shared by all loaders:

- deterministic order: natural order of paths (digit runs compare as
  numbers, so ``s2`` < ``s10``), or the row order of a CSV;
- nothing dropped silently, nothing duplicated: files that are not loaded
  are listed in ``.skipped`` with the reason (only non-image files directly
  in the data set's root, such as a README or checksum list, are ignored);
- a corrupt or unreadable image raises :class:`dp_pix.io.ImageReadError`
  naming its path when it is read; with ``on_error="skip"`` every image is
  decoded once at load time instead and the bad ones are listed in
  ``.skipped``.

The data sets carry their own terms (research use, credit the authors); see
the README.txt next to each.
"""

from __future__ import annotations

import csv as _csv
import functools
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import NamedTuple, Union, overload

import numpy as np

from dp_pix.io import IMAGE_SUFFIXES, READ_MODES, ImageReadError, read_image_file

__all__ = [
    "DATA_ENV",
    "IMAGE_EXTENSIONS",
    "ImageDataset",
    "LabelSet",
    "Skipped",
    "load_att_faces",
    "load_image_folder",
    "load_miniimagenet",
    "load_omniglot",
]

PathLike = Union[str, "os.PathLike[str]"]

DATA_ENV = "DP_PIX_DATA"
"""Environment variable naming the folder that holds the data sets."""

IMAGE_EXTENSIONS = IMAGE_SUFFIXES
"""File suffixes treated as images (compared case-insensitively)."""

_ON_ERROR = ("raise", "skip")
_ATT_SUBJECTS, _ATT_PER_SUBJECT, _ATT_SHAPE = 40, 10, (112, 92)
_OMNIGLOT_SHAPE = (105, 105)
_OMNIGLOT_SUBSETS = ("background", "evaluation")
_CSV_PATH_COLUMNS = ("path", "filename", "file", "image", "image_path")
_CSV_LABEL_COLUMNS = ("wnid", "label", "class", "class_name")


class Skipped(NamedTuple):
    """A file under a data set's root that is not in the data set, and why."""

    path: str
    reason: str


class LabelSet(NamedTuple):
    """One labelling of a data set: ``labels[i]`` indexes ``names``."""

    labels: np.ndarray
    names: tuple[str, ...]


# --------------------------------------------------------------------------
# Where the bytes come from: a folder or a zip archive.


class _FolderSource:
    def __init__(self, root: Path) -> None:
        self.root = root

    def display(self, member: str) -> str:
        return str(self.root / member)

    def read(self, member: str, mode: str | None) -> np.ndarray:
        path = self.root / member
        with open(path, "rb") as fp:
            return read_image_file(fp, str(path), mode)

    def files(self) -> list[str]:
        """Every file under the root as a relative POSIX path. Hidden folders
        (name starting with ".") are not entered: each is listed once, with a
        trailing "/" as in a zip listing."""
        out, seen = [], set()
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen:  # a link back into the tree: do not list it twice
                dirnames[:] = []
                continue
            seen.add(real)
            rel = Path(dirpath).relative_to(self.root).as_posix()
            prefix = "" if rel == "." else rel + "/"
            out.extend(prefix + d + "/" for d in dirnames if d.startswith("."))
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            out.extend(prefix + f for f in filenames)
        return out


class _ZipSource:
    """Reads members of a zip archive without unpacking it. The open handle
    is per process, so a data set survives ``fork`` (e.g. data-loader
    workers) and pickling."""

    def __init__(self, path: Path) -> None:
        self.root = path
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        self._zipfile()  # fail now, with the path, if it is not a zip

    def _zipfile(self) -> zipfile.ZipFile:
        with self._lock:
            if self._zip is None or self._pid != os.getpid():
                try:
                    self._zip = zipfile.ZipFile(self.root)
                except zipfile.BadZipFile as exc:
                    raise zipfile.BadZipFile(
                        f"{self.root} is not a valid zip archive: {exc}"
                    ) from exc
                self._pid = os.getpid()
            return self._zip

    def display(self, member: str) -> str:
        return f"{self.root}/{member}"

    def read(self, member: str, mode: str | None) -> np.ndarray:
        name = self.display(member)
        try:
            data = self._zipfile().read(member)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError) as exc:
            raise ImageReadError(name, f"cannot extract from the zip archive: {exc}") from exc
        return read_image_file(data, name, mode)

    def files(self) -> list[str]:
        return [n for n in self._zipfile().namelist() if not n.endswith("/")]

    def close(self) -> None:
        with self._lock:
            if self._zip is not None and self._pid == os.getpid():
                self._zip.close()
            self._zip = None

    def __getstate__(self) -> dict:
        return {"root": self.root}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["root"])  # type: ignore[misc]


_Source = _FolderSource | _ZipSource


# --------------------------------------------------------------------------
# The data set.


class ImageDataset:
    """A lazy, read-only sequence of uint8 images with labels.

    Made by the ``load_*`` functions. ``ds[i]`` decodes and returns image i
    (a new array); ``ds[a:b]``, ``ds[[i, j, ...]]`` and ``ds[bool_mask]``
    return a smaller ``ImageDataset`` (still lazy); iteration decodes in
    order; :meth:`as_array` stacks everything into one ``(N, H, W[, C])``
    array.

    Attributes
    ----------
    name : str
        The data set (``"att_faces"``, ``"omniglot-background"``, ...).
    root : str
        The folder or zip archive the images come from.
    paths : tuple of str
        Where image i comes from; for a zip, ``archive.zip/member``.
    labels : numpy int64 array
        The main label of each image, indexing ``class_names``.
    class_names : tuple of str
        Names of the main labels, in label order.
    label_sets : mapping of str to LabelSet
        Every labelling, the main one included under ``label_name``
        (Omniglot also has ``"alphabet"``; miniImageNet from its CSV
        ``"ravi_split"``).
    skipped : tuple of Skipped
        Files under the root that are not in the data set, with the reason.
    mode : str or None
        The ``read_image`` mode every image is decoded with.
    shape : tuple or None
        The shape every image must have (checked as each is decoded), if the
        data set has a fixed one.
    """

    def __init__(
        self,
        *,
        name: str,
        source: _Source,
        members: Sequence[str],
        label_sets: dict[str, LabelSet],
        label_name: str,
        mode: str | None,
        shape: tuple[int, ...] | None = None,
        skipped: Sequence[Skipped] = (),
        transforms: Sequence[Callable[[np.ndarray], np.ndarray]] = (),
    ) -> None:
        self.name = name
        self._source = source
        self._members = tuple(members)
        for ls in label_sets.values():
            ls.labels.setflags(write=False)
            if len(ls.labels) != len(self._members):
                raise ValueError("internal error: labels and members differ in length")
        self._label_sets = dict(label_sets)
        self.label_name = label_name
        self.mode = mode
        self.shape = shape
        self.skipped = tuple(skipped)
        self._transforms = tuple(transforms)

    # -- what the data set holds ---------------------------------------

    @property
    def label_sets(self) -> MappingProxyType[str, LabelSet]:
        return MappingProxyType(self._label_sets)

    @property
    def root(self) -> str:
        return str(self._source.root)

    @functools.cached_property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._source.display(m) for m in self._members)

    @property
    def labels(self) -> np.ndarray:
        return self._label_sets[self.label_name].labels

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._label_sets[self.label_name].names

    def __len__(self) -> int:
        return len(self._members)

    def __repr__(self) -> str:
        extra = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (
            f"<ImageDataset {self.name!r}: {len(self)} images, {len(self.class_names)} "
            f"classes, from {self.root}{extra}>"
        )

    # -- reading ---------------------------------------------------------

    def _decode(self, i: int) -> np.ndarray:
        """Image i as stored (mode and shape checked), before transforms."""
        member = self._members[i]
        image = self._source.read(member, self.mode)
        if self.shape is not None and image.shape != self.shape:
            raise ImageReadError(
                self._source.display(member),
                f"expected an image of shape {self.shape} in {self.name}, got {image.shape}",
            )
        return image

    def _load(self, i: int) -> np.ndarray:
        image = self._decode(i)
        for transform in self._transforms:
            image = transform(image)
        return image

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> ImageDataset: ...

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        n = len(self)
        if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for a data set of {n} images")
            return self._load(i % n)
        if isinstance(index, slice):
            return self._subset(np.arange(n)[index])
        if isinstance(index, (list, tuple, np.ndarray)):
            idx = np.asarray(index)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise IndexError(f"boolean index must have shape ({n},), got {idx.shape}")
                return self._subset(np.flatnonzero(idx))
            if idx.size == 0:
                idx = idx.astype(np.intp)
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
                raise IndexError("an index array must be 1-D integers or a boolean mask")
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise IndexError(f"index out of range for a data set of {n} images")
            return self._subset(idx % n if n else idx)
        raise TypeError(
            f"index must be an int, a slice, or an array of ints or bools, "
            f"got {type(index).__name__}"
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._load(i)

    def as_list(self) -> list[np.ndarray]:
        """Every image, decoded, in a list (images may differ in shape)."""
        return list(self)

    def as_array(self) -> np.ndarray:
        """Every image, decoded, stacked into one uint8 array ``(N, H, W[, C])``.

        Fills one preallocated array (peak memory ≈ the result). Raises
        ``ValueError`` naming two files when images differ in shape: then use
        :meth:`as_list`, or :meth:`map` with ``transforms.resize``.
        """
        n = len(self)
        if n == 0:
            if self.shape is None or self._transforms:
                raise ValueError(f"{self.name} has no images, so the shape is unknown")
            return np.empty((0, *self.shape), dtype=np.uint8)
        first = self._load(0)
        out = np.empty((n, *first.shape), dtype=np.uint8)
        out[0] = first
        for i in range(1, n):
            image = self._load(i)
            if image.shape != first.shape:
                raise ValueError(
                    f"images differ in shape: {self.paths[0]} is {first.shape}, "
                    f"{self.paths[i]} is {image.shape}; "
                    "use as_list(), or map() with dp_pix.transforms.resize to one shape"
                )
            out[i] = image
        return out

    def map(self, transform: Callable[[np.ndarray], np.ndarray]) -> ImageDataset:
        """A data set that applies ``transform`` to each image as it is read
        (lazily), e.g. ``ds.map(lambda im: pad_to_multiple(im, 16))``."""
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        return self._derive(np.arange(len(self)), (*self._transforms, transform), self.skipped)

    def close(self) -> None:
        """Close an open zip archive (it is reopened if the data set is read
        again)."""
        if isinstance(self._source, _ZipSource):
            self._source.close()

    def __enter__(self):  # returns Self (typing.Self needs Python 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _subset(self, idx: np.ndarray) -> ImageDataset:
        return self._derive(idx, self._transforms, self.skipped)

    def _derive(
        self, idx: np.ndarray, transforms: tuple, skipped: Sequence[Skipped]
    ) -> ImageDataset:
        """Images ``idx`` of this data set, read through ``transforms``."""
        return ImageDataset(
            name=self.name,
            source=self._source,
            members=[self._members[i] for i in idx],
            label_sets={k: LabelSet(v.labels[idx], v.names) for k, v in self._label_sets.items()},
            label_name=self.label_name,
            mode=self.mode,
            shape=self.shape,
            skipped=skipped,
            transforms=transforms,
        )


def _build(
    *,
    name: str,
    source: _Source,
    members: list[str],
    label_sets: dict[str, LabelSet],
    label_name: str,
    mode: str | None,
    shape: tuple[int, ...] | None,
    skipped: list[Skipped],
    on_error: str,
    transforms: Sequence[Callable[[np.ndarray], np.ndarray]] = (),
) -> ImageDataset:
    """Make the data set; with ``on_error="skip"`` decode every image once
    and move the ones that fail to ``skipped``."""
    ds = ImageDataset(
        name=name,
        source=source,
        members=members,
        label_sets=label_sets,
        label_name=label_name,
        mode=mode,
        shape=shape,
        skipped=skipped,
        transforms=transforms,
    )
    if on_error == "raise":
        return ds
    keep = np.ones(len(ds), dtype=bool)
    bad = []
    for i in range(len(ds)):
        try:
            ds._decode(i)
        except (OSError, ValueError) as exc:
            keep[i] = False
            reason = exc.reason if isinstance(exc, ImageReadError) else str(exc)
            bad.append(Skipped(source.display(members[i]), reason))
    if not bad:
        return ds
    return ds._derive(np.flatnonzero(keep), ds._transforms, (*ds.skipped, *bad))


# --------------------------------------------------------------------------
# Helpers shared by the loaders.


_DIGITS = re.compile(r"([0-9]+)")


def _natural_key(text: str) -> tuple:
    """Digit runs compare as numbers ("s2" < "s10"); the text itself breaks
    ties ("s01" vs "s1"), so the order is total and deterministic."""
    parts: list = _DIGITS.split(text)
    parts[1::2] = map(int, parts[1::2])
    return (tuple(parts), text)


def _sorted_paths(paths: Sequence[str]) -> list[str]:
    """``paths`` ("a/b/c") in natural order, folder by folder."""
    cache: dict[str, tuple] = {}

    def part_key(part: str) -> tuple:
        key = cache.get(part)
        if key is None:
            key = cache[part] = _natural_key(part)
        return key

    return sorted(paths, key=lambda p: tuple(map(part_key, p.split("/"))))


def _encode(values: Sequence[str], names: Sequence[str] | None = None) -> LabelSet:
    """Integer labels for ``values``; names in natural order unless given."""
    if names is None:
        names = sorted(set(values), key=_natural_key)
    index = {name: i for i, name in enumerate(names)}
    return LabelSet(np.array([index[v] for v in values], dtype=np.int64), tuple(names))


def _check_on_error(on_error: str) -> None:
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}")


def _is_image(rel: str, extensions: frozenset[str]) -> bool:
    return PurePosixPath(rel).suffix.lower() in extensions


def _is_hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def _resolve_root(root: PathLike | None, folders: Sequence[str], what: str, expect: str) -> Path:
    """The argument, else the first of ``$DP_PIX_DATA/<folder>`` that exists."""
    if root is not None:
        path = Path(os.fspath(root))
        if not path.exists():
            raise FileNotFoundError(f"{what} not found: {path} does not exist")
        return path
    env = os.environ.get(DATA_ENV)
    hint = (
        f"pass the location as an argument, or set {DATA_ENV} to a folder holding "
        f"{' or '.join(f'{f}/' for f in folders)} ({expect})"
    )
    if not env:
        raise FileNotFoundError(f"{what} not found: {DATA_ENV} is not set; {hint}")
    for folder in folders:
        path = Path(env) / folder
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{what} not found in {DATA_ENV}={env}: no {' or '.join(folders)} there; {hint}"
    )


def _missing_message(what: str, root: Path, missing: Sequence[str], total: int) -> str:
    shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
    return f"{what} in {root}: {len(missing)} of {total} files missing: {shown}"


# --------------------------------------------------------------------------
# The loaders.


def load_att_faces(root: PathLike | None = None, *, on_error: str = "raise") -> ImageDataset:
    """The AT&T (ORL) faces: 400 grey images of 112×92 pixels, 40 subjects.

    ``root`` holds ``s1/`` .. ``s40/`` with ``1.pgm`` .. ``10.pgm`` each
    (default ``$DP_PIX_DATA/att_faces``). Images come subject by subject,
    ``s1/1.pgm, s1/2.pgm, .., s1/10.pgm, s2/1.pgm, ..`` (numeric order), with
    label ``subject - 1`` (s1 → 0, .., s40 → 39) and class names
    ``"s1" .. "s40"``; ``as_array()`` is uint8 ``(400, 112, 92)``.

    Raises ``FileNotFoundError`` listing the missing files if any of the
    400 is absent. Any other file under ``root`` is listed in ``.skipped``,
    except non-images at its top (``README.txt``, ``SHA256SUMS``). Every
    image must be 112×92 (checked as it is read).
    """
    _check_on_error(on_error)
    base = _resolve_root(root, ["att_faces"], "AT&T faces", "s1/1.pgm .. s40/10.pgm")
    expected = [
        f"s{s}/{i}.pgm" for s in range(1, _ATT_SUBJECTS + 1) for i in range(1, _ATT_PER_SUBJECT + 1)
    ]
    missing = [rel for rel in expected if not (base / rel).is_file()]
    if missing:
        raise FileNotFoundError(_missing_message("AT&T faces", base, missing, len(expected)))
    source = _FolderSource(base)
    wanted = set(expected)
    _, skipped = _sort_files(
        source,
        source.files(),
        "",
        lambda rel: None if rel in wanted else "not one of the AT&T images s1..s40/1..10.pgm",
    )
    subjects = [rel.split("/")[0] for rel in expected]
    names = tuple(f"s{s}" for s in range(1, _ATT_SUBJECTS + 1))
    return _build(
        name="att_faces",
        source=source,
        members=expected,
        label_sets={"subject": _encode(subjects, names)},
        label_name="subject",
        mode="L",
        shape=_ATT_SHAPE,
        skipped=skipped,
        on_error=on_error,
    )


def _sort_files(
    source: _Source, files: Sequence[str], prefix: str, is_member: Callable[[str], str | None]
) -> tuple[list[str], list[Skipped]]:
    """Split the files under ``prefix`` into members and skipped ones.

    ``is_member(rel)`` gets the path below ``prefix`` and returns ``None``
    for a member or the reason it is not one. Hidden folders (not entered)
    and files directly under ``prefix`` that are not images (a README, a
    CSV, a checksum list) are the only things not reported.
    """
    members, skipped = [], []
    for rel in _sorted_paths(files):
        if not rel.startswith(prefix):
            continue
        inner = rel[len(prefix) :]
        if inner.endswith("/"):
            skipped.append(Skipped(source.display(rel), "hidden folder, not searched"))
            continue
        reason = is_member(inner)
        if reason is None:
            members.append(rel)
        elif "/" in inner or _is_image(inner, IMAGE_EXTENSIONS):
            skipped.append(Skipped(source.display(rel), reason))
    return members, skipped


def load_omniglot(
    path: PathLike | None = None,
    subset: str = "background",
    *,
    invert: bool = False,
    on_error: str = "raise",
) -> ImageDataset:
    """Omniglot (Lake et al. 2015): 105×105 binary handwritten characters.

    ``path`` is the official zip (``images_background.zip`` or
    ``images_evaluation.zip``, read in place with ``zipfile``), a folder
    holding that zip or the unpacked ``images_<subset>/`` folder, or the
    unpacked folder itself; default ``$DP_PIX_DATA/omniglot``. In a folder
    holding both, the zip is used. ``subset`` is ``"background"`` (30
    alphabets, 964 characters, 19,280 images) or ``"evaluation"`` (20, 659,
    13,180).

    Images are uint8 ``(105, 105)`` with values 0 and 255: black strokes
    (0) on white (255) as stored; ``invert=True`` gives white strokes on
    black, as the original research code used. Labels: ``labels`` /
    ``class_names`` are the characters (``"Alphabet/characterNN"``, in
    natural order, numbered across alphabets); ``label_sets["alphabet"]``
    the alphabets. Opening lists the archive only; images are decoded when
    read.
    """
    _check_on_error(on_error)
    if subset not in _OMNIGLOT_SUBSETS:
        raise ValueError(f"subset must be 'background' or 'evaluation'; got {subset!r}")
    if not isinstance(invert, bool):
        raise TypeError(f"invert must be True or False, got {type(invert).__name__}")
    top = f"images_{subset}"
    base = _resolve_root(path, ["omniglot"], "Omniglot", f"{top}.zip or {top}/")
    source: _Source
    prefix = f"{top}/"
    if base.is_file():
        source = _ZipSource(base)
    elif (base / f"{top}.zip").is_file():
        source = _ZipSource(base / f"{top}.zip")
    elif (base / top).is_dir():
        source = _FolderSource(base / top)
        prefix = ""
    elif base.name == top:
        source, prefix = _FolderSource(base), ""
    else:
        raise FileNotFoundError(f"Omniglot {subset} not found in {base}: no {top}.zip or {top}/")

    files = source.files()
    if prefix and files and not any(f.startswith(prefix) for f in files):
        tops = sorted({f.split("/")[0] for f in files})
        raise ValueError(
            f"{source.root} holds {', '.join(tops)}, not {top}/: pass the "
            f"{top}.zip archive, or subset= to match this one"
        )

    def is_member(inner: str) -> str | None:
        parts = inner.split("/")
        if len(parts) == 3 and parts[2].lower().endswith(".png") and not _is_hidden(inner):
            return None
        return f"not {top}/<alphabet>/<character>/*.png"

    members, skipped = _sort_files(source, files, prefix, is_member)
    if not members:
        raise FileNotFoundError(f"Omniglot {subset}: no images in {source.root}")
    characters = ["/".join(rel[len(prefix) :].split("/")[:2]) for rel in members]
    alphabets = [c.split("/")[0] for c in characters]
    return _build(
        name=f"omniglot-{subset}",
        source=source,
        members=members,
        label_sets={"character": _encode(characters), "alphabet": _encode(alphabets)},
        label_name="character",
        mode="L",
        shape=_OMNIGLOT_SHAPE,
        skipped=skipped,
        on_error=on_error,
        transforms=(_invert,) if invert else (),
    )


def _invert(image: np.ndarray) -> np.ndarray:
    return np.subtract(255, image, dtype=np.uint8)


def load_image_folder(
    root: PathLike,
    *,
    mode: str | None = None,
    on_error: str = "raise",
    extensions: Sequence[str] | None = None,
    name: str | None = None,
) -> ImageDataset:
    """Any folder of images with one subfolder per class: ``root/<class>/...``.

    Classes are the subfolders that hold at least one image file, in natural
    order; files in deeper folders belong to their top subfolder's class.
    Images come class by class, in natural path order. ``mode`` is passed to
    ``read_image`` (``None`` keeps each file's kind; ``"L"`` or ``"RGB"``
    makes them uniform). A file counts as an image by its suffix
    (``extensions``, default :data:`IMAGE_EXTENSIONS`); other files, hidden
    files, and images directly in ``root`` are listed in ``.skipped``
    (non-image files directly in ``root`` are ignored).
    """
    _check_on_error(on_error)
    if mode not in READ_MODES:
        raise ValueError(f"mode must be one of None, 'L', 'RGB', 'RGBA'; got {mode!r}")
    base = Path(os.fspath(root))
    if not base.is_dir():
        raise NotADirectoryError(f"image folder {base} is not a directory")
    exts = _check_extensions(extensions)
    source = _FolderSource(base)

    def is_member(rel: str) -> str | None:
        if "/" not in rel:
            return "not inside a class folder"
        if _is_hidden(rel):
            return "hidden file"
        if not _is_image(rel, exts):
            return f"not an image file ({PurePosixPath(rel).suffix or 'no suffix'})"
        return None

    members, skipped = _sort_files(source, source.files(), "", is_member)
    classes = [rel.split("/")[0] for rel in members]
    return _build(
        name=name or base.name,
        source=source,
        members=members,
        label_sets={"class": _encode(classes)},
        label_name="class",
        mode=mode,
        shape=None,
        skipped=skipped,
        on_error=on_error,
    )


def _check_extensions(extensions: Sequence[str] | None) -> frozenset[str]:
    if extensions is None:
        return IMAGE_EXTENSIONS
    if isinstance(extensions, str) or not all(
        isinstance(e, str) and e.startswith(".") for e in extensions
    ):
        raise TypeError(f"extensions must be a list of suffixes like ['.png'], got {extensions!r}")
    return frozenset(e.lower() for e in extensions)


def load_miniimagenet(
    root: PathLike | None = None,
    csv: PathLike | None = None,
    *,
    on_error: str = "raise",
) -> ImageDataset:
    """miniImageNet (Vinyals et al. 2016): RGB images, 84×84 in the usual copies.

    ``root`` defaults to ``$DP_PIX_DATA/miniimagenet`` or, failing that,
    ``$DP_PIX_DATA/miniimagenet_sample``. Labels come from ``csv`` if given,
    else from ``root/labels.csv`` if it exists, else from class folders
    ``root/<wnid>/*.jpg`` (as :func:`load_image_folder`).

    The CSV has a header naming a path column (``path`` or ``filename``) and a
    label column (``wnid`` or ``label``) — both the shipped sample's
    ``path,wnid,class_index,ravi_split,source_path,sha256`` and the
    Ravi & Larochelle ``filename,label`` files — or no header and two
    columns, filename and label. A file name is looked up as
    ``root/<name>``, then ``root/images/<name>``, ``root/<label>/<name>`` and
    ``root/images/<label>/<name>``. Images come in row order. Labels are the
    ``class_index`` column where there is one (it must number the labels
    0..K-1 one to one), else the label names in natural (for wnids, sorted)
    order. A ``ravi_split`` column becomes ``label_sets["ravi_split"]``.

    Images are decoded as RGB at their stored size, so ``as_array()`` is
    ``(N, 84, 84, 3)`` for the standard copies; where sizes differ use
    ``as_list()``. Raises ``FileNotFoundError`` listing rows whose file is
    missing and ``ValueError`` for a malformed CSV or duplicate rows.
    """
    _check_on_error(on_error)
    base = _resolve_root(
        root,
        ["miniimagenet", "miniimagenet_sample"],
        "miniImageNet",
        "labels.csv with images, or <wnid>/ class folders",
    )
    if csv is None and (base / "labels.csv").is_file():
        csv = base / "labels.csv"
    if csv is None:
        return load_image_folder(base, mode="RGB", on_error=on_error, name="miniimagenet")
    rows = _read_label_csv(Path(os.fspath(csv)))
    members, missing, seen = [], [], {}
    for line, filename, label, _ in rows:
        candidates = (
            filename,
            f"images/{filename}",
            f"{label}/{filename}",
            f"images/{label}/{filename}",
        )
        found = next((c for c in candidates if (base / c).is_file()), None)
        if found is None:
            missing.append(f"{filename} (line {line})")
            continue
        key = os.path.normcase(os.path.realpath(base / found))
        if key in seen:
            raise ValueError(
                f"{csv}: line {line} names the same image as line {seen[key]}: {filename}"
            )
        seen[key] = line
        members.append(found)
    if missing:
        raise FileNotFoundError(_missing_message(f"miniImageNet ({csv})", base, missing, len(rows)))
    label_sets = {"class": _csv_labels(csv, rows)}
    if rows and "ravi_split" in rows[0][3]:
        label_sets["ravi_split"] = _encode([extra["ravi_split"] for *_, extra in rows])
    return _build(
        name="miniimagenet",
        source=_FolderSource(base),
        members=members,
        label_sets=label_sets,
        label_name="class",
        mode="RGB",
        shape=None,
        skipped=[],
        on_error=on_error,
    )


_CsvRow = tuple[int, str, str, dict]


def _read_label_csv(path: Path) -> list[_CsvRow]:
    """(line number, filename, label, the other columns) for each data row."""
    with open(path, newline="", encoding="utf-8-sig") as fp:
        lines = [(n, row) for n, row in enumerate(_csv.reader(fp), start=1) if row]
    if not lines:
        raise ValueError(f"{path} has no rows")
    header = [h.strip().lower() for h in lines[0][1]]
    path_col = next((header.index(c) for c in _CSV_PATH_COLUMNS if c in header), None)
    label_col = next((header.index(c) for c in _CSV_LABEL_COLUMNS if c in header), None)
    if path_col is not None and label_col is not None:
        columns, body = header, lines[1:]
    elif len(header) == 2 and path_col is None and label_col is None:
        columns, path_col, label_col, body = ["filename", "label"], 0, 1, lines
    else:
        raise ValueError(
            f"{path}: cannot find the columns: the header needs a path column "
            f"({'/'.join(_CSV_PATH_COLUMNS)}) and a label column ({'/'.join(_CSV_LABEL_COLUMNS)}), "
            "or the file must have no header and two columns filename,label"
        )
    rows = []
    for n, row in body:
        if len(row) != len(columns):
            raise ValueError(f"{path}: line {n} has {len(row)} fields, the header {len(columns)}")
        fields = [f.strip() for f in row]
        if not fields[path_col] or not fields[label_col]:
            raise ValueError(f"{path}: line {n} has an empty filename or label")
        rows.append((n, fields[path_col], fields[label_col], dict(zip(columns, fields))))
    return rows


def _csv_labels(csv: PathLike, rows: list[_CsvRow]) -> LabelSet:
    labels = [label for _, _, label, _ in rows]
    if not all("class_index" in extra for *_, extra in rows):
        return _encode(labels)
    index_of: dict[str, int] = {}
    for line, _, label, extra in rows:
        try:
            k = int(extra["class_index"])
        except ValueError:
            raise ValueError(
                f"{csv}: line {line}: class_index {extra['class_index']!r} is not an integer"
            ) from None
        if index_of.setdefault(label, k) != k:
            raise ValueError(
                f"{csv}: line {line}: label {label} has class_index {k}, earlier {index_of[label]}"
            )
    names = sorted(index_of, key=index_of.__getitem__)
    if [index_of[n] for n in names] != list(range(len(names))):
        raise ValueError(
            f"{csv}: class_index must number the labels 0..{len(names) - 1} one to one; "
            "remove the column to number the labels by name"
        )
    return _encode(labels, names)
