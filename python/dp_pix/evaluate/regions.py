"""Region mode in the evaluation: faces cut from privatized scenes.

Each attack image is pasted at a random place into a scene twice its size
(a random blocky background); its region is its box grown by
``regions.DEFAULT_PAD`` (as ``dp-pix pixelate --pad 0.2`` would use). The
scene is released in region mode (``dp_pixelate_batch(..., regions=)``), or
its region mosaicked, the region is cut out again and attacked like the whole
images, on the same splits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import dp_pix
from dp_pix import regions
from dp_pix.attack import ATTACKER_LABELS, AttackResult, chance
from dp_pix.evaluate.config import Config, EvalData
from dp_pix.evaluate.measurements import (
    MeasurementRow,
    SummaryRow,
    attack_rows,
    attack_summary,
    blank,
    summary_lookup,
)
from dp_pix.evaluate.tables import markdown_table, pct
from dp_pix.evaluate.tasks import AttackResults, AttackTask, Condition, derive_seed, execute
from dp_pix.progress import Progress

__all__ = ["RegionAttack", "region_attack", "region_scenes", "region_views"]

Box = tuple[int, int, int, int]


@dataclass
class RegionAttack:
    """The region-mode row of the attack: CSV rows, summary rows, a report section."""

    rows: list[MeasurementRow]
    summary: list[SummaryRow]
    report: str


def region_scenes(images: np.ndarray, seed: int) -> tuple[np.ndarray, list[Box]]:
    """Each image ``(N, h, w[, C])`` pasted at a random place into a scene of
    twice its height and width on a random blocky background; returns the
    scenes and each image's region box, its box grown by
    ``regions.DEFAULT_PAD`` (inside the scene, so all regions have one size)."""
    n, h, w = images.shape[:3]
    rng = np.random.default_rng(seed)
    dx, dy = math.ceil(regions.DEFAULT_PAD * w), math.ceil(regions.DEFAULT_PAD * h)
    coarse = rng.integers(0, 256, (n, h // 4 + 1, w // 4 + 1, *images.shape[3:]), dtype=np.uint8)
    blocky = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    scenes = np.ascontiguousarray(blocky[:, : 2 * h, : 2 * w])
    boxes: list[Box] = []
    for i in range(n):
        x0, y0 = int(rng.integers(dx, w - dx + 1)), int(rng.integers(dy, h - dy + 1))
        scenes[i, y0 : y0 + h, x0 : x0 + w] = images[i]
        (box,) = regions.grow([(x0, y0, x0 + w, y0 + h)], regions.DEFAULT_PAD, (2 * h, 2 * w))
        boxes.append(box)
    return scenes, boxes


def region_views(
    scenes: np.ndarray, boxes: Sequence[Box], cond: Condition, seed: int
) -> np.ndarray:
    """What the attacker cuts from the released scenes: each region, after
    region-mode DP-Pix (``dp_pixelate_batch(..., regions=)``) or the mosaic of
    the same cells."""
    block = cond.block
    assert block is not None
    if cond.method == "region-mosaic":
        cuts = [
            dp_pix.pixelate(np.ascontiguousarray(s[y0:y1, x0:x1]), block=block)
            for s, (x0, y0, x1, y1) in zip(scenes, boxes)
        ]
    else:
        assert cond.epsilon is not None and cond.m is not None
        outs = dp_pix.dp_pixelate_batch(
            scenes, block=block, epsilon=cond.epsilon, m=cond.m,
            regions=[[b] for b in boxes], seed=seed,
        )  # fmt: skip
        cuts = [o[y0:y1, x0:x1] for o, (x0, y0, x1, y1) in zip(outs, boxes)]
    return np.stack(cuts)


def region_conditions(config: Config) -> list[Condition]:
    """The mosaic of the region, and region DP-Pix at each attack ε, at
    ``config.m`` and at ``m="region"``."""
    b = config.block
    conds = [Condition("region-mosaic", f"mosaic {b}x{b} (not private)", "region-mosaic", b)]
    for m in (config.m, "region"):
        conds += [
            Condition(
                f"region-{m}-{e:g}", f"region DP-Pix ε={e:g}, m={m}", "region-dp-pix",
                block=b, m=m, epsilon=float(e),
            )
            for e in config.attack_epsilons
        ]
    return conds


def _region_attack_task(
    shared: tuple[np.ndarray, list[Box], np.ndarray, Config], task: AttackTask
) -> list[AttackResult]:
    from dp_pix import attack

    scenes, boxes, labels, config = shared
    train, test = attack.split_per_class(
        labels, test_fraction=config.test_fraction, seed=task.split_seed
    )
    c = task.condition
    x = attack.cell_features(region_views(scenes, boxes, c, task.noise_seed), c.block)
    return attack.attack(
        x[train], labels[train], x[test], labels[test], attackers=config.attackers,
        cv_folds=config.cv_folds, seed=task.cv_seed,
    )  # fmt: skip


def region_attack(
    evdata: EvalData, idx: np.ndarray, config: Config, seed: int, jobs: int,
    progress: bool | None,
) -> RegionAttack:
    """Re-identification in region mode: the attack images pasted into scenes
    (:func:`region_scenes`), privatized there as regions, cut out again
    (:func:`region_views`) and attacked like the whole images, on the same
    splits: the mosaic of the region, DP-Pix at b, m and each attack ε, and
    at ``m="region"`` (m = the region's pixel count)."""
    images, labels = evdata.images[idx], evdata.labels[idx]
    scenes, boxes = region_scenes(images, derive_seed(seed, 10))
    conds = region_conditions(config)
    tasks = [
        AttackTask(
            condition=c,
            split=s,
            split_seed=derive_seed(seed, 2, s),  # the whole-image attack's splits
            noise_seed=derive_seed(seed, 11, s, k),
            cv_seed=derive_seed(seed, 12, s, k) % 2**31,
        )
        for s in range(config.splits or 1)
        for k, c in enumerate(conds)
    ]
    found: AttackResults = defaultdict(list)
    bar = Progress(len(tasks), label="regions", unit="task", enabled=progress)
    for task, res in execute(_region_attack_task, (scenes, boxes, labels, config), tasks, jobs, bar):
        found[task.condition].append((task.split, res))
    results = {c: sorted(found[c], key=lambda r: r[0]) for c in conds}
    n_classes = len(np.unique(labels))

    def regional(rs: Sequence[Any]) -> list[Any]:
        kept = [r for r in rs if r["method"] != "random"]  # chance is in the attack's rows
        for r in kept:
            r["experiment"] = "attack-regions"
        return kept

    rows = regional(attack_rows(evdata.key, results, n_classes))
    summary = regional(attack_summary(evdata.key, results, n_classes))
    lookup = summary_lookup(summary)
    attackers = [*config.attackers, "best"]
    table = []
    for c in conds:
        cells = [
            pct(lookup.get(("attack-regions", c.method, a, blank(c.block), blank(c.m),
                             blank(c.epsilon), "top1")))
            for a in attackers
        ]
        table.append([c.label, *cells])
    table.append(["random guessing", *([f"{100 * chance(n_classes):.1f}"] * len(attackers))])
    h, w = images.shape[1:3]
    x0, y0, x1, y1 = boxes[0]
    text = (
        "## Privacy in region mode: faces cut from privatized scenes\n\n"
        f"Each attack image is pasted at a random place into a scene of {2 * w}x{2 * h} pixels "
        f"(a random blocky background); its region is its box grown by 20 % on each side "
        f"({x1 - x0}x{y1 - y0} pixels), as `dp-pix pixelate --pad 0.2` would use. The scene "
        f"is released in region mode (`dp_pixelate_batch(..., regions=)`, cells of "
        f"{config.block}x{config.block} anchored at the region's corner, everything else "
        f"unchanged), the region is cut out again and attacked as above, on the same splits; "
        f"against the mosaic of the same cells. At m=region, m is the region's "
        f"{(x1 - x0) * (y1 - y0)} pixels. Top-1 accuracy (%), mean ± 95 % CI half-width over "
        f"{config.splits} split(s):\n\n"
        + markdown_table(["images the attacker sees", *(ATTACKER_LABELS[a] for a in attackers)], table)
        + "\n"
    )
    return RegionAttack(rows=rows, summary=summary, report=text)
