"""Benchmark of set-metric leaderboards: AUC and ECE with bootstrap intervals and rank stability.

A set metric (AUC, ECE, ...) has no per-case value, so every bootstrap resample needs the
metric recomputed from the resampled cases. medselect computes all resamples at once from the
resample counts, used as case weights (for the AUC one sort per model and sparse sums per tie
group; matrix products for the others). The peer is the straightforward way: gather each
resample's cases and compute the AUC once per model and resample with scipy
(``scipy.stats.mannwhitneyu``: AUC = U / (positives x negatives), ties counting half), as a
:class:`medselect.rank.CaseFunction`; it takes minutes at the full size, so it runs on the
first ``--peer-models`` models only, against ours on the same models. Both must give the same
point estimates and resampled values (the intervals differ by design: a bounded set metric's
interval is taken on the logit scale). Times are medians of
``--repeat`` runs after a warm-up, with the CPU time, steadier on a shared machine, and the load.
Target: the AUC leaderboard of 200 models x 2000 cases x 1000 resamples under 1 s.

Run: ``.venv/bin/python benchmarks/bench_setmetrics.py [--models 200 --cases 2000 --no-peer]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from scipy import stats
from timing import timed

from medselect.metrics import SET_METRICS
from medselect.rank import CaseFunction, Statistics, leaderboard, rank_matrix, score_matrix


def classification_table(n_models: int, n_cases: int, seed: int = 0) -> pd.DataFrame:
    """P(positive) of models of varied skill on cases 40 % positive, from three sites."""
    rng = np.random.default_rng(seed)
    reference = np.where(rng.random(n_cases) < 0.4, "positive", "negative")
    sign = np.where(reference == "positive", 1.0, -1.0)
    skill = rng.uniform(0.2, 2.0, n_models)
    logit = sign[:, None] * skill[None, :] + rng.normal(0, 1, (n_cases, n_models))
    probability = np.round(1 / (1 + np.exp(-logit)), 3)  # rounded: ties, as real outputs have
    cases = np.array([f"case{c:05d}" for c in range(n_cases)])
    return pd.DataFrame({
        "model": np.tile([f"model{m:03d}" for m in range(n_models)], n_cases),
        "case_id": np.repeat(cases, n_models),
        "metric": "class_probability", "label": "positive",
        "value": probability.ravel(),
        "site": np.repeat(np.array(["site-a", "site-b", "site-c"])[np.arange(n_cases) % 3],
                          n_models),
        "reference": np.repeat(reference, n_models),
    })


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (median)")
    parser.add_argument("--peer-models", type=int, default=5,
                        help="models the gathering peer ranks (it is slow)")
    parser.add_argument("--no-peer", action="store_true", help="skip the gathering peer")
    args = parser.parse_args(argv)
    table = classification_table(args.models, args.cases)
    statistics = Statistics(n_resamples=args.resamples, seed=0)
    print(f"set-metric leaderboards: {args.models} models x {args.cases} cases, "
          f"{args.resamples} resamples within 3 sites; median of {args.repeat}, "
          f"load {os.getloadavg()[0]:.1f}")
    for metric in ("auc", "ece"):
        wall, cpu, _ = timed(lambda m=metric: leaderboard(
            table, m, None, label="positive", statistics=statistics, set_metrics=SET_METRICS),
            args.repeat)
        print(f"  {metric}: {wall:.2f} s (CPU {cpu:.2f} s)")
    if not args.no_peer:
        peer(table, statistics, args)
    print(f"  load at the end {os.getloadavg()[0]:.1f}")


def scipy_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """The AUC from scipy's Mann-Whitney U of the positives' scores against the negatives'."""
    positive, negative = scores[truth == 1], scores[truth == 0]
    if not (len(positive) and len(negative)):
        return float("nan")
    u = stats.mannwhitneyu(positive, negative, method="asymptotic").statistic
    return float(u / (len(positive) * len(negative)))


def peer(table: pd.DataFrame, statistics: Statistics, args: argparse.Namespace) -> None:
    """Ours and the gathering peer on the first ``--peer-models`` models."""
    models = sorted(table["model"].unique())[:args.peer_models]
    table = table[table["model"].isin(models)]
    ours_wall, _, board = timed(lambda: leaderboard(
        table, "auc", "higher", label="positive", statistics=statistics,
        set_metrics=SET_METRICS), args.repeat)
    matrix = score_matrix(table, "class_probability", "higher", label="positive")
    truth = (matrix.attributes["reference"] == "positive").astype(int).to_numpy()
    table = table.assign(reference=np.repeat(truth, len(models)))  # 0/1
    matrix = score_matrix(table, "class_probability", "higher", label="positive")
    start = time.perf_counter()
    gathered = rank_matrix(matrix, CaseFunction("auc", scipy_auc, truth="reference"),
                           statistics=statistics)
    theirs = time.perf_counter() - start
    same = (np.array_equal(board.samples, gathered.samples, equal_nan=True)
            and all(a.model == b.model and a.aggregate == b.aggregate
                    for a, b in zip(board.rows, gathered.rows, strict=True)))
    print(f"  AUC on {len(models)} models: ours {ours_wall:.3f} s, peer (gather each "
          f"resample, scipy's Mann-Whitney U per model) {theirs:.2f} s: "
          f"{theirs / ours_wall:.0f}x faster; "
          f"same ranking, estimates and resampled AUCs: {same}")


if __name__ == "__main__":
    main()
