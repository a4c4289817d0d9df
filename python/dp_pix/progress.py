"""One progress bar for every long job (``pixelate``, ``evaluate``, ``audit``, video).

Built on tqdm when it is installed (``pip install 'dp-pix[progress]'``; the
evaluation extra includes it). Without tqdm, or when the stream is not a
terminal, no bar is drawn: the job runs the same and ``note`` lines are still
printed. ``dp-pix`` itself needs only numpy and Pillow.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm
    from typing_extensions import Self  # typing.Self is Python 3.11+

__all__ = ["Progress", "escape_controls", "printable_line"]


def escape_controls(text: str) -> str:
    """``text`` with control and other unprintable characters as ``\\n``,
    ``\\xNN``, ``\\uNNNN``: a newline or an escape sequence in a file name
    must not forge or hide a line on a terminal."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def printable_line(text: str, stream: IO[str] | None = None) -> str:
    """``text`` safe to print on one line of ``stream``: control characters
    escaped (:func:`escape_controls`), and what the stream's encoding lacks as
    ``\\uNNNN``."""
    cleaned = escape_controls(text)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return cleaned.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return cleaned.encode("ascii", "backslashreplace").decode("ascii")


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


class Progress:
    """A bar of ``total`` steps on ``stream`` (default ``sys.stderr``), drawn
    only when the stream is a terminal and tqdm is installed.

    ``advance(n, failed=...)`` moves it on (failures are counted in the bar);
    ``note(text)`` prints one line above the bar, or just the line when there
    is no bar; ``describe(text)`` changes the label. A context manager: the bar
    is cleared on exit, also after an exception.
    """

    def __init__(
        self,
        total: int,
        *,
        label: str = "",
        unit: str = "it",
        stream: IO[str] | None = None,
        initial: int = 0,
        enabled: bool | None = None,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.failed = 0
        self.already = initial
        live = _isatty(self.stream) if enabled is None else enabled
        self._bar: tqdm[Any] | None = None
        if live and total > 0:
            try:
                from tqdm import tqdm
            except ImportError:  # no bar; the job runs the same
                return
            # A terminal that reports no size (a bare pty) gets 80 columns;
            # tqdm would draw an empty bar.
            sized = _columns(self.stream) > 0
            self._bar = tqdm(
                total=total,
                desc=label or None,
                unit=unit,
                file=self.stream,
                leave=False,
                dynamic_ncols=sized,
                ncols=None if sized else 80,
                nrows=None if sized else 24,
                mininterval=0.1,
                smoothing=0.1,
            )
            if initial:
                self._bar.set_postfix_str(f"{initial} already done", refresh=False)

    @property
    def drawn(self) -> bool:
        """Whether a bar is on the terminal."""
        return self._bar is not None

    def advance(self, n: int = 1, *, failed: bool = False) -> None:
        if failed:
            self.failed += n
        if self._bar is not None:
            if failed:
                extra = f", {self.already} already done" if self.already else ""
                self._bar.set_postfix_str(f"{self.failed} failed{extra}", refresh=False)
            self._bar.update(n)
            if self._bar.total is not None and self._bar.n >= self._bar.total:
                # the last step is drawn, however fast
                self._bar.refresh()

    def describe(self, label: str) -> None:
        if self._bar is not None:
            self._bar.set_description_str(label, refresh=False)

    def note(self, text: str) -> None:
        line = printable_line(text, self.stream)
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
