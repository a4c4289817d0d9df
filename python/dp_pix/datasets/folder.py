"""Any folder of images with one subfolder per class."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from dp_pix.datasets.dataset import ImageDataset, build
from dp_pix.datasets.files import (
    IMAGE_EXTENSIONS,
    PathLike,
    check_on_error,
    encode,
    is_hidden,
    is_image,
    sort_files,
)
from dp_pix.datasets.sources import FolderSource
from dp_pix.io import READ_MODES

__all__ = ["load_image_folder"]


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
    check_on_error(on_error)
    if mode not in READ_MODES:
        raise ValueError(f"mode must be one of None, 'L', 'RGB', 'RGBA'; got {mode!r}")
    base = Path(os.fspath(root))
    if not base.is_dir():
        raise NotADirectoryError(f"image folder {base} is not a directory")
    exts = _check_extensions(extensions)
    source = FolderSource(base)

    def is_member(rel: str) -> str | None:
        if "/" not in rel:
            return "not inside a class folder"
        if is_hidden(rel):
            return "hidden file"
        if not is_image(rel, exts):
            return f"not an image file ({PurePosixPath(rel).suffix or 'no suffix'})"
        return None

    members, skipped = sort_files(source, source.files(), "", is_member)
    classes = [rel.split("/")[0] for rel in members]
    return build(
        name=name or base.name,
        source=source,
        members=members,
        label_sets={"class": encode(classes)},
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
