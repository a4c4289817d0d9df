"""dp_pix.ray and `dp-pix pixelate --ray`, on a local Ray instance started once."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import dp_pix
import numpy as np
import pytest
from dp_pix import pipeline, regions
from dp_pix.io import read_image
from test_cli_pixelate import _env, load, noise_image, run_cli, save, snapshot

try:
    import ray
    import ray.data
except ImportError:  # the extra is missing: only the tests that need no Ray run
    ray = None

pytestmark = [
    # Ray Data warns about its own deprecated settings whenever it builds a
    # DataContext (seen with Ray 2.60); nothing of ours.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

SEED = 4242
ARGS = ("-b", "4", "-e", "1", "-m", "2")
PARAMS = {"block": 4, "epsilon": 1.0, "m": 2}
P = dp_pix.Params(**PARAMS)
TIMING = ("started", "finished")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs; its address, for other processes to join."""
    if ray is None:
        pytest.skip("Ray is not installed: pip install 'dp-pix[ray]'")
    from dp_pix import ray as dp_ray

    # a new instance on loopback, never a cluster that happens to run on this machine
    dp_ray.init_local(num_cpus=2)
    # Workers cannot import this test module: ship its classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_local_instance_listens_on_loopback_only(cluster):
    """Every socket the Ray processes listen on is on 127.0.0.1 (or ::1)."""
    psutil = pytest.importorskip("psutil")
    ours = {p.pid for p in psutil.Process().children(recursive=True)} | {os.getpid()}
    listening = [
        c.laddr for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]
    assert listening, "no listening socket found: the check would be vacuous"
    loopback = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
    assert all(addr.ip in loopback for addr in listening), listening


@pytest.fixture
def dp_ray(cluster):
    from dp_pix import ray as dp_ray

    return dp_ray


def make_tree(root: Path) -> Path:
    """Grey and colour images of many sizes in nested folders, and one corrupt file."""
    src = root / "in"
    for i in range(12):
        shape = (9 + i, 13 + 2 * i) if i % 3 == 0 else (17 + i, 11 + i, 3)
        save(src / f"d{i % 3}" / f"img{i:02d}.png", noise_image(shape))
    twin = noise_image((16, 16, 3))
    for i in range(2):  # one image twice: each copy must get its own noise
        save(src / f"twin{i}.png", twin)
    save(src / "ünï" / "照片.jpg", noise_image((20, 24, 3)), quality=95)
    (src / "d1" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return src


def without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def read_record(out: Path) -> dict:
    return json.loads((out / pipeline.RECORD_NAME).read_text(encoding="utf-8"))


# ----------------------------------------------------------------- the command


def test_cli_on_ray_writes_what_the_single_process_cli_writes(tmp_path, cluster):
    make_tree(tmp_path)
    args = ("pixelate", "in", *ARGS, "--seed", SEED)
    local = run_cli(*args, "-o", "local", cwd=tmp_path)
    # --ray last: its ADDRESS is optional
    on_ray = run_cli(*args, "-o", "on_ray", "--ray", cluster, cwd=tmp_path)
    assert local.returncode == on_ray.returncode == 1, on_ray.stderr  # the corrupt file

    a, b = snapshot(tmp_path / "local"), snapshot(tmp_path / "on_ray")
    rec_a, rec_b = json.loads(a.pop("dp-pix.json")), json.loads(b.pop("dp-pix.json"))
    assert len(a) == 15 and a == b  # same names, same bytes, no temporary files
    assert without_timing(rec_a) == without_timing(rec_b)
    assert rec_b["status"] == "complete"
    assert rec_b["counts"]["written"] == 15 and rec_b["counts"]["failed"] == 1
    (failure,) = rec_b["failures"]
    assert failure["path"] == str(Path("in") / "d1" / "corrupt.png") and failure["reason"]
    assert failure["path"] in on_ray.stderr
    assert sorted(rec_b["guarantees"]) == ["1", "3"]
    assert "15 written, 1 failed" in on_ray.stdout
    assert not np.array_equal(load(tmp_path / "on_ray" / "twin0.png"),
                              load(tmp_path / "on_ray" / "twin1.png"))


def test_partitioning_does_not_change_the_bytes(tmp_path, dp_ray):
    make_tree(tmp_path)
    options = pipeline.Options(P, seed=SEED)
    outs = {}
    for blocks in (1, 7):
        out = tmp_path / f"blocks{blocks}"
        report = dp_ray.pixelate_paths([tmp_path / "in"], out, options, blocks=blocks)
        assert report.written == 15 and len(report.failures) == 1
        outs[blocks] = snapshot(out)
    records = [json.loads(o.pop("dp-pix.json")) for o in outs.values()]
    assert outs[1] == outs[7]
    assert without_timing(records[0]) == without_timing(records[1])


def test_unseeded_runs_draw_fresh_noise(tmp_path, dp_ray):
    save(tmp_path / "in" / "a.png", noise_image((24, 24, 3)))
    options = pipeline.Options(P)
    for name in ("u1", "u2"):
        assert dp_ray.pixelate_paths([tmp_path / "in"], tmp_path / name, options).ok
    assert load(tmp_path / "u1" / "a.png").tobytes() != load(tmp_path / "u2" / "a.png").tobytes()
    assert read_record(tmp_path / "u1")["parameters"]["seeded"] is False


def test_overwrite_and_resume_on_ray(tmp_path, dp_ray):
    make_tree(tmp_path)
    first = pipeline.Options(P, seed=1)
    dp_ray.pixelate_paths([tmp_path / "in"], tmp_path / "out", first)
    before = snapshot(tmp_path / "out")
    with pytest.raises(pipeline.RefusedError, match="--skip-existing"):
        dp_ray.pixelate_paths([tmp_path / "in"], tmp_path / "out", first)

    (tmp_path / "out" / "twin0.png").unlink()
    resumed = dp_ray.pixelate_paths(
        [tmp_path / "in"], tmp_path / "out", dataclasses.replace(first, existing="skip")
    )
    assert (resumed.written, resumed.present) == (1, 14)
    assert snapshot(tmp_path / "out").keys() == before.keys()
    assert (tmp_path / "out" / "twin0.png").read_bytes() == before["twin0.png"]

    again = dataclasses.replace(first, seed=2, existing="overwrite")
    replaced = dp_ray.pixelate_paths([tmp_path / "in"], tmp_path / "out", again)
    assert replaced.written == 15
    after = snapshot(tmp_path / "out")
    assert after.keys() == before.keys()
    assert all(after[k] != before[k] for k in after if k.endswith(("png", "jpg")))


def test_refusals_come_before_ray_does_any_work(tmp_path, dp_ray):
    make_tree(tmp_path)
    with pytest.raises(pipeline.RefusedError, match="inside the input folder"):
        dp_ray.pixelate_paths(
            [tmp_path / "in"], tmp_path / "in" / "out", pipeline.Options(P)
        )
    assert not (tmp_path / "in" / "out").exists()


class _LoseWorker(pipeline.Privatize):
    """The per-file function, but the first attempt's worker process dies after
    two files, leaving a temporary file behind as a kill mid-write would."""

    def __call__(self, job):
        marker = self.out.parent / "attempt-lost"
        if not marker.exists() and len(list(self.out.rglob("*.png"))) >= 2:
            marker.write_text("lost once")
            (self.out / f".{job.rel}.0123456789ab.tmp").write_bytes(b"half a PNG")
            os._exit(1)  # as a preempted node: no exception, no result
        return super().__call__(job)


def test_a_lost_worker_leaves_no_duplicate_or_missing_output(tmp_path, dp_ray):
    for i in range(8):
        save(tmp_path / "in" / f"img{i}.png", noise_image((20, 20, 3)))
    options = pipeline.Options(P, seed=SEED)
    pipeline.pixelate_paths([tmp_path / "in"], tmp_path / "reference", options)
    expected = snapshot(tmp_path / "reference")
    expected.pop("dp-pix.json")

    plan = pipeline.make_plan([tmp_path / "in"], tmp_path / "out")
    (tmp_path / "out").mkdir()
    work = _LoseWorker(tmp_path / "out", options.pixelizer(), "PNG", overwrite=False)
    results = []
    run = dp_ray.runner(blocks=1)  # one task: the retry redoes the files already written
    run(work, plan.jobs, results.append)

    assert (tmp_path / "attempt-lost").exists(), "no worker was lost"
    assert sorted(job.rel for job, *_ in results) == sorted(expected)  # each once
    assert all(reason is None and channels == 3 for _, channels, reason, _ in results)
    assert snapshot(tmp_path / "out") == expected  # same bytes, temporary file swept


def test_retried_write_keeps_only_a_matching_output(tmp_path):
    save(tmp_path / "in" / "a.png", noise_image((12, 12)))
    (job,) = pipeline.make_plan([tmp_path / "in"], tmp_path / "out").jobs
    (tmp_path / "out").mkdir()
    px = dp_pix.Pixelizer(**PARAMS)
    first = pipeline.Privatize(tmp_path / "out", px, "PNG", overwrite=False)
    assert first(job) == (job, 1, None, None)
    written = (tmp_path / "out" / "a.png").read_bytes()
    retry = dataclasses.replace(first, own_existing=True)
    assert retry(job) == (job, 1, None, None)  # the first attempt's output counts
    assert (tmp_path / "out" / "a.png").read_bytes() == written
    _, _, reason, _ = first(job)  # without retries, a file that appeared is a clash
    assert "appeared during the run" in reason
    save(tmp_path / "out" / "a.png", noise_image((5, 5, 3)))  # not what this job writes
    _, _, reason, _ = retry(job)
    assert "appeared during the run" in reason


# ----------------------------------------------------------------- datasets


def test_privatize_dataset_of_ragged_images_any_partitioning(dp_ray):
    shapes = [(17, 11, 3), (20, 20, 3), (20, 20, 3), (9, 30, 3), (33, 5, 3), (3, 3, 3), (8, 9, 4)]
    images = [(f"photos/{i}.png", noise_image(shape)) for i, shape in enumerate(shapes)]
    rows = [{"path": path, "image": image, "label": i} for i, (path, image) in enumerate(images)]
    results = {}
    for blocks in (1, 7):
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        private = dp_ray.privatize(ds, P.replace(edges="crop"), seed=SEED)
        results[blocks] = {r["path"]: r for r in private.take_all()}
    px = dp_pix.Pixelizer(**PARAMS, edges="crop", seed=SEED)
    for i, (path, image) in enumerate(images):
        one, seven = results[1][path], results[7][path]
        assert one["label"] == seven["label"] == i  # other columns pass through
        if image.shape[0] < 4:  # smaller than a cell: that image fails, alone
            assert one["image"] is None and seven["image"] is None
            assert "crop" in one["error"] and one["error"] == seven["error"]
            continue
        assert one["error"] == seven["error"] == ""
        expected = px(image, index=pipeline.noise_index(path))
        np.testing.assert_array_equal(one["image"], expected)
        np.testing.assert_array_equal(seven["image"], expected)


def test_grey_images_alone_or_mixed_with_colour(dp_ray):
    grey = [noise_image((9 + i, 13)) for i in range(3)]
    rows = [{"path": f"g{i}", "image": im} for i, im in enumerate(grey)]
    alone = dp_ray.privatize(ray.data.from_items(rows), P).take_all()
    assert sorted(r["image"].shape for r in alone) == [im.shape for im in grey]
    assert not any(r["error"] for r in alone)

    # Mixed with colour in one column, Ray (2.60) hands grey images over as
    # (1, H, W): those rows fail with a way out; none is privatized as
    # something else. (Ray 2.40 refuses such a column outright.)
    rows.append({"path": "c", "image": noise_image((9, 13, 3))})
    try:
        mixed = dp_ray.privatize(ray.data.from_items(rows), P).take_all()
    except ray.exceptions.RayTaskError as exc:
        assert "same number of dimensions" in str(exc)
        return
    mixed = {r["path"]: r for r in mixed}
    assert mixed["c"]["image"].shape == (9, 13, 3) and not mixed["c"]["error"]
    for i in range(3):
        assert mixed[f"g{i}"]["image"] is None and "mode='RGB'" in mixed[f"g{i}"]["error"]


def test_privatize_needs_keys_only_with_a_seed(dp_ray):
    ds = ray.data.from_items([{"image": noise_image((8, 8))} for _ in range(3)])
    rows = dp_ray.privatize(ds, P).take_all()
    assert [r["image"].shape for r in rows] == [(8, 8)] * 3
    with pytest.raises(ray.exceptions.RayTaskError, match="include_paths=True"):
        dp_ray.privatize(ds, P, seed=1).take_all()
    with pytest.raises(ValueError, match="seed"):
        dp_ray.privatize(ds, P, seed=-1)  # before any task


def test_privatize_paths_decodes_as_the_cli_and_reports_bad_files(tmp_path, dp_ray):
    src = make_tree(tmp_path)
    (src / "notes.txt").write_text("not an image", encoding="utf-8")
    ds = dp_ray.privatize_paths(
        str(src), P, seed=SEED, read_args={"file_extensions": ["png", "jpg"]}
    )
    rows = {Path(r["path"]).relative_to(src).as_posix(): r for r in ds.take_all()}
    assert set(next(iter(rows.values()))) == {"path", "image", "error"}  # no original bytes
    assert len(rows) == 16
    bad = rows.pop("d1/corrupt.png")
    assert bad["image"] is None and bad["error"]
    px = dp_pix.Pixelizer(**PARAMS, seed=SEED)
    for rel, row in rows.items():
        assert row["error"] == ""
        original = read_image(src / rel)
        expected = px(original, index=pipeline.noise_index(row["path"]))
        np.testing.assert_array_equal(row["image"], expected)


# ------------------------------------------------------------ without Ray


def test_importing_dp_pix_does_not_import_ray(tmp_path):
    code = (
        "import sys, dp_pix, dp_pix.pipeline, dp_pix.cli, dp_pix.io; "
        "dp_pix.cli.build_parser(); print('ray' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_ray_flag_without_ray_says_what_to_install(tmp_path):
    save(tmp_path / "in" / "a.png", noise_image((8, 8)))
    no_ray = (
        "import sys; sys.modules['ray'] = None; "
        "from dp_pix.cli import main; sys.exit(main())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", no_ray, "pixelate", "in", "-o", "out", *ARGS, "--ray"],
        check=False, cwd=tmp_path, env=_env(), capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "pip install 'dp-pix[ray]'" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_rows_with_one_key_never_share_noise(dp_ray):
    """Keys name the streams, but a seeded image's noise is also bound to its
    pixels: two different images under one key never share noise."""
    x = np.full((24, 24), 128, np.uint8)
    y = x.copy()
    y[3, 5] = 0
    ds = ray.data.from_items([{"image": x, "path": "same"}, {"image": y, "path": "same"}])
    params = dp_pix.Params(block=1, epsilon=8.0, m=1, output="grid")
    a, b = (r["image"] for r in dp_ray.privatize(ds, params, seed=5).take_all())
    assert not np.array_equal(a.astype(int) - b.astype(int), x.astype(int) - y.astype(int))


def test_regions_are_refused_on_ray(tmp_path, dp_ray):
    make_tree(tmp_path)
    options = pipeline.Options(P, regions=regions.Finder({}, pad=0.0))
    with pytest.raises(pipeline.RefusedError, match="not supported on Ray"):
        dp_ray.pixelate_paths([tmp_path / "in"], tmp_path / "out", options)
    assert not (tmp_path / "out").exists()
