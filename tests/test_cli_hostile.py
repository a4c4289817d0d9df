"""`dp-pix pixelate` used as a hostile user would: a full disk, hard links,
nested output folders, names that try to forge terminal lines, oversized
images, an interrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from dp_pix import pipeline
from test_cli_pixelate import SMALL, _env, noise_image, outputs, record, run_cli, save


def test_a_hard_link_is_one_image(tmp_path):
    """Two names of one inode would publish two noisy copies of one photo (2 ε)."""
    save(tmp_path / "in" / "a.png", noise_image((16, 16, 3)))
    os.link(tmp_path / "in" / "a.png", tmp_path / "in" / "b.png")
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert "privatized twice" in proc.stderr and "a.png" in proc.stderr and "b.png" in proc.stderr
    assert not (tmp_path / "out").exists()
    # Named on the command line, through another folder: the same refusal.
    (tmp_path / "other").mkdir()
    os.link(tmp_path / "in" / "a.png", tmp_path / "other" / "c.png")
    os.unlink(tmp_path / "in" / "b.png")
    proc = run_cli("pixelate", "in", "other/c.png", "-o", "out", *SMALL, cwd=tmp_path)
    assert proc.returncode == 2 and "privatized twice" in proc.stderr


@pytest.mark.parametrize("held", ["out", "out/sub"])
def test_a_run_inside_or_around_a_running_one_is_refused(tmp_path, held):
    """-o out and -o out/sub at once would mix two guarantees in out/."""
    save(tmp_path / "in" / "a.png", noise_image((16, 16)))
    (tmp_path / "out" / "sub").mkdir(parents=True)
    other = "out/sub" if held == "out" else "out"
    with pipeline._locked(tmp_path / held):  # another run is writing there
        proc = run_cli("pixelate", "in", "-o", other, *SMALL, cwd=tmp_path)
        sibling = run_cli("pixelate", "in", "-o", "elsewhere", *SMALL, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert "another dp-pix run is writing" in proc.stderr
    assert outputs(tmp_path / "out") == set()
    assert sibling.returncode == 0, sibling.stderr  # an unrelated OUT is fine
    after = run_cli("pixelate", "in", "-o", other, *SMALL, cwd=tmp_path)
    assert after.returncode == 0, after.stderr


def test_a_name_cannot_forge_a_line_on_the_terminal(tmp_path):
    evil = "x\ndp-pix pixelate: 0 failed\x1b[2K.png"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / evil).write_bytes(b"not an image")
    save(tmp_path / "in" / "ok.png", noise_image((8, 8)))
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, cwd=tmp_path)
    assert proc.returncode == 1
    assert "\x1b" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    (shown,) = [line for line in lines if "failed\\x1b" in line]
    assert "x\\ndp-pix pixelate: 0 failed\\x1b[2K.png" in shown
    assert not any(line.startswith("dp-pix pixelate: 0 failed") for line in lines)
    # The record keeps the true name (JSON escapes it).
    assert record(tmp_path / "out")["failures"][0]["path"].endswith(evil)


def test_counts_add_up_and_hidden_files_are_listed(tmp_path):
    for i in range(3):
        save(tmp_path / "in" / f"{i}.png", noise_image((8, 8)))
    (tmp_path / "in" / "bad.png").write_bytes(b"junk")
    (tmp_path / "in" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "in" / ".cache").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("x")
    (tmp_path / "in" / "fifo.png").unlink(missing_ok=True)
    os.mkfifo(tmp_path / "in" / "fifo.png")  # found, not a regular file: a failure
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, cwd=tmp_path)
    assert proc.returncode == 1
    counts = record(tmp_path / "out")["counts"]
    assert counts["written"] == 3 and counts["failed"] == 2 and counts["not_done"] == 0
    assert counts["planned"] == counts["written"] + counts["failed"] + counts["already_present"]
    ignored = record(tmp_path / "out")["ignored"]
    assert counts["ignored"] == len(ignored) == 3
    assert any(".hidden.png" in i and "hidden" in i for i in ignored)
    assert any(".cache" in i for i in ignored) and any("notes.txt" in i for i in ignored)
    assert "3 other files ignored" in proc.stdout


def test_an_oversized_image_fails_by_name(tmp_path, monkeypatch):
    save(tmp_path / "in" / "big.png", noise_image((40, 40)))
    save(tmp_path / "in" / "ok.png", noise_image((8, 8)))
    proc = run_cli("pixelate", "in", "-o", "out", *SMALL, "--max-pixels", "1000", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Warning" not in proc.stderr.replace("DecompressionBombWarning:", "")
    (line,) = [x for x in proc.stderr.splitlines() if "big.png" in x]
    assert "1600 pixels" in line and "--max-pixels" in line
    assert outputs(tmp_path / "out") == {"ok.png", "dp-pix.json"}


def test_ctrl_c_says_how_to_resume(tmp_path):
    for i in range(400):
        save(tmp_path / "in" / f"{i:03d}.png", noise_image((64, 64, 3)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dp_pix.cli", "pixelate", "in", "-o", "out", *SMALL, "-j", "1"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((tmp_path / "out").glob("*.png"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "--skip-existing" in err
    rec = record(tmp_path / "out")
    assert rec["status"] == "interrupted" and rec["counts"]["not_done"] > 0
    done = run_cli("pixelate", "in", "-o", "out", *SMALL, "--skip-existing", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert record(tmp_path / "out")["counts"]["written"] + rec["counts"]["written"] == 400


# ------------------------------------------------------------------ full disk

FULL_DISK = """
import json, os, subprocess, sys
from dp_pix import cli
root = sys.argv[1]
out = os.path.join(root, "disk")
os.makedirs(out)
# A 4 MB file system, 3 MB of it taken: room for about 80 of the 200 outputs.
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", out], check=True)
with open(os.path.join(out, "ballast"), "wb") as fp:
    fp.write(os.urandom(3 << 20))
args = ["pixelate", os.path.join(root, "in"), "-o", os.path.join(out, "private"),
        "-b", "1", "-e", "1e9", "-m", "1", "-j", "2"]  # outputs as large as the inputs
first = cli.main(args)
rec = json.load(open(os.path.join(out, "private", "dp-pix.json")))
on_disk = len([n for n in os.listdir(os.path.join(out, "private")) if n.endswith(".png")])
leftovers = [n for n in os.listdir(os.path.join(out, "private")) if n.startswith(".")]
os.unlink(os.path.join(out, "ballast"))
second = cli.main(args + ["--skip-existing"])
rec2 = json.load(open(os.path.join(out, "private", "dp-pix.json")))
total = len([n for n in os.listdir(os.path.join(out, "private")) if n.endswith(".png")])
print(json.dumps({"first": first, "record": rec, "on_disk": on_disk, "leftovers": leftovers,
                  "second": second, "record2": rec2, "total": total}))
"""


def test_a_full_disk_stops_the_run_and_the_record_tells_the_truth(tmp_path):
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run(
        [unshare, "-rm", "mount", "-t", "tmpfs", "tmpfs", str(tmp_path)], check=False,
        capture_output=True,
    ).returncode != 0:
        pytest.skip("cannot mount a small tmpfs in a private mount namespace here")
    for i in range(200):
        save(tmp_path / "in" / f"{i:03d}.png", noise_image((64, 64, 3)))
    (tmp_path / "full_disk.py").write_text(textwrap.dedent(FULL_DISK))
    proc = subprocess.run(
        [unshare, "-rm", sys.executable, str(tmp_path / "full_disk.py"), str(tmp_path)],
        capture_output=True, text=True, env=_env(), timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rec = result["record"]
    assert result["first"] == 1
    assert rec["status"] == "out of space"
    assert 0 < rec["counts"]["written"] == result["on_disk"] < 200
    assert rec["counts"]["not_done"] > 0
    assert result["leftovers"] == []  # no temporary file, no reserve left behind
    # One line about the full disk, not one per remaining file.
    assert proc.stderr.count("No space left") == 1, proc.stderr
    assert rec["counts"]["failed"] == 0 and rec["failures"] == []
    assert "--skip-existing" in proc.stderr
    assert result["second"] == 0 and result["total"] == 200
    assert result["record2"]["status"] == "complete"
    assert result["record2"]["counts"]["already_present"] == result["on_disk"]
