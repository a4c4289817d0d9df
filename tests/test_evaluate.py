"""dp_pix.evaluate and `dp-pix evaluate`: a small synthetic data set drives the
whole pipeline (library and CLI) in seconds; checks on what it measures."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import dp_pix
import numpy as np
import pytest
from PIL import Image

EXTRA = "install the eval extra: pip install 'dp-pix[eval]'"
for _module in ("sklearn", "skimage", "matplotlib", "scipy", "joblib"):
    pytest.importorskip(_module, reason=f"{_module} is missing: {EXTRA}")

import itertools

from dp_pix import cli, evaluate

# A tiny grid: two attackers, two splits, two values per sweep.
TINY = evaluate.Config(
    blocks=(2, 4),
    ms=(4, 16),
    epsilons=(0.5, 4.0),
    block=4,
    m=4,
    epsilon=1.0,
    repetitions=2,
    max_images=40,
    attack_epsilons=(0.05, 4.0),
    splits=2,
    cv_folds=2,
    attackers=("logreg", "centroid"),
    examples=3,
    reconstruct_blocks=(4,),
    reconstruct_epsilons=(0.05, 4.0),
    reconstruct_splits=2,
    reconstruct_examples=2,
    name="tiny",
)
N_CLASSES, PER_CLASS, SHAPE = 6, 10, (24, 20)


def synthetic_images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classes far apart cell by cell (a random 6x5 grid of grey levels blown
    up to 24x20), members differing by small pixel noise."""
    rng = np.random.default_rng(seed)
    grids = rng.integers(0, 256, size=(N_CLASSES, 6, 5))
    protos = np.kron(grids, np.ones((4, 4)))
    labels = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    images = protos[labels] + rng.normal(0, 8, size=(labels.size, *SHAPE))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The synthetic set as a folder with one subfolder of PNGs per class."""
    root = tmp_path_factory.mktemp("synthetic")
    images, labels = synthetic_images()
    for i, (image, label) in enumerate(zip(images, labels)):
        d = root / f"class{label}"
        d.mkdir(exist_ok=True)
        Image.fromarray(image).save(d / f"{i}.png")
    (root / "README.txt").write_text("synthetic test data\n")
    return root


@pytest.fixture(scope="module")
def tiny_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "out"
    result = evaluate.run("folder", folder, out, seed=7, jobs=1, progress=False, config=TINY)
    return result


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def summary_value(rows, **where) -> float:
    hits = [r for r in rows if all(str(r[k]) == str(v) for k, v in where.items())]
    assert len(hits) == 1, (where, hits)
    return float(hits[0]["mean"])


# --- the library ---------------------------------------------------------------------


def test_run_writes_every_output(tiny_run):
    out = tiny_run.out
    names = {p.name for p in out.iterdir()}
    assert names == {
        "report.md",
        "measurements.csv",
        "summary.csv",
        "run.json",
        "utility.png",
        "attack.png",
        "examples-block.png",
        "examples-m.png",
        "examples-epsilon.png",
        "examples-attack.png",
        "reconstruction.png",
        "reconstruction-examples.png",
    }
    for name in names:
        if name.endswith(".png"):
            with Image.open(out / name) as im:
                assert im.width > 300 and im.height > 150
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 7 and info["config"]["name"] == "tiny"
    assert info["images"] == N_CLASSES * PER_CLASS and info["classes"] == N_CLASSES


def test_measurements_csv_is_tidy(tiny_run):
    rows = read_csv(tiny_run.out / "measurements.csv")
    assert list(rows[0]) == list(evaluate.CSV_COLUMNS)
    keys = [
        (
            r["experiment"],
            r["method"],
            r["attacker"],
            r["block"],
            r["m"],
            r["epsilon"],
            r["repetition"],
            r["metric"],
        )
        for r in rows
    ]
    assert len(keys) == len(set(keys)), "one row per dataset/method/parameter/repetition/metric"
    assert {r["dataset"] for r in rows} == {"folder"}
    utility = [r for r in rows if r["experiment"].startswith("utility")]
    # 2 sweeps points × 3 sweeps × 2 noisy methods × 2 repetitions + 2 blocks of the mosaic
    # and of the blur, 3 metrics
    assert len(utility) == (2 * 3 * 2 * 2 + 2 + 2) * 3
    assert {r["metric"] for r in utility} == {"mse", "ssim", "mse_uint8_wrapped"}
    assert {r["block"] for r in utility if r["method"] == "blur"} == {"2", "4"}
    attack = [r for r in rows if r["experiment"] == "attack"]
    # 5 conditions (original, mosaic, blur, 2 ε) × 2 splits × 3 attackers (2 + best) × (top1,
    # top5, cv_top1) + 2 chance rows
    assert len(attack) == 5 * 2 * 3 * 3 + 2
    random = [r for r in attack if r["method"] == "random"]
    assert {r["metric"]: float(r["value"]) for r in random} == {"top1": 1 / 6, "top5": 5 / 6}
    best = [r for r in attack if r["attacker"] == "best"]
    assert all(r["params"].startswith("attacker=") for r in best)
    rec = [r for r in rows if r["experiment"] == "reconstruction"]
    # 7 conditions (original, blur, mosaic, 2 noisy mosaics, 2 DP-Pix) × 2 splits × (as
    # released: psnr, ssim, mse, reid_top1; each of 2 maps: those and cv_mse; no top-5 among
    # 3 targets) + the mean face (2 splits × 3 metrics) + random guessing (top-1)
    assert len(rec) == 7 * 2 * (4 + 2 * 5) + 2 * 3 + 1
    assert {r["attacker"] for r in rec} == {"none", "ridge", "kernel-ridge", ""}
    assert {r["method"] for r in rec} == {
        "original", "blur", "mosaic", "noisy-mosaic", "dp-pix", "mean-face", "random"
    }  # fmt: skip
    assert all("classifier=" in r["params"] for r in rec if r["metric"] == "reid_top1" and
               r["attacker"])  # fmt: skip


def test_attack_is_near_perfect_on_originals_and_near_chance_under_strong_dp(tiny_run):
    rows = tiny_run.summary
    original = summary_value(
        rows, experiment="attack", method="original", attacker="best", metric="top1"
    )
    mosaic = summary_value(
        rows, experiment="attack", method="mosaic", attacker="best", metric="top1"
    )
    strong = summary_value(
        rows, experiment="attack", method="dp-pix", attacker="best", epsilon=0.05, metric="top1"
    )
    assert original >= 0.95
    assert mosaic >= 0.95  # the classes differ cell by cell: the mosaic keeps them apart
    # ε = 0.05 on 4x4 cells: noise sd ≈ 1800 grey levels. Chance is 1/6; 24 test images.
    assert strong <= 0.5


def test_reconstruction_succeeds_on_originals_and_fails_under_strong_dp(tiny_run):
    rows = tiny_run.summary

    def get(method, attacker, metric, **where):
        return summary_value(
            rows, experiment="reconstruction", method=method, attacker=attacker, metric=metric,
            **where,
        )  # fmt: skip

    for name in ("ridge", "kernel-ridge"):
        assert get("original", name, "mse") == 0 and get("original", name, "ssim") == 1
        assert get("original", name, "psnr") == float("inf")
        assert get("original", name, "reid_top1") == 1.0
        # ε = 0.05 on 4x4 cells: the map falls back to about the mean face.
        strong = get("dp-pix", name, "mse", epsilon=0.05)
        face = summary_value(rows, experiment="reconstruction", method="mean-face", metric="mse")
        assert strong > 0.8 * face
        assert get("mosaic", name, "mse") < 0.5 * strong
    random = summary_value(rows, experiment="reconstruction", method="random", metric="reid_top1")
    assert random == pytest.approx(1 / 3)  # 6 classes: 3 public, 3 targets


def test_blur_matches_the_cell_size():
    from dp_pix.evaluate.tasks import blur, blur_sigma

    assert blur_sigma(16) == 8.0
    flat = np.full((2, 30, 20), 77, dtype=np.uint8)
    assert np.array_equal(evaluate.obfuscate(flat, "blur", block=8), flat)
    # Stripes one cell wide (period 2b) keep a fair part of their contrast; stripes at
    # the scale of a cell (period b) vanish within a grey level or two.
    x = np.arange(64)
    coarse = np.tile(np.where((x // 8) % 2, 255, 0).astype(np.uint8), (64, 1))[None]
    fine = np.tile(np.rint(127.5 + 127.5 * np.cos(2 * np.pi * x / 8)).astype(np.uint8), (64, 1))
    out_coarse, out_fine = blur(coarse, 8)[0], blur(fine[None], 8)[0]
    middle = (slice(16, 48), slice(16, 48))
    assert out_coarse[middle].max() - out_coarse[middle].min() > 40
    assert out_fine[middle].max() - out_fine[middle].min() <= 3
    colour = np.stack([coarse[0], 255 - coarse[0], coarse[0]], axis=-1)[None]
    assert blur(colour, 8).shape == colour.shape
    with pytest.raises(TypeError, match="needs block"):
        evaluate.obfuscate(flat, "blur")


def test_utility_numbers_are_sane(tiny_run):
    rows = tiny_run.summary
    for r in rows:
        if r["experiment"].startswith("utility"):
            assert r["ci_low"] <= r["mean"] <= r["ci_high"]
            if r["metric"] == "mse_uint8_wrapped":
                assert 0 <= r["mean"] <= 255
            if r["metric"] == "ssim":
                assert -1 <= r["mean"] <= 1
    mosaic_mse = [
        summary_value(rows, experiment="utility-block", method="mosaic", block=b, metric="mse")
        for b in (2, 4)
    ]
    assert 0 < mosaic_mse[0] < mosaic_mse[1]  # bigger cells lose more detail
    # The noisy mosaic's σ is DP-Pix's interior-cell std at the same b, m, ε.
    sigma = next(
        r
        for r in rows
        if r["method"] == "noisy-mosaic"
        and r["experiment"] == "utility-epsilon"
        and r["epsilon"] == 4.0
    )["sigma"]
    info = dp_pix.Pixelizer(block=4, epsilon=4.0, m=4).describe()
    assert sigma == pytest.approx(info["grey_std_interior"])


def test_dp_pix_mse_falls_as_epsilon_grows(folder, tmp_path):
    """A check that can fail: over ε = 0.25, 1, 4, 16 the noise variance falls
    16-fold per step, far more than the sampling error of 60 images."""
    config = evaluate.Config(
        **{
            **TINY.__dict__,
            "epsilons": (0.25, 1.0, 4.0, 16.0),
            "blocks": (4,),
            "ms": (4,),
            "repetitions": 1,
            "attack_epsilons": (1.0,),
            "splits": 1,
            "attackers": ("centroid",),
        }
    )
    result = evaluate.run(
        "folder", folder, tmp_path / "e", seed=1, jobs=1, progress=False, config=config
    )
    mse = [
        summary_value(
            result.summary, experiment="utility-epsilon", method="dp-pix", epsilon=e, metric="mse"
        )
        for e in config.epsilons
    ]
    assert all(a > b for a, b in itertools.pairwise(mse)), mse
    ssim = [
        summary_value(
            result.summary, experiment="utility-epsilon", method="dp-pix", epsilon=e, metric="ssim"
        )
        for e in config.epsilons
    ]
    assert all(a < b for a, b in itertools.pairwise(ssim)), ssim
    mosaic = summary_value(
        result.summary, experiment="utility-block", method="mosaic", block=4, metric="mse"
    )
    assert mse[-1] > mosaic  # noise only adds error to the mosaic's


def test_report_reads_on_its_own(tiny_run):
    report = (tiny_run.out / "report.md").read_text(encoding="utf-8")
    for text in (
        "# DP-Pix evaluation",
        "## Setup",
        "## Privacy: re-identification attack",
        "## Utility",
        "### Against block size b",
        "### Against m",
        "### Against ε",
        "mse_uint8_wrapped",
        "random guessing",
        "![utility curves](utility.png)",
        "![attack accuracy](attack.png)",
        "## Privacy: reconstruction attack",
        "### Choosing b, m and ε from these numbers",
        "![reconstruction attack](reconstruction.png)",
        "![reconstruction examples](reconstruction-examples.png)",
        "**Reconstruction attack**",
        "| blur σ=2 |",
        "## How to rerun",
        "```python",  # a custom Config is rerun from Python
        "seed=7, jobs=1, config=config",
    ):
        assert text in report, text
    assert "| original |" in report and "| DP-Pix ε=0.05 |" in report


def test_report_cautions_when_even_originals_are_not_recognised(tmp_path):
    """On pure noise the attack fails on the originals too; the report says so
    instead of crediting the obfuscations."""
    rng = np.random.default_rng(9)
    root = tmp_path / "noise"
    for c in range(8):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(5):
            image = rng.integers(0, 256, size=(16, 16), dtype=np.uint8)
            Image.fromarray(image).save(root / f"c{c}" / f"{i}.png")
    config = evaluate.Config(**{**TINY.__dict__, "splits": 3, "attackers": ("centroid",)})
    result = evaluate.run(
        "folder", root, tmp_path / "out", seed=2, jobs=1, progress=False, config=config
    )
    original = summary_value(
        result.summary, experiment="attack", method="original", attacker="best", metric="top1"
    )
    assert original <= 0.3  # chance is 1/8; 24 test images in all
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "**Caution.**" in report and "hides little" not in report


def test_same_seed_same_numbers_whatever_the_worker_count(folder, tmp_path, tiny_run):
    again = evaluate.run(
        "folder", folder, tmp_path / "again", seed=7, jobs=2, progress=False, config=TINY
    )
    first = (tiny_run.out / "measurements.csv").read_text()
    assert (again.out / "measurements.csv").read_text() == first
    other = evaluate.run(
        "folder", folder, tmp_path / "other", seed=8, jobs=1, progress=False, config=TINY
    )
    assert (other.out / "measurements.csv").read_text() != first


def test_refuses_a_non_empty_out_unless_overwrite(folder, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        evaluate.run("folder", folder, out, seed=1, jobs=1, progress=False, config=TINY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        evaluate.run("folder", folder, tmp_path / "file", config=TINY)
    config = evaluate.Config(
        **{
            **TINY.__dict__,
            "splits": 1,
            "blocks": (4,),
            "ms": (4,),
            "epsilons": (1.0,),
            "attack_epsilons": (1.0,),
        }
    )
    evaluate.run(
        "folder", folder, out, seed=1, jobs=1, progress=False, config=config, overwrite=True
    )
    assert (out / "report.md").is_file() and (out / "keep.txt").is_file()


def test_reconstruction_can_be_skipped(folder, tmp_path):
    config = evaluate.Config(
        **{**TINY.__dict__, "splits": 1, "blocks": (4,), "ms": (4,), "epsilons": (1.0,)}
    )
    result = evaluate.run(
        "folder", folder, tmp_path / "r", seed=1, jobs=1, progress=False, config=config,
        reconstruction_splits=0,
    )  # fmt: skip
    names = {p.name for p in result.files}
    assert "reconstruction.png" not in names and "report.md" in names
    assert not [r for r in result.rows if r["experiment"] == "reconstruction"]
    assert "reconstruction attack" not in (result.out / "report.md").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="reconstruction_splits"):
        evaluate.run("folder", folder, tmp_path / "s", config=config, reconstruction_splits=-1)


def test_bad_arguments(folder, tmp_path):
    with pytest.raises(ValueError, match="dataset must be one of"):
        evaluate.run("faces", folder, tmp_path / "a", config=TINY)
    with pytest.raises(ValueError, match="jobs"):
        evaluate.run("folder", folder, tmp_path / "b", jobs=0, config=TINY)
    with pytest.raises(ValueError, match="seed"):
        evaluate.run("folder", folder, tmp_path / "c", seed=-1, config=TINY)
    with pytest.raises(ValueError, match="attackers"):
        evaluate.run(
            "folder", folder, tmp_path / "d", config=evaluate.Config(attackers=("oracle",))
        )
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_missing_extra_is_a_clear_error(monkeypatch, folder, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install 'dp-pix\[eval\]'"):
        evaluate.run("folder", folder, tmp_path / "x", config=TINY)
    status = cli.main(
        ["evaluate", "--dataset", "folder", "--data", str(folder), "--out", str(tmp_path / "y")]
    )
    assert status == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert "dp-pix: error:" in err and "pip install 'dp-pix[eval]'" in err
    assert not (tmp_path / "y").exists()


def test_folder_of_mixed_images_is_made_uniform(tmp_path):
    root = tmp_path / "mixed"
    for c in range(2):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(3):
            size = (20, 16) if i else (10, 8)
            mode = "RGB" if (c, i) == (1, 2) else "L"
            Image.new(mode, size, color=(40 * i) if mode == "L" else (9, 99, 199)).save(
                root / f"c{c}" / f"{i}.png"
            )
    data = evaluate.load_data("folder", root)
    assert data.images.shape == (6, 16, 20, 3)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert any("resized" in n for n in data.notes)


def test_a_large_folder_is_cut_to_whole_classes(folder):
    config = evaluate.Config(max_attack_images=25, max_images=10)
    data = evaluate.load_data("folder", folder, config=config, seed=1)
    assert data.images.shape == (20, *SHAPE)  # 2 of the 6 classes of 10 images
    assert np.bincount(data.labels).tolist() == [10, 10]
    assert len(data.class_names) == 2
    assert any("2 of 6 classes" in n for n in data.notes)


def test_progress_bar_draws_only_when_enabled():
    """The worker pool advances a dp_pix.progress bar as tasks complete and
    closes it at the end; a disabled bar writes nothing."""
    pytest.importorskip("tqdm")
    from dp_pix.evaluate.tasks import execute
    from dp_pix.progress import Progress

    stream = io.StringIO()
    bar = Progress(3, label="attack", unit="task", stream=stream, enabled=True)
    assert bar.drawn
    done = dict(execute(lambda shared, task: shared + task, 10, [1, 2, 3], 1, bar))
    assert done == {1: 11, 2: 12, 3: 13}
    assert not bar.drawn  # closed, and cleared from the terminal
    text = stream.getvalue()
    assert "attack" in text and "/3" in text
    quiet = io.StringIO()
    bar = Progress(3, label="attack", unit="task", stream=quiet, enabled=False)
    assert list(execute(lambda shared, task: task, None, [1, 2, 3], 1, bar)) == [
        (1, 1),
        (2, 2),
        (3, 3),
    ]
    assert quiet.getvalue() == ""


# --- real data (skipped where absent) --------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "folder_name", "shape", "classes"),
    [
        ("att", "att_faces", (400, 112, 92), 40),
        ("omniglot", "omniglot", (400, 105, 105), 20),
        ("miniimagenet", "miniimagenet_sample", (500, 84, 84, 3), 100),
    ],
)
def test_load_real_data(data_root, dataset, folder_name, shape, classes):
    path = data_root / folder_name
    if not path.exists():
        pytest.skip(f"{path} is absent (set DP_PIX_DATA to the folder of the data sets)")
    data = evaluate.load_data(dataset, path, config=evaluate.QUICK)
    assert data.images.shape == shape and data.images.dtype == np.uint8
    assert len(data.class_names) == classes
    assert np.bincount(data.labels).min() >= 5


# --- the command line ------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    package_root = str(Path(dp_pix.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "dp_pix.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
        check=False,
    )


def test_cli_quick_run_end_to_end(folder, tmp_path):
    """The quick grid, with one split and two attackers to keep the test short."""
    out = tmp_path / "cli-out"
    proc = run_cli(
        "evaluate",
        "--dataset",
        "folder",
        "--data",
        str(folder),
        "--out",
        str(out),
        "--quick",
        "--splits",
        "1",
        "--attackers",
        "centroid,logreg",
        "--reconstruction-splits",
        "2",
        "--seed",
        "3",
        "--jobs",
        "1",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bars when stderr is not a terminal
    assert "report.md" in proc.stdout
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "quick settings; seed 3" in report
    rerun = (
        "--quick --splits 1 --reconstruction-splits 2 --attackers centroid,logreg --seed 3 "
        "--jobs 1"
    )
    assert f"--data {folder.resolve()}" in report and rerun in report
    rows = read_csv(out / "measurements.csv")
    blocks = {r["block"] for r in rows if r["experiment"] == "utility-block"}
    assert blocks == {str(b) for b in evaluate.QUICK.blocks}
    attackers = {r["attacker"] for r in rows if r["experiment"] == "attack"}
    assert attackers == {"centroid", "logreg", "best", ""}  # "": random guessing
    assert {r["repetition"] for r in rows if r["attacker"] == "best"} == {"0"}
    rec = [r for r in rows if r["experiment"] == "reconstruction" and r["method"] == "dp-pix"]
    assert {r["repetition"] for r in rec} == {"0", "1"}
    assert {r["epsilon"] for r in rec} == {f"{e}" for e in evaluate.QUICK.reconstruct_epsilons}
    assert "min:s)" in proc.stdout
    # Running again into the same folder is refused (usage error) unless --overwrite.
    again = run_cli(
        "evaluate", "--dataset", "folder", "--data", str(folder), "--out", str(out), cwd=tmp_path
    )
    assert again.returncode == cli.EXIT_USAGE
    assert "not empty" in again.stderr and "--overwrite" in again.stderr


def test_cli_usage_errors(tmp_path):
    proc = run_cli("evaluate", "--dataset", "faces", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == cli.EXIT_USAGE and "invalid choice" in proc.stderr
    proc = run_cli("evaluate", "--dataset", "folder", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == cli.EXIT_USAGE and "needs data" in proc.stderr
    proc = run_cli(
        "evaluate",
        "--dataset",
        "att",
        "--data",
        str(tmp_path / "nowhere"),
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert proc.returncode == cli.EXIT_FAILURE and "not found" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_cli_parses_evaluate_options():
    parser = cli.build_parser()
    assert "evaluate" in parser.format_help()
    args = parser.parse_args(
        ["evaluate", "--dataset", "att", "--out", "o", "--attackers", "knn, centroid"]
    )
    assert args.attackers == ["knn", "centroid"] and args.splits is None and not args.quick
    assert args.reconstruction_splits is None
    args = parser.parse_args(
        ["evaluate", "--dataset", "att", "--out", "o", "--reconstruction-splits", "0"]
    )
    assert args.reconstruction_splits == 0
    assert (
        cli.main(["evaluate", "--dataset", "att", "--out", "o", "--reconstruction-splits", "-1"])
        == 2
    )
    assert cli.main(["evaluate", "--dataset", "att", "--out", "o", "--attackers", "oracle"]) == 2
    assert cli.main(["evaluate", "--dataset", "att", "--out", "o", "--splits", "0"]) == 2


def test_importing_stays_light(tmp_path):
    """scikit-learn, scikit-image, matplotlib and scipy load only when used."""
    code = (
        "import sys, dp_pix, dp_pix.metrics, dp_pix.attack, dp_pix.evaluate, dp_pix.cli\n"
        "dp_pix.cli.build_parser()\n"
        "heavy = ('sklearn', 'skimage', 'matplotlib', 'scipy', 'joblib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    package_root = str(Path(dp_pix.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    assert proc.stdout.strip() == "[]"


def test_cli_knows_every_attacker():
    from dp_pix import attack

    assert cli.ATTACKERS == attack.ATTACKERS


# --- region mode ------------------------------------------------------------------------


def test_region_row_attacks_faces_cut_from_privatized_scenes(tiny_run):
    rows = [r for r in tiny_run.summary if r["experiment"] == "attack-regions"]
    methods = {(r["method"], r["m"], r["epsilon"]) for r in rows}
    assert methods == {
        ("region-mosaic", "", ""),
        *{("region-dp-pix", m, e) for m in (TINY.m, "region") for e in TINY.attack_epsilons},
    }
    best = {
        (r["method"], r["m"], r["epsilon"]): r["mean"]
        for r in rows if r["attacker"] == "best" and r["metric"] == "top1"
    }  # fmt: skip
    assert best[("region-mosaic", "", "")] >= 0.9  # the mosaic of the region keeps them apart
    assert best[("region-dp-pix", "region", 4.0)] <= 0.5  # m = the region: noise only
    report = (tiny_run.out / "report.md").read_text(encoding="utf-8")
    assert "## Privacy in region mode" in report
    assert "| region DP-Pix ε=4, m=region |" in report
    lines = report.splitlines()
    (mosaic_row,) = [line for line in lines if line.startswith("| mosaic 4x4 (not private)")]
    assert "—" not in mosaic_row


def test_region_scenes_hold_each_image_in_its_region():
    images, _ = synthetic_images()
    scenes, boxes = evaluate.region_scenes(images[:8], seed=3)
    assert scenes.shape == (8, 48, 40)
    sizes = {(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes}
    assert sizes == {(20 + 2 * 4, 24 + 2 * 5)}  # grown by 20 % each side, never clipped
    for scene, image, (x0, y0, x1, y1) in zip(scenes, images, boxes):
        assert np.array_equal(scene[y0 + 5 : y1 - 5, x0 + 4 : x1 - 4], image)
