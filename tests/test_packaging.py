"""What `pip install dp-pix` brings, and what the sdist holds (cheap checks;
`make wheel-portable` and `make sdist` build and check the real artefacts)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0].lower()


def test_the_core_needs_only_numpy_and_pillow():
    declared = _pyproject()["project"]["dependencies"]
    assert sorted(_name(r) for r in declared) == ["numpy", "pillow"]
    # ... and so does the installed wheel's metadata
    installed = [r for r in metadata.requires("dp-pix") or [] if "extra ==" not in r]
    assert sorted(_name(r) for r in installed) == ["numpy", "pillow"]


def test_every_extra_is_in_the_readme_table():
    extras = set(_pyproject()["project"]["optional-dependencies"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", readme, flags=re.MULTILINE))
    assert extras == listed, f"extras not in the README table: {extras - listed}; " \
        f"rows for no extra: {listed - extras}"


def test_the_sdist_holds_what_a_build_needs(tmp_path):
    maturin = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which(
        "maturin"
    )
    if maturin is None:
        pytest.skip("maturin is not installed")
    subprocess.run(
        [maturin, "sdist", "--out", str(tmp_path)], cwd=ROOT, check=True, capture_output=True
    )
    (sdist,) = tmp_path.glob("dp_pix-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked = subprocess.run(
        ["git", "ls-files", "crates", "python"], cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    wanted = {n for n in tracked if n.endswith((".rs", ".toml", ".py", ".pyi", ".png", ".txt"))}
    wanted |= {"Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md", "PRIVACY.md",
               "python/dp_pix/py.typed"}
    assert wanted <= names, sorted(wanted - names)
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
