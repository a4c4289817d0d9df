"""Where a data set's bytes come from: a folder or a zip archive."""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from dp_pix.io import ImageReadError, read_image_file

__all__ = ["FolderSource", "Source", "ZipSource"]


class FolderSource:
    """Reads the files under a folder."""

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
        out: list[str] = []
        seen: set[str] = set()
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


class ZipSource:
    """Reads members of a zip archive without unpacking it. The open handle
    is per process, so a data set survives ``fork`` (e.g. data-loader
    workers) and pickling."""

    def __init__(self, path: Path) -> None:
        self._attach(path)

    def _attach(self, path: Path) -> None:
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

    def __getstate__(self) -> dict[str, Path]:
        return {"root": self.root}

    def __setstate__(self, state: dict[str, Path]) -> None:
        self._attach(state["root"])


Source = FolderSource | ZipSource
"""A folder or a zip archive: what ``ImageDataset`` reads its images from."""
