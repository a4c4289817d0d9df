"""What the README tells a newcomer works as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_the_speed_snippet_times_what_the_text_says(data_root: Path) -> None:
    """A median over repeated calls after a warm-up, not one cold call."""
    (code,) = re.findall(r"```python\n(.*?)```", section("Speed"), flags=re.DOTALL)
    assert "median" in code and "range(15)" in code and "warm-up" in code
    faces = data_root / "att_faces"
    if not faces.is_dir():
        pytest.skip(f"AT&T faces not found at {faces}")
    code = code.replace('"../shared/data/att_faces"', repr(str(faces)))
    code = code.replace("range(15)", "range(3)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=300)
    assert re.fullmatch(r"[\d,]+ images/s \(median of 15 calls\)\n", done.stdout), done.stdout


def test_the_evaluate_example_is_the_quick_one() -> None:
    lines = [line for line in README.splitlines() if line.startswith("dp-pix evaluate")]
    assert lines and all("--quick" in line for line in lines)


def test_the_readme_says_where_the_command_is() -> None:
    top = README[: README.index("## ")]
    assert ".venv/bin/dp-pix" in top and "source .venv/bin/activate" in top


def test_make_demo_installs_no_extras_and_make_test_reuses_the_wheel() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo = re.search(r"^demo:.*?(?=^\S)", makefile, flags=re.DOTALL | re.MULTILINE)
    assert demo is not None and "[" not in demo.group(0) and "EXTRAS" not in demo.group(0)
    test = re.search(r"^test:(.*)$", makefile, flags=re.MULTILINE)
    assert test is not None and "$(STAMP)" in test.group(1)  # not a fresh build
    assert "/dp-pix-demo.png" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
