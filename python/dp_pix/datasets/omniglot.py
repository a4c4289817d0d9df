"""Omniglot (Lake et al. 2015), from the official zips or unpacked folders."""

from __future__ import annotations

import numpy as np

from dp_pix.datasets.dataset import ImageDataset, build
from dp_pix.datasets.files import (
    PathLike,
    check_on_error,
    encode,
    is_hidden,
    resolve_root,
    sort_files,
)
from dp_pix.datasets.sources import FolderSource, Source, ZipSource

__all__ = ["load_omniglot"]

_OMNIGLOT_SHAPE = (105, 105)
_OMNIGLOT_SUBSETS = ("background", "evaluation")


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
    check_on_error(on_error)
    if subset not in _OMNIGLOT_SUBSETS:
        raise ValueError(f"subset must be 'background' or 'evaluation'; got {subset!r}")
    if not isinstance(invert, bool):
        raise TypeError(f"invert must be True or False, got {type(invert).__name__}")
    top = f"images_{subset}"
    base = resolve_root(path, ["omniglot"], "Omniglot", f"{top}.zip or {top}/")
    source: Source
    prefix = f"{top}/"
    if base.is_file():
        source = ZipSource(base)
    elif (base / f"{top}.zip").is_file():
        source = ZipSource(base / f"{top}.zip")
    elif (base / top).is_dir():
        source = FolderSource(base / top)
        prefix = ""
    elif base.name == top:
        source, prefix = FolderSource(base), ""
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
        if len(parts) == 3 and parts[2].lower().endswith(".png") and not is_hidden(inner):
            return None
        return f"not {top}/<alphabet>/<character>/*.png"

    members, skipped = sort_files(source, files, prefix, is_member)
    if not members:
        raise FileNotFoundError(f"Omniglot {subset}: no images in {source.root}")
    characters = ["/".join(rel[len(prefix) :].split("/")[:2]) for rel in members]
    alphabets = [c.split("/")[0] for c in characters]
    return build(
        name=f"omniglot-{subset}",
        source=source,
        members=members,
        label_sets={"character": encode(characters), "alphabet": encode(alphabets)},
        label_name="character",
        mode="L",
        shape=_OMNIGLOT_SHAPE,
        skipped=skipped,
        on_error=on_error,
        transforms=(_invert,) if invert else (),
    )


def _invert(image: np.ndarray) -> np.ndarray:
    return np.subtract(255, image, dtype=np.uint8)
