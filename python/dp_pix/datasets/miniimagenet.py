"""miniImageNet (Vinyals et al. 2016): class folders, or a CSV of file names and labels."""

from __future__ import annotations

import csv as _csv
import os
from pathlib import Path

from dp_pix.datasets.dataset import ImageDataset, LabelSet, build
from dp_pix.datasets.files import PathLike, check_on_error, encode, missing_message, resolve_root
from dp_pix.datasets.folder import load_image_folder
from dp_pix.datasets.sources import FolderSource

__all__ = ["load_miniimagenet"]

_CSV_PATH_COLUMNS = ("path", "filename", "file", "image", "image_path")
_CSV_LABEL_COLUMNS = ("wnid", "label", "class", "class_name")


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
    check_on_error(on_error)
    base = resolve_root(
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
    members: list[str] = []
    missing: list[str] = []
    seen: dict[str, int] = {}
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
        raise FileNotFoundError(missing_message(f"miniImageNet ({csv})", base, missing, len(rows)))
    label_sets = {"class": _csv_labels(csv, rows)}
    if rows and "ravi_split" in rows[0][3]:
        label_sets["ravi_split"] = encode([extra["ravi_split"] for *_, extra in rows])
    return build(
        name="miniimagenet",
        source=FolderSource(base),
        members=members,
        label_sets=label_sets,
        label_name="class",
        mode="RGB",
        shape=None,
        skipped=[],
        on_error=on_error,
    )


_CsvRow = tuple[int, str, str, dict[str, str]]
"""(line number, filename, label, every column by name)."""


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
        return encode(labels)
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
    return encode(labels, names)
