"""The public API is static and typed: mypy sees the real signatures.

Runs mypy on a small user program against the installed package (it ships
``py.typed``): the functions and classes reveal their parameters, and a
misspelt or out-of-range argument is a type error before anything runs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

USER_PROGRAM = """
import numpy as np
import dp_pix

image = np.zeros((8, 8), np.uint8)
params = dp_pix.Params(block=16, epsilon=0.5, m=16)
reveal_type(dp_pix.dp_pixelate)
reveal_type(dp_pix.Params)
reveal_type(dp_pix.Pixelizer(params).batch(np.zeros((2, 8, 8), np.uint8)))
reveal_type(dp_pix.dp_pixelate_batch([image], params))
dp_pix.dp_pixelate(image, block=16, epsilon=0.5, m=16, edges="wrap")
dp_pix.dp_pixelate(image, blok=16, epsilon=0.5, m=16)
dp_pix.Params(block=16, epsilon=0.5, m=16, mechanism="exponential")
"""


def test_mypy_sees_the_signatures(tmp_path: Path) -> None:
    program = tmp_path / "user.py"
    program.write_text(textwrap.dedent(USER_PROGRAM))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "c"),
         "--config-file", "/dev/null", str(program)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    out = done.stdout
    revealed = [line.split("Revealed type is ", 1)[1].strip('"') for line in out.splitlines()
                if "Revealed type is" in line]
    assert len(revealed) == 4, out
    fn, params, batch, listed = revealed
    assert "dp_pix.params.Params | None" in fn and "seed: int | None" in fn, fn
    assert "'block'?: int | tuple[int, int]" in fn and "'m'?: int" in fn, fn
    assert "block: int | tuple[int, int]" in params and "epsilon: float | None" in params
    assert batch.startswith("numpy.ndarray") and listed.startswith("list[numpy.ndarray")
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 3, out
    assert '"edges"' in errors[0] and "Literal['partial', 'pad', 'crop']" in errors[0]
    assert '"blok"' in errors[1]
    assert '"mechanism"' in errors[2]
