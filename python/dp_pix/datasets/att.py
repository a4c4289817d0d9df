"""The AT&T (ORL) faces."""

from __future__ import annotations

from dp_pix.datasets.dataset import ImageDataset, build
from dp_pix.datasets.files import (
    PathLike,
    check_on_error,
    encode,
    missing_message,
    resolve_root,
    sort_files,
)
from dp_pix.datasets.sources import FolderSource

__all__ = ["load_att_faces"]

_ATT_SUBJECTS, _ATT_PER_SUBJECT, _ATT_SHAPE = 40, 10, (112, 92)


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
    check_on_error(on_error)
    base = resolve_root(root, ["att_faces"], "AT&T faces", "s1/1.pgm .. s40/10.pgm")
    expected = [
        f"s{s}/{i}.pgm" for s in range(1, _ATT_SUBJECTS + 1) for i in range(1, _ATT_PER_SUBJECT + 1)
    ]
    missing = [rel for rel in expected if not (base / rel).is_file()]
    if missing:
        raise FileNotFoundError(missing_message("AT&T faces", base, missing, len(expected)))
    source = FolderSource(base)
    wanted = set(expected)
    _, skipped = sort_files(
        source,
        source.files(),
        "",
        lambda rel: None if rel in wanted else "not one of the AT&T images s1..s40/1..10.pgm",
    )
    subjects = [rel.split("/")[0] for rel in expected]
    names = tuple(f"s{s}" for s in range(1, _ATT_SUBJECTS + 1))
    return build(
        name="att_faces",
        source=source,
        members=expected,
        label_sets={"subject": encode(subjects, names)},
        label_name="subject",
        mode="L",
        shape=_ATT_SHAPE,
        skipped=skipped,
        on_error=on_error,
    )
