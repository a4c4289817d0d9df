"""The data set every loader returns: a lazy, read-only sequence of uint8
images with labels."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, overload

import numpy as np

from dp_pix.datasets.sources import Source, ZipSource
from dp_pix.io import ImageReadError

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is Python 3.11+

__all__ = ["ImageDataset", "LabelSet", "Skipped", "Transform", "build"]

Transform = Callable[[np.ndarray], np.ndarray]
"""A function applied to each image as it is read (see ``ImageDataset.map``)."""


class Skipped(NamedTuple):
    """A file under a data set's root that is not in the data set, and why."""

    path: str
    reason: str


class LabelSet(NamedTuple):
    """One labelling of a data set: ``labels[i]`` indexes ``names``."""

    labels: np.ndarray
    names: tuple[str, ...]


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
        source: Source,
        members: Sequence[str],
        label_sets: dict[str, LabelSet],
        label_name: str,
        mode: str | None,
        shape: tuple[int, ...] | None = None,
        skipped: Sequence[Skipped] = (),
        transforms: Sequence[Transform] = (),
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

    def __getitem__(
        self, index: int | slice | Sequence[int] | np.ndarray
    ) -> np.ndarray | ImageDataset:
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

    def map(self, transform: Transform) -> ImageDataset:
        """A data set that applies ``transform`` to each image as it is read
        (lazily), e.g. ``ds.map(lambda im: pad_to_multiple(im, 16))``."""
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        return self._derive(np.arange(len(self)), (*self._transforms, transform), self.skipped)

    def close(self) -> None:
        """Close an open zip archive (it is reopened if the data set is read
        again)."""
        if isinstance(self._source, ZipSource):
            self._source.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _subset(self, idx: np.ndarray) -> ImageDataset:
        return self._derive(idx, self._transforms, self.skipped)

    def _derive(
        self, idx: np.ndarray, transforms: tuple[Transform, ...], skipped: Sequence[Skipped]
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


def build(
    *,
    name: str,
    source: Source,
    members: list[str],
    label_sets: dict[str, LabelSet],
    label_name: str,
    mode: str | None,
    shape: tuple[int, ...] | None,
    skipped: list[Skipped],
    on_error: str,
    transforms: Sequence[Transform] = (),
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
