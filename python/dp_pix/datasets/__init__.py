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

Layout: :mod:`.dataset` (the ``ImageDataset`` class), :mod:`.sources` (reading
from a folder or a zip archive), :mod:`.files` (what the loaders share), and
one module per source: :mod:`.att`, :mod:`.omniglot`, :mod:`.miniimagenet`,
:mod:`.folder`.
"""

from __future__ import annotations

from dp_pix.datasets.att import load_att_faces
from dp_pix.datasets.dataset import ImageDataset, LabelSet, Skipped
from dp_pix.datasets.files import DATA_ENV, IMAGE_EXTENSIONS, PathLike
from dp_pix.datasets.folder import load_image_folder
from dp_pix.datasets.miniimagenet import load_miniimagenet
from dp_pix.datasets.omniglot import load_omniglot

__all__ = [
    "DATA_ENV",
    "IMAGE_EXTENSIONS",
    "ImageDataset",
    "LabelSet",
    "PathLike",
    "Skipped",
    "load_att_faces",
    "load_image_folder",
    "load_miniimagenet",
    "load_omniglot",
]
