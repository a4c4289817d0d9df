"""The numbers of an evaluation as rows: every measurement
(``measurements.csv``) and the means with confidence intervals
(``summary.csv``), and a lookup of the summary by setting."""

from __future__ import annotations

from collections import defaultdict
from typing import TypedDict, TypeVar

import numpy as np

from dp_pix import metrics
from dp_pix.attack import chance
from dp_pix.evaluate.config import CONFIDENCE, METHODS, SWEEPS, UTILITY_METRICS, Config
from dp_pix.evaluate.reconstruction import RECONSTRUCTION_METRICS, Reconstruction
from dp_pix.evaluate.tasks import AttackResults, Condition, Utility, UtilityTask

__all__ = [
    "CSV_COLUMNS",
    "SUMMARY_COLUMNS",
    "MeasurementRow",
    "SummaryKey",
    "SummaryLookup",
    "SummaryRow",
    "attack_key",
    "attack_rows",
    "attack_summary",
    "blank",
    "reconstruction_key",
    "reconstruction_rows",
    "reconstruction_summary",
    "summary_lookup",
    "utility_key",
    "utility_rows",
    "utility_summary",
]

CSV_COLUMNS = (
    "dataset", "experiment", "method", "attacker", "block", "m", "epsilon", "sigma",
    "repetition", "metric", "value", "n", "params",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "dataset", "experiment", "method", "attacker", "block", "m", "epsilon", "sigma", "metric",
    "mean", "ci_low", "ci_high", "interval", "repetitions", "n", "wilson_low", "wilson_high",
)  # fmt: skip

_T = TypeVar("_T")


class MeasurementRow(TypedDict):
    """One row of ``measurements.csv`` (:data:`CSV_COLUMNS`); ``""`` where a
    column does not apply (the mosaic has no m, random guessing no block)."""

    dataset: str
    experiment: str
    method: str
    attacker: str
    block: int | str
    m: int | str
    epsilon: float | str
    sigma: float | str
    repetition: int | str
    metric: str
    value: float
    n: int | str
    params: str


class SummaryRow(TypedDict):
    """One row of ``summary.csv`` (:data:`SUMMARY_COLUMNS`); ``""`` where a
    column does not apply. The bounds are NaN where no interval can be
    estimated (a single repetition)."""

    dataset: str
    experiment: str
    method: str
    attacker: str
    block: int | str
    m: int | str
    epsilon: float | str
    sigma: float | str
    metric: str
    mean: float
    ci_low: float
    ci_high: float
    interval: str
    repetitions: int | str
    n: int
    wilson_low: float | str
    wilson_high: float | str


SummaryKey = tuple[str, str, str, int | str, int | str, float | str, str]
"""``(experiment, method, attacker, block, m, epsilon, metric)`` of a summary row."""
SummaryLookup = dict[SummaryKey, SummaryRow]


def blank(x: _T | None) -> _T | str:
    """``x``, or ``""`` (an empty CSV cell) for None."""
    return "" if x is None else x


def _measurement(
    dataset: str,
    experiment: str,
    method: str,
    *,
    metric: str,
    value: float,
    attacker: str = "",
    block: int | None = None,
    m: int | str | None = None,
    epsilon: float | None = None,
    sigma: float | None = None,
    repetition: int | None = None,
    n: int | None = None,
    params: str = "",
) -> MeasurementRow:
    return MeasurementRow(
        dataset=dataset, experiment=experiment, method=method, attacker=attacker,
        block=blank(block), m=blank(m), epsilon=blank(epsilon), sigma=blank(sigma),
        repetition=blank(repetition), metric=metric, value=value, n=blank(n), params=params,
    )  # fmt: skip


def _summary(
    dataset: str,
    experiment: str,
    method: str,
    *,
    metric: str,
    mean: float,
    ci_low: float,
    ci_high: float,
    interval: str,
    n: int,
    attacker: str = "",
    block: int | None = None,
    m: int | str | None = None,
    epsilon: float | None = None,
    sigma: float | None = None,
    repetitions: int | None = None,
    wilson: tuple[float, float] | None = None,
) -> SummaryRow:
    return SummaryRow(
        dataset=dataset, experiment=experiment, method=method, attacker=attacker,
        block=blank(block), m=blank(m), epsilon=blank(epsilon), sigma=blank(sigma),
        metric=metric, mean=mean, ci_low=ci_low, ci_high=ci_high, interval=interval,
        repetitions=blank(repetitions), n=n,
        wilson_low="" if wilson is None else wilson[0],
        wilson_high="" if wilson is None else wilson[1],
    )  # fmt: skip


# ---------------------------------------------------------------------- utility


def _task_order(t: UtilityTask) -> tuple[int, int, int, int, float, int]:
    return (
        SWEEPS.index(t.sweep),
        METHODS.index(t.method),
        t.block,
        t.m or 0,
        t.epsilon or 0.0,
        t.repetition,
    )


def utility_rows(dataset: str, utility: Utility, n: int) -> list[MeasurementRow]:
    """Per utility task and metric, the mean over the ``n`` images."""
    rows = []
    for task in sorted(utility, key=_task_order):
        for metric in UTILITY_METRICS:
            rows.append(
                _measurement(
                    dataset, f"utility-{task.sweep}", task.method,
                    block=task.block, m=task.m, epsilon=task.epsilon, sigma=task.sigma,
                    repetition=task.repetition, metric=metric,
                    value=float(np.mean(utility[task][metric])), n=n,
                )
            )  # fmt: skip
    return rows


_Setting = tuple[str, str, int, int | None, float | None, float | None]
"""``(sweep, method, block, m, epsilon, sigma)``: the repetitions of one setting."""


def utility_summary(dataset: str, utility: Utility, n: int) -> list[SummaryRow]:
    """Per setting: the per-image means over repetitions, then a t-interval over images."""
    groups: dict[_Setting, list[UtilityTask]] = defaultdict(list)
    for task in utility:
        groups[(task.sweep, task.method, task.block, task.m, task.epsilon, task.sigma)].append(task)
    out = []
    for key in sorted(groups, key=lambda k: _task_order(groups[k][0])):
        sweep, method, block, m, epsilon, sigma = key
        tasks = groups[key]
        for metric in UTILITY_METRICS:
            per_image = np.mean([utility[t][metric] for t in tasks], axis=0)
            mean, lo, hi = metrics.t_interval(per_image, CONFIDENCE)
            out.append(
                _summary(
                    dataset, f"utility-{sweep}", method, block=block, m=m, epsilon=epsilon,
                    sigma=sigma, metric=metric, mean=mean, ci_low=lo, ci_high=hi,
                    interval="t over images", repetitions=len(tasks), n=n,
                )
            )  # fmt: skip
    return out


# ----------------------------------------------------------------------- attack


def _params(params: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def attack_rows(dataset: str, results: AttackResults, n_classes: int) -> list[MeasurementRow]:
    """Per condition, split, attacker and metric (top-1, top-5, the
    cross-validation top-1), the accuracy; then random guessing."""
    rows = []
    for cond, splits in results.items():
        for split, res in splits:
            for r in res:
                for metric, value in (("top1", r.top1), ("top5", r.topk), ("cv_top1", r.cv_top1)):
                    if value is None:
                        continue
                    rows.append(
                        _measurement(
                            dataset, "attack", cond.method, attacker=r.attacker,
                            block=cond.block, m=cond.m, epsilon=cond.epsilon,
                            repetition=split, metric=metric, value=value, n=r.n_test,
                            params=_params(r.params),
                        )
                    )  # fmt: skip
    if results:
        for metric, k in (("top1", 1), ("top5", 5)):
            if k == 1 or n_classes > k:
                rows.append(
                    _measurement(
                        dataset, "attack", "random", metric=metric, value=chance(n_classes, k)
                    )
                )
    return rows


def attack_summary(dataset: str, results: AttackResults, n_classes: int) -> list[SummaryRow]:
    """Per condition, attacker and metric: a t-interval over the splits and a
    Wilson interval on the pooled test predictions; then random guessing."""
    out = []
    for cond, splits in results.items():
        attackers = [r.attacker for r in splits[0][1]]
        for j, attacker in enumerate(attackers):
            per_split = [res[j] for _, res in splits]
            for metric in ("top1", "top5"):
                values = [r.top1 if metric == "top1" else r.topk for r in per_split]
                known = [v for v in values if v is not None]
                if len(known) < len(values):
                    continue
                mean, lo, hi = metrics.t_interval(known, CONFIDENCE)
                n_test = sum(r.n_test for r in per_split)
                hits = round(sum(v * r.n_test for v, r in zip(known, per_split)))
                wilson = metrics.wilson_interval(hits, n_test, CONFIDENCE)
                out.append(
                    _summary(
                        dataset, "attack", cond.method, attacker=attacker, block=cond.block,
                        m=cond.m, epsilon=cond.epsilon, metric=metric, mean=mean, ci_low=lo,
                        ci_high=hi, interval="t over splits", repetitions=len(known), n=n_test,
                        wilson=wilson,
                    )
                )  # fmt: skip
    if results:
        for metric, k in (("top1", 1), ("top5", 5)):
            if k == 1 or n_classes > k:
                p = chance(n_classes, k)
                out.append(
                    _summary(
                        dataset, "attack", "random", metric=metric, mean=p, ci_low=p, ci_high=p,
                        interval="exact", n=n_classes,
                    )
                )  # fmt: skip
    return out


# --------------------------------------------------------------- reconstruction


def reconstruction_rows(dataset: str, rec: Reconstruction | None) -> list[MeasurementRow]:
    """Per condition, split and reconstructor (``attacker``; ``none``: the
    released image as it is): the mean PSNR, SSIM and MSE over the released
    images, the cross-validation MSE of the map, and the re-identification
    top-1 and top-5 of the best gallery classifier (``params`` names it and
    the map's hyperparameters); then the mean face and random guessing."""
    if rec is None:
        return []
    rows = []
    for cond, splits in rec.results.items():
        for split, out in splits:
            for name in rec.reconstructors:
                best = out.reid[name][-1]
                params = _params(
                    {**out.params[name], "classifier": best.params.get("attacker", "")}
                )
                values: list[tuple[str, float | None]] = [
                    *((m, float(np.mean(out.values[name][m]))) for m in RECONSTRUCTION_METRICS),
                    ("cv_mse", out.cv_mse.get(name)),
                    ("reid_top1", best.top1),
                    ("reid_top5", best.topk),
                ]
                for metric, value in values:
                    if value is None:
                        continue
                    rows.append(
                        _measurement(
                            dataset, "reconstruction", cond.method, attacker=name,
                            block=cond.block, m=cond.m, epsilon=cond.epsilon, sigma=cond.sigma,
                            repetition=split, metric=metric, value=value, n=out.n_released,
                            params=params,
                        )
                    )  # fmt: skip
    for split, face in enumerate(rec.mean_face):
        for metric in RECONSTRUCTION_METRICS:
            rows.append(
                _measurement(
                    dataset, "reconstruction", "mean-face", repetition=split, metric=metric,
                    value=float(np.mean(face[metric])), n=rec.n_released,
                )
            )  # fmt: skip
    for metric, k in (("reid_top1", 1), ("reid_top5", 5)):
        if k == 1 or rec.n_targets > k:
            rows.append(
                _measurement(
                    dataset, "reconstruction", "random", metric=metric,
                    value=chance(rec.n_targets, k),
                )
            )  # fmt: skip
    return rows


def reconstruction_summary(dataset: str, rec: Reconstruction | None) -> list[SummaryRow]:
    """Per condition, reconstructor and metric: a t-interval over the splits
    of the per-split means; then the mean face and random guessing."""
    if rec is None:
        return []
    out = []

    def add(
        method: str, metric: str, per_split: list[float], n: int, attacker: str = "",
        cond: Condition | None = None,
    ) -> None:
        mean, lo, hi = metrics.t_interval(per_split, CONFIDENCE)
        out.append(
            _summary(
                dataset, "reconstruction", method, metric=metric, mean=mean, ci_low=lo,
                ci_high=hi, interval="t over splits", repetitions=len(per_split), n=n,
                attacker=attacker, block=cond.block if cond else None,
                m=cond.m if cond else None, epsilon=cond.epsilon if cond else None,
                sigma=cond.sigma if cond else None,
            )
        )  # fmt: skip

    for cond, splits in rec.results.items():
        n = sum(o.n_released for _, o in splits)
        for name in rec.reconstructors:
            for metric in RECONSTRUCTION_METRICS:
                per = [float(np.mean(o.values[name][metric])) for _, o in splits]
                add(cond.method, metric, per, n, name, cond)
            if name != "none":
                add(cond.method, "cv_mse", [o.cv_mse[name] for _, o in splits], n, name, cond)
            for metric in ("reid_top1", "reid_top5"):
                res = [o.reid[name][-1] for _, o in splits]
                vals = [r.top1 if metric == "reid_top1" else r.topk for r in res]
                known = [v for v in vals if v is not None]
                if len(known) == len(vals):
                    add(cond.method, metric, known, n, name, cond)
    n = rec.n_released * len(rec.mean_face)
    for metric in RECONSTRUCTION_METRICS:
        add("mean-face", metric, [float(np.mean(f[metric])) for f in rec.mean_face], n)
    for metric, k in (("reid_top1", 1), ("reid_top5", 5)):
        if k == 1 or rec.n_targets > k:
            p = chance(rec.n_targets, k)
            out.append(
                _summary(
                    dataset, "reconstruction", "random", metric=metric, mean=p, ci_low=p,
                    ci_high=p, interval="exact", n=rec.n_targets,
                )
            )  # fmt: skip
    return out


# ----------------------------------------------------------------------- lookup


def summary_lookup(summary: list[SummaryRow]) -> SummaryLookup:
    """The summary rows by :data:`SummaryKey`."""
    return {
        (r["experiment"], r["method"], r["attacker"], r["block"], r["m"], r["epsilon"],
         r["metric"]): r
        for r in summary
    }  # fmt: skip


def reconstruction_key(cond: Condition | None, reconstructor: str, metric: str) -> SummaryKey:
    """The key of ``metric`` of the reconstructions by ``reconstructor`` on
    ``cond`` (None: the mean face)."""
    if cond is None:
        return ("reconstruction", "mean-face", "", "", "", "", metric)
    return (
        "reconstruction", cond.method, reconstructor, blank(cond.block), blank(cond.m),
        blank(cond.epsilon), metric,
    )  # fmt: skip


def utility_key(config: Config, sweep: str, method: str, value: float, metric: str) -> SummaryKey:
    """The key of ``method``'s ``metric`` at ``value`` of the sweep ``sweep``
    (the mosaic and the blur: at that block, or at ``config.block`` in the m
    and ε sweeps)."""
    if method in ("mosaic", "blur"):
        block = int(value) if sweep == "block" else config.block
        return ("utility-block", method, "", block, "", "", metric)
    b, m, e = config.setting(sweep, value)
    return (f"utility-{sweep}", method, "", b, m, e, metric)


def attack_key(cond: Condition, attacker: str, metric: str) -> SummaryKey:
    """The key of ``attacker``'s ``metric`` on ``cond``."""
    return (
        "attack", cond.method, attacker, blank(cond.block), blank(cond.m), blank(cond.epsilon),
        metric,
    )  # fmt: skip

