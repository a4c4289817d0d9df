#!/usr/bin/env python3
"""dp-pix against its peers, in one run: megapixels per second and ratios.

    make bench                      # or: python benches/run.py
    python benches/run.py --quick   # fewer rounds (a smoke run, noisier)
    python benches/run.py --cases v # the video case only (benches/video.py)
    python benches/run.py --markdown benches/README.md   # also write the tables there

Every thread count runs in its own subprocess (rayon's global pool, numba's and
OpenCV's are fixed at first use), with RAYON_NUM_THREADS, NUMBA_NUM_THREADS and
OMP_NUM_THREADS set, OMP_WAIT_POLICY=PASSIVE (idle OpenMP workers sleep rather than
spin on the core the next method needs) and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
removed (on some processors they slow a current numpy down). Within a subprocess the methods of a
case run in rotation, round after round, so a noisy neighbour hits them all
alike; a method's time is the median over its rounds, and every ratio compares
medians from the same subprocess.

Peaks of memory are read from /proc (VmHWM after clear_refs) in one more
subprocess per case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

EPSILON, M = 0.5, 16  # the paper's m; ε = 0.5 gives an exact integer scale (8160·C)
THREADS = (1, 2)


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    shape: tuple[int, ...]  # (N, H, W[, C]) or (H, W, C) for one image
    block: int
    batch: bool


CASES = [
    Case("a", "1000 grey 112×92, b = 8 (partial edge column)", (1000, 112, 92), 8, True),
    Case("b", "1000 RGB 84×84, b = 4", (1000, 84, 84, 3), 4, True),
    Case("c", "one RGB 3840×2160, b = 16", (2160, 3840, 3), 16, False),
]

DP = "dp-pix DP (exact Laplace)"
MOSAIC = "dp-pix mosaic"
CV = "OpenCV area + nearest"
NUMBA = "numba fused float DP"
NUMPY = "numpy reshape-mean"
PIL = "Pillow reduce"
SKIMAGE = "scikit-image block_reduce"
COPY = "np.copyto (memory bound)"
REGIONS = "dp-pix DP on 10 face boxes (region mode)"
SINGLE = {NUMPY, PIL, SKIMAGE, COPY}  # no threads of their own


def clean_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    # Both together, in this command only (see the machine notes).
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    for var in ("RAYON_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        env[var] = str(threads)
    # Idle OpenMP workers (numba's threading layer here) otherwise spin for a
    # while after each call, on the core the next method in the rotation
    # needs: measured, dp-pix at 2 threads right after the numba kernel took
    # 5.8 ms instead of 1.9 ms for case (a). Waiting workers sleep instead.
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


# --------------------------------------------------------------------- peers


def make_images(case: Case):
    import numpy as np

    # Uniform random bytes: no method's cost depends on the content.
    return np.random.default_rng(2018).integers(0, 256, size=case.shape, dtype=np.uint8)


def numba_kernel():
    """A fused float-DP kernel as one would write it in numba: cell sums, mean,
    Laplace from numpy-style sampling (numba's np.random.laplace), clip, round,
    full or grid write. Threads over (image, cell row). NOT exact: float noise."""
    import numba
    import numpy as np

    @numba.njit(parallel=True, boundscheck=False, cache=True)
    def fused(x, b, t, full):
        n_img, h, w, c = x.shape
        gh = (h + b - 1) // b
        gw = (w + b - 1) // b
        if full:
            out = np.empty((n_img, h, w, c), np.uint8)
        else:
            out = np.empty((n_img, gh, gw, c), np.uint8)
        for task in numba.prange(n_img * gh):
            k = task // gh
            i = task % gh
            y0 = i * b
            y1 = min(y0 + b, h)
            sums = np.zeros(gw * c, np.int64)
            for y in range(y0, y1):
                row = x[k, y]
                for j in range(gw):
                    for xx in range(j * b, min(j * b + b, w)):
                        for ch in range(c):
                            sums[j * c + ch] += row[xx, ch]
            vals = np.empty(gw * c, np.uint8)
            for j in range(gw):
                cnt = (y1 - y0) * (min(j * b + b, w) - j * b)
                scale = t / cnt  # scale on the mean, in grey levels
                for ch in range(c):
                    v = sums[j * c + ch] / cnt + np.random.laplace(0.0, scale)
                    vals[j * c + ch] = np.uint8(np.rint(min(max(v, 0.0), 255.0)))
            if full:
                first = out[k, y0]
                for j in range(gw):
                    for xx in range(j * b, min(j * b + b, w)):
                        for ch in range(c):
                            first[xx, ch] = vals[j * c + ch]
                for y in range(y0 + 1, y1):
                    out[k, y] = first
            else:
                for j in range(gw):
                    for ch in range(c):
                        out[k, i, j, ch] = vals[j * c + ch]
        return out

    return fused


def methods(case: Case, x, threads: int):
    """{(method, output): zero-argument callable} for one case."""
    import cv2
    import dp_pix
    import numba
    import numpy as np
    from dp_pix import _dp_pix as kernel
    from PIL import Image
    from skimage.measure import block_reduce

    cv2.setNumThreads(threads)
    numba.set_num_threads(threads)
    b = case.block
    x4 = x[None] if not case.batch else x  # (N, H, W[, C])
    x4 = x4 if x4.ndim == 4 else x4[..., None]
    n, h, w, c = x4.shape
    gh, gw = -(-h // b), -(-w // b)
    tall = x.reshape(n * h, w, c) if c > 1 else x.reshape(n * h, w)  # the batch stacked
    t = 255.0 * M * c / EPSILON  # the Laplace scale on the sums, as dp-pix uses it
    fused = numba_kernel()
    fused(x4[:1], b, t, True)
    fused(x4[:1], b, t, False)
    dst = np.empty_like(x)
    hc, wc = h // b * b, w // b * b  # numpy crops partial cells (less work)
    pil_mode = "L" if c == 1 else "RGB"

    def dp(output):
        if case.batch:
            return lambda: dp_pix.dp_pixelate_batch(x, block=b, epsilon=EPSILON, m=M, output=output)
        return lambda: dp_pix.dp_pixelate(x, block=b, epsilon=EPSILON, m=M, output=output)

    def mosaic(output):
        if case.batch:  # the public pixelate takes one image; the kernel takes the batch
            return lambda: kernel.pixelate(x4, b, b, "partial", output, None, None, 0)
        return lambda: dp_pix.pixelate(x, block=b, output=output)

    def cv_grid():
        return cv2.resize(tall, (gw, n * gh), interpolation=cv2.INTER_AREA)

    def cv_full():
        return cv2.resize(cv_grid(), (w, n * h), interpolation=cv2.INTER_NEAREST)

    def np_grid():
        v = x4[:, :hc, :wc].reshape(n, hc // b, b, wc // b, b, c)
        return np.rint(v.mean(axis=(2, 4))).astype(np.uint8)

    def np_full():
        g = np_grid()
        return np.repeat(np.repeat(g, b, axis=1), b, axis=2)

    def pil_grid():
        return Image.fromarray(tall, pil_mode).reduce(b)

    def pil_full():
        return np.asarray(pil_grid().resize((w, n * h), Image.NEAREST))

    def sk_grid():
        return np.rint(block_reduce(x4, (1, b, b, 1), np.mean)).astype(np.uint8)

    def sk_full():
        g = sk_grid()
        return np.repeat(np.repeat(g, b, axis=1), b, axis=2)[:, :h, :w]

    table = {
        (DP, "full"): dp("full"),
        (DP, "grid"): dp("grid"),
        (MOSAIC, "full"): mosaic("full"),
        (MOSAIC, "grid"): mosaic("grid"),
        (CV, "full"): cv_full,
        (CV, "grid"): cv_grid,
        (NUMBA, "full"): lambda: fused(x4, b, t, True),
        (NUMBA, "grid"): lambda: fused(x4, b, t, False),
        (NUMPY, "full"): np_full,
        (NUMPY, "grid"): np_grid,
        (PIL, "full"): pil_full,
        (PIL, "grid"): pil_grid,
        (SKIMAGE, "full"): sk_full,
        (SKIMAGE, "grid"): sk_grid,
        (COPY, "full"): lambda: np.copyto(dst, x),
    }
    if not case.batch:  # region mode: the rest of the image is copied, only the boxes are noised
        boxes = face_boxes(h, w)
        table[(REGIONS, "full")] = lambda: dp_pix.dp_pixelate(
            x, block=b, epsilon=EPSILON, m=M, regions=boxes
        )
    return table


def face_boxes(h: int, w: int, n: int = 10) -> list[tuple[int, int, int, int]]:
    """``n`` face-sized boxes (6 % of the width, 13 % of the height: 230x280 in
    4K), spread over the image in three rows."""
    fw, fh = max(1, w * 6 // 100), max(1, h * 13 // 100)
    boxes = []
    for i in range(n):
        x0 = (i * w // n + 7 * i) % (w - fw)
        y0 = (h // 5 + (i % 3) * h // 4) % (h - fh)
        boxes.append((x0, y0, x0 + fw, y0 + fh))
    return boxes


def time_rounds(fns: dict, rounds: int, budget: float) -> dict:
    """Median seconds per callable; the callables take turns, round after round.
    A callable slower than `budget` seconds per call runs fewer rounds (3 at least)."""
    times: dict = {k: [] for k in fns}
    for f in fns.values():  # warm-up: compilation, page faults, pools
        f()
    for r in range(rounds):
        for k, f in fns.items():
            if r >= 3 and times[k] and statistics.median(times[k]) > budget:
                continue
            start = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def noise_rates(rounds: int) -> dict:
    """ns per sample: dp-pix's exact discrete Laplace vs numpy's float Laplace."""
    import numpy as np
    from dp_pix import _dp_pix as kernel

    n = 200_000  # short calls, many rounds: a burst of load hits few of them
    gen = np.random.default_rng(7)
    seed = bytes(range(32))
    out = {}
    for label, channels, eps in (
        ("grey, ε = 0.5 (scale 8160)", 1, 0.5),
        ("RGB, ε = 0.5 (scale 24480)", 3, 0.5),
        ("grey, ε = 0.3 (scale 13600, rounded up to num/2^k)", 1, 0.3),
    ):
        num, den = kernel.laplace_scale(eps, kernel.l1_sensitivity(M, channels))
        t = num / den
        fns = {
            "dp": lambda num=num, den=den: kernel.sample(("laplace", num, den), n, seed),
            "np": lambda t=t: gen.laplace(0.0, t, n),
        }
        med = time_rounds(fns, 5 * rounds, 1e9)
        out[label] = {
            "ratio": f"{num}/{den}",
            "dp_ns": med["dp"] / n * 1e9,
            "np_ns": med["np"] / n * 1e9,
        }
    return out


def worker(threads: int, rounds: int, cases: list[str]) -> dict:
    result = {"threads": threads, "cases": {}, "load_before": os.getloadavg()[0]}
    for case in CASES:
        if case.key not in cases:
            continue
        x = make_images(case)
        fns = methods(case, x, threads)
        slow_budget = 0.25
        med = time_rounds(fns, rounds, slow_budget)
        n = case.shape[0] if case.batch else 1
        h, w = case.shape[1:3] if case.batch else case.shape[:2]
        mpix = n * h * w / 1e6
        result["cases"][case.key] = {
            f"{m}|{o}": {"s": s, "mps": mpix / s} for (m, o), s in med.items()
        }
    if threads == 1:
        result["noise"] = noise_rates(rounds)
    result["load_after"] = os.getloadavg()[0]
    return result


# -------------------------------------------------------------------- memory


def memory_worker(key: str) -> dict:
    """Peak resident memory of one dp_pixelate_batch (full output) over input + output."""
    import dp_pix
    import numpy as np  # noqa: F401

    case = next(c for c in CASES if c.key == key)
    x = make_images(case)
    run = dp_pix.dp_pixelate_batch if case.batch else dp_pix.dp_pixelate
    run(x[:2] if case.batch else x[:32, :32], block=case.block, epsilon=EPSILON, m=M)  # warm

    def status(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = status("VmRSS")
    out = run(x, block=case.block, epsilon=EPSILON, m=M)
    peak = status("VmHWM")
    extra = peak - before - out.nbytes
    return {
        "input": x.nbytes,
        "output": out.nbytes,
        "extra": extra,
        "extra_pct": 100.0 * extra / (x.nbytes + out.nbytes),
    }


# ------------------------------------------------------------------- report


def machine() -> str:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import cv2
    import numba
    import numpy
    import PIL
    import skimage

    return (
        f"{model}, {cores} cores available; Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, OpenCV {cv2.__version__}, numba {numba.__version__}, "
        f"Pillow {PIL.__version__}, scikit-image {skimage.__version__}"
    )


def run_sub(args: list[str], threads: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    proc = subprocess.run(cmd, env=clean_env(threads), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark subprocess failed: {' '.join(args)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}"


def report(results: dict[int, dict], memory: dict, rounds: int) -> str:
    lines: list[str] = []
    add = lines.append
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    add(f"Machine: {machine()}.")
    loads = ", ".join(
        f"{t} thread(s): {results[t]['load_before']:.1f} → {results[t]['load_after']:.1f}"
        for t in THREADS
    )
    add(f"Load average (1 min) over the run, other processes included: {loads}.")
    add(
        f"Medians of {rounds} rounds per method (fewer, 3 at least, for methods slower than "
        "0.25 s a call); ε = 0.5, m = 16, edges = 'partial'. "
        "Ratio = dp-pix DP throughput ÷ the method's, in the same subprocess "
        "(> 1: dp-pix DP is faster)."
    )
    add("")
    for case in CASES:
        if not all(case.key in results[t]["cases"] for t in THREADS):
            continue
        add(f"#### ({case.key}) {case.title}")
        add("")
        add(
            "| output | method | MP/s, 1 thread | MP/s, 2 threads | DP ÷ method, 1 t | DP ÷ method, 2 t |"
        )
        add("|---|---|---:|---:|---:|---:|")
        for output in ("full", "grid"):
            keys = [k for k in results[1]["cases"][case.key] if k.endswith("|" + output)]
            for k in keys:
                method = k.split("|")[0]
                cells = []
                ratios = []
                for t in THREADS:
                    row = results[t]["cases"][case.key]
                    cells.append(f"{row[k]['mps']:.0f}")
                    dp = row[f"{DP}|{output}"]["mps"]
                    ratios.append(None if method == DP else dp / row[k]["mps"])
                name = method + (" (1 thread)" if method in SINGLE else "")
                add(
                    f"| {output} | {name} | {cells[0]} | {cells[1]} | "
                    f"{fmt_ratio(ratios[0])} | {fmt_ratio(ratios[1])} |"
                )
        add("")
    noise = results[1].get("noise", {})
    if noise:
        add("#### Noise alone (1 thread, 2·10⁵ samples a call, 5× the rounds)")
        add("")
        add(
            "| scale on the sums | dp-pix exact DLap, ns/sample | numpy `Generator.laplace` (float), ns/sample | numpy ÷ dp-pix |"
        )
        add("|---|---:|---:|---:|")
        for label, v in noise.items():
            add(
                f"| {label}: `{v['ratio']}` | {v['dp_ns']:.1f} | {v['np_ns']:.1f} | "
                f"{v['np_ns'] / v['dp_ns']:.2f} |"
            )
        add("")
    if all("b" in results[t]["cases"] for t in THREADS):
        case = next(c for c in CASES if c.key == "b")
        n, h, w, c = case.shape
        samples = n * -(-h // case.block) * -(-w // case.block) * c
        per = [
            results[t]["cases"]["b"][f"{DP}|full"]["s"] / samples * 1e9 for t in THREADS
        ]
        add(
            f"End to end, (b) DP full (cell sums, {samples:,} exact samples, values, "
            f"full-size write) ÷ its samples: {per[0]:.1f} ns a sample at 1 thread, "
            f"{per[1]:.1f} at 2."
        )
        add("")
    if memory:
        add("#### Peak memory of one DP batch, full output")
        add("")
        add("| case | input MB | output MB | extra over input + output |")
        add("|---|---:|---:|---:|")
        for key, v in memory.items():
            add(
                f"| ({key}) | {v['input'] / 1e6:.1f} | {v['output'] / 1e6:.1f} | "
                f"{v['extra'] / 1e6:.2f} MB ({v['extra_pct']:.1f} %) |"
            )
        add("")
    add("#### Targets")
    add("")
    add("| target | measured | holds |")
    add("|---|---|---|")

    def mps(t, key, method, output):
        return results[t]["cases"][key][f"{method}|{output}"]["mps"]

    def have(key):
        return all(key in results[t]["cases"] for t in THREADS)

    def target(name, values, ok):
        add(f"| {name} | {values} | {'yes' if ok else '**no**'} |")

    # The targets of issue 15 first: DP full output ÷ OpenCV's full output.
    for key, least in (("a", 2.0), ("b", 1.0), ("c", 3.0)):
        if have(key):
            r = [mps(t, key, DP, "full") / mps(t, key, CV, "full") for t in THREADS]
            target(
                f"({key}) DP full ÷ OpenCV full ≥ {least:.1f}",
                " / ".join(f"{v:.2f} ({t} t)" for v, t in zip(r, THREADS)),
                min(r) >= least,
            )
    if have("c"):
        r = [mps(t, "c", DP, "full") / mps(t, "c", COPY, "full") for t in THREADS]
        target(
            "(c) DP full ≥ 50 % of the np.copyto rate, 1 thread",
            " / ".join(f"{100 * v:.0f} % ({t} t)" for v, t in zip(r, THREADS)),
            r[0] >= 0.5,
        )
    if cores >= 2:
        for key in ("a", "b", "c"):
            if have(key):
                r = [mps(2, key, DP, o) / mps(1, key, DP, o) for o in ("full", "grid")]
                target(
                    f"({key}) DP 2 threads ÷ 1 thread ≥ 1.6 (full, grid)",
                    ", ".join(f"{v:.2f}" for v in r),
                    min(r) >= 1.6,
                )
    else:
        add("| 2 threads ÷ 1 ≥ 1.6 | this host gives one core: not measurable | – |")
    for key, v in memory.items():
        target(
            f"({key}) peak memory ≤ input + output + 10 %",
            f"+{v['extra_pct']:.1f} %",
            v["extra_pct"] <= 10.0,
        )
    # The first round's targets, kept.
    for key in ("a", "b", "c"):
        if have(key):
            r = [
                mps(t, key, DP, o) / mps(t, key, NUMBA, o)
                for t in THREADS
                for o in ("full", "grid")
            ]
            target(
                f"({key}) DP ÷ numba fused float DP ≥ 1.5 (full, grid)",
                ", ".join(f"{v:.2f}" for v in r) + " (1 t full, grid; 2 t full, grid)",
                min(r) >= 1.5,
            )
    if noise:
        r = [v["np_ns"] / v["dp_ns"] for v in noise.values()]
        target(
            "exact DLap ns/sample ≤ numpy Generator.laplace",
            ", ".join(f"{v['dp_ns']:.1f} vs {v['np_ns']:.1f} ns" for v in noise.values()),
            min(r) >= 1.0,
        )
    add("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--quick", action="store_true", help="5 rounds")
    p.add_argument("--cases", default="abcv", help="a, b, c: images; v: video (benches/video.py)")
    p.add_argument("--markdown", help="also write the tables to this file (between markers)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--memory", help=argparse.SUPPRESS)
    a = p.parse_args()
    rounds = 5 if a.quick else a.rounds
    if a.worker is not None:
        print(json.dumps(worker(a.worker, rounds, list(a.cases))))
        return
    if a.memory is not None:
        print(json.dumps(memory_worker(a.memory)))
        return
    cases = "".join(c for c in a.cases if c != "v")
    parts = []
    if cases:
        results = {}
        for t in THREADS:
            print(f"running {t} thread(s)…", file=sys.stderr, flush=True)
            results[t] = run_sub(["--worker", str(t), "--rounds", str(rounds), "--cases", cases], t)
        memory = {}
        for key in cases:
            memory[key] = run_sub(["--memory", key], 2)
        parts.append(report(results, memory, rounds))
    if "v" in a.cases:
        print("running the video case…", file=sys.stderr, flush=True)
        video = os.path.join(os.path.dirname(os.path.abspath(__file__)), "video.py")
        args = [sys.executable, video] + (["--rounds", "1", "--no-memory"] if a.quick else [])
        proc = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=True)
        parts.append(proc.stdout.strip())
    text = "\n\n".join(parts)
    print(text)
    if a.markdown:
        write_markdown(a.markdown, text)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_markdown(path: str, text: str) -> None:
    try:
        with open(path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = f"{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        doc += f"\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    stamp = time.strftime("%Y-%m-%d")
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n_Run of {stamp}:_\n\n{text}\n{END}{tail}")


if __name__ == "__main__":
    main()
