"""`dp-pix demo` and the `dp-pix` command line, in process and as a subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import dp_pix
import numpy as np
import pytest
from dp_pix import cli, demo, regions
from PIL import Image

EPSILONS = (0.25, 1.0, 4.0)


def run_cli(*args: str, cwd: Path, encoding: str = "utf-8") -> subprocess.CompletedProcess:
    """Run ``python -m dp_pix.cli ARGS`` on the dp_pix this test process imported."""
    package_root = str(Path(dp_pix.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = encoding
    proc = subprocess.run(
        [sys.executable, "-m", "dp_pix.cli", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=300,
    )
    proc.stdout = proc.stdout.decode(encoding)
    proc.stderr = proc.stderr.decode(encoding)
    return proc


def tile_spans(panel: np.ndarray, row: int) -> list[tuple[int, int]]:
    """Column ranges [start, stop) of the tiles: runs of non-background columns."""
    band = panel[row : row + 256]
    background = np.all(band == 255, axis=(0, 2))
    spans, start = [], None
    for x, empty in enumerate([*background, True]):
        if not empty and start is None:
            start = x
        elif empty and start is not None:
            spans.append((start, x))
            start = None
    return spans


def split_tiles(panel: np.ndarray) -> list[np.ndarray]:
    top = int(np.argmax(~np.all(panel == 255, axis=(1, 2))))  # first non-blank row
    return [panel[top : top + 256, a:b] for a, b in tile_spans(panel, top)]


def is_blocky(tile: np.ndarray, block: int) -> bool:
    cells = tile.reshape(256 // block, block, 256 // block, block, 3)
    return bool(np.all(cells == cells[:, :1, :, :1, :]))


# --- the bundled photo ------------------------------------------------------------


def test_demo_image_is_a_256_rgb_photo():
    image = demo.load_demo_image()
    assert image.shape == (256, 256, 3)
    assert image.dtype == np.uint8
    assert image.std() > 40  # a photograph, not a flat or blank file
    readme = Path(dp_pix.__file__).parent / "data" / "README.txt"
    assert "public domain" in readme.read_text(encoding="utf-8").lower()


# --- the panel ----------------------------------------------------------------------


def test_demo_writes_png_panel_with_six_tiles(tmp_path):
    out = tmp_path / "panel.png"
    argv = ["demo", "--out", str(out), "--seed", "3", "--epsilon", *map(str, EPSILONS)]
    assert cli.main(argv) == 0

    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.mode == "RGB"
        panel = np.asarray(im)
    image = demo.load_demo_image()
    assert panel.shape[0] > 256  # tiles plus a caption strip
    assert 6 * 256 <= panel.shape[1] < 6 * 256 + 220

    tiles = split_tiles(panel)
    assert [t.shape for t in tiles] == [(256, 256, 3)] * 6
    original, mosaic, *private, region = tiles
    np.testing.assert_array_equal(original, image)
    np.testing.assert_array_equal(mosaic, dp_pix.pixelate(image, block=16))
    for tile in private:
        assert is_blocky(tile, 16)
        assert not np.array_equal(tile, mosaic)

    # noisier as epsilon falls: distance to the mosaic shrinks as epsilon grows
    errors = [np.mean((t.astype(float) - mosaic) ** 2) for t in private]
    assert errors[0] > errors[1] > errors[2], errors

    # region mode: the padded face box privatized, every other pixel as it was
    (x0, y0, x1, y1), = regions.layout([demo.DEMO_FACE], (256, 256), pad=0.2).boxes
    keep = np.ones((256, 256), bool)
    keep[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(region[keep], image[keep])
    assert np.mean(region[~keep] != image[~keep]) > 0.9


def test_demo_panel_reports_each_tile():
    image = demo.load_demo_image()
    panel, panels = demo.demo_panel(image, block=16, m=16, epsilons=EPSILONS, seed=1)
    assert panel.dtype == np.uint8 and panel.ndim == 3 and panel.shape[2] == 3
    assert [p["kind"] for p in panels] == ["original", "mosaic"] + ["dp-pix"] * 3 + ["region"]
    region = panels.pop()
    assert [p["epsilon"] for p in panels[2:]] == list(EPSILONS)
    assert not panels[0]["private"] and not panels[1]["private"]
    assert "not private" in panels[1]["line"].lower()
    for p, epsilon in zip(panels[2:], EPSILONS):
        expected = dp_pix.Pixelizer(block=16, epsilon=epsilon, m=16).describe(channels=3)
        assert p["private"]
        assert p["describe"]["epsilon"] == pytest.approx(epsilon)  # achieved ε, may be a hair less
        assert p["describe"]["channels"] == 3
        assert expected["guarantee"] in p["line"]
        assert p["describe"]["grey_std_interior"] == pytest.approx(expected["grey_std_interior"])
    stds = [p["describe"]["grey_std_interior"] for p in panels[2:]]
    assert stds[0] > stds[1] > stds[2]
    assert region["private"] and region["epsilon"] == demo.REGION_EPSILON
    assert region["describe"]["m"] == 75 * 75  # the padded face box
    assert region["describe"]["guarantee"] in region["line"]
    assert "a face the detector misses has no protection" in region["line"]
    _, without = demo.demo_panel(image, block=16, m=16, epsilons=[1], region_epsilon=None)
    assert [p["kind"] for p in without] == ["original", "mosaic", "dp-pix"]


def test_demo_panel_takes_a_grey_image():
    image = demo.load_demo_image()[:, :, 1]
    panel, panels = demo.demo_panel(image, block=8, m=4, epsilons=[1.0], seed=0)
    assert len(panels) == 4
    assert panels[2]["describe"]["channels"] == 1 and panels[3]["describe"]["channels"] == 1
    assert [t.shape for t in split_tiles(panel)] == [(256, 256, 3)] * 4


def test_demo_is_reproducible_under_a_seed(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli.main(["demo", "--out", str(a), "--seed", "11"]) == 0
    assert cli.main(["demo", "--out", str(b), "--seed", "11"]) == 0
    assert a.read_bytes() == b.read_bytes()


# --- printed guarantees ----------------------------------------------------------------


def test_printed_guarantee_lines_name_each_epsilon(tmp_path):
    eps = ["0.25", "1", "4"]
    proc = run_cli("demo", "--epsilon", *eps, "--seed", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / cli.DEMO_OUT).is_file()  # default --out: the current directory
    lines = proc.stdout.splitlines()
    for e in eps:
        matching = [line for line in lines if f"DP-Pix ε={e}:" in line]
        assert len(matching) == 1, proc.stdout
        guarantee = dp_pix.Pixelizer(block=16, epsilon=float(e), m=16).describe(channels=3)
        assert guarantee["guarantee"] in matching[0]
    assert any("mosaic" in line and "NOT private" in line for line in lines)
    assert any(line.startswith("wrote ") and cli.DEMO_OUT in line for line in lines)


def test_ascii_console_gets_epsilon_spelled_out(tmp_path):
    proc = run_cli("demo", "--epsilon", "2", "--seed", "1", cwd=tmp_path, encoding="ascii")
    assert proc.returncode == 0, proc.stderr
    assert "DP-Pix epsilon=2:" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_default_epsilons_span_the_trade_off():
    # The defaults are meant to run from "face buried in noise" to "close to the mosaic".
    assert list(cli.DEMO_EPSILONS) == sorted(set(cli.DEMO_EPSILONS))
    assert len(cli.DEMO_EPSILONS) == 3
    stds = [
        dp_pix.Pixelizer(block=cli.DEMO_BLOCK, epsilon=e, m=cli.DEMO_M).describe(channels=3)[
            "grey_std_interior"
        ]
        for e in cli.DEMO_EPSILONS
    ]
    assert stds[0] > 100, stds  # buried
    assert stds[-1] < 20, stds  # recognisable


# --- files ------------------------------------------------------------------------------


def test_demo_refuses_to_overwrite(tmp_path):
    out = tmp_path / "taken.png"
    out.write_bytes(b"precious")
    proc = run_cli("demo", "--out", str(out), cwd=tmp_path)
    assert proc.returncode != 0
    assert "taken.png" in proc.stderr
    assert "--overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png"]  # no temp file left


def test_demo_overwrites_when_asked(tmp_path, capsys):
    out = tmp_path / "taken.png"
    out.write_bytes(b"precious")
    assert cli.main(["demo", "--out", str(out), "--overwrite", "--seed", "2"]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png"]
    assert str(out) in capsys.readouterr().out


def test_demo_into_missing_directory_fails_cleanly(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir" / "panel.png"
    assert cli.main(["demo", "--out", str(out)]) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.startswith("dp-pix: error:") and "does not exist" in err
    assert not out.exists()


def test_write_atomically_never_clobbers(tmp_path):
    out = tmp_path / "x.bin"
    cli.write_atomically(out, b"one", overwrite=False)
    assert out.read_bytes() == b"one"
    with pytest.raises(cli.CommandError, match="--overwrite"):
        cli.write_atomically(out, b"two", overwrite=False)
    assert out.read_bytes() == b"one"
    cli.write_atomically(out, b"three", overwrite=True)
    assert out.read_bytes() == b"three"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


# --- arguments, help, version ------------------------------------------------------------


def test_version_prints_the_package_version(tmp_path):
    proc = run_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"dp-pix {dp_pix.__version__}")


def test_version_in_process(capsys):
    assert cli.main(["--version"]) == 0
    assert dp_pix.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["-1", "0", "nan", "inf", "abc"])
def test_bad_epsilon_is_a_usage_error(tmp_path, bad):
    proc = run_cli("demo", "--epsilon", bad, cwd=tmp_path)
    assert proc.returncode == 2
    assert "--epsilon" in proc.stderr
    assert repr(bad) in proc.stderr or bad in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / cli.DEMO_OUT).exists()


@pytest.mark.parametrize("option", ["--block", "--m"])
@pytest.mark.parametrize("bad", ["0", "-3", "2.5"])
def test_bad_block_or_m_is_a_usage_error(tmp_path, capsys, option, bad):
    out = tmp_path / "p.png"
    assert cli.main(["demo", "--out", str(out), option, bad]) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert not out.exists()


def test_help_lists_demo(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: dp-pix" in out and "demo" in out


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "frobnicate" in capsys.readouterr().err


def test_epsilon_too_small_for_the_noise_range_is_a_clean_error(tmp_path):
    proc = run_cli("demo", "--epsilon", "1e-12", cwd=tmp_path)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("dp-pix: error:")]
    assert len(errors) == 1 and "epsilon" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / cli.DEMO_OUT).exists()


def test_api_value_error_becomes_one_line(monkeypatch, capsys, tmp_path):
    def refuse(*args, **kwargs):
        raise ValueError("epsilon is too small: the noise scale would overflow")

    monkeypatch.setattr(demo, "demo_panel", refuse)
    assert cli.main(["demo", "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert err == "dp-pix: error: epsilon is too small: the noise scale would overflow\n"


def test_panel_png_bytes_round_trip():
    panel = np.zeros((3, 4, 3), np.uint8)
    panel[1, 2] = (1, 2, 3)
    with Image.open(io.BytesIO(demo.encode_png(panel))) as im:
        np.testing.assert_array_equal(np.asarray(im), panel)
