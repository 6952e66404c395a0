"""Benchmark of a set-metric leaderboard: AUC with bootstrap intervals and rank stability.

A set metric (AUC, ECE, ...) has no per-case value, so every bootstrap resample needs the
metric recomputed from the resampled cases. medselect computes all resamples at once from the
resample counts, used as case weights (one sort per model for the AUC, matrix products for the
others). The peer is the straightforward way: gather each resample's cases and call the AUC
function once per model and resample (:class:`medselect.rank.CaseFunction` over
``medselect.metrics.auc``). Both must give the same figures.

Run: ``.venv/bin/python benchmarks/bench_setmetrics.py [--models 50 --cases 1000 --no-peer]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from medselect.metrics import SET_METRICS, auc
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
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--no-peer", action="store_true", help="skip the gathering peer")
    args = parser.parse_args(argv)
    table = classification_table(args.models, args.cases)
    statistics = Statistics(n_resamples=args.resamples, seed=0)
    print(f"AUC leaderboard: {args.models} models x {args.cases} cases, {args.resamples} "
          "resamples within 3 sites")

    start = time.perf_counter()
    board = leaderboard(table, "auc", "higher", label="positive", statistics=statistics,
                        set_metrics=SET_METRICS)
    ours = time.perf_counter() - start
    print(f"  medselect (resample counts as weights): {ours:.2f} s")
    if args.no_peer:
        return
    matrix = score_matrix(table, "class_probability", "higher", label="positive")
    truth = (matrix.attributes["reference"] == "positive").astype(int).to_numpy()
    table = table.assign(reference=np.repeat(truth, args.models))  # 0/1, as auc() takes them
    matrix = score_matrix(table, "class_probability", "higher", label="positive")
    start = time.perf_counter()
    peer = rank_matrix(matrix, CaseFunction("auc", auc, truth="reference"),
                       statistics=statistics)
    theirs = time.perf_counter() - start
    print(f"  peer (gather each resample, auc() per model): {theirs:.2f} s")
    print(f"  ratio: {theirs / ours:.1f}x faster")
    same = all(np.isclose(a.aggregate, b.aggregate) and np.isclose(a.ci_low, b.ci_low)
               and np.isclose(a.ci_high, b.ci_high)
               for a, b in zip(board.rows, peer.rows, strict=True))
    print(f"  same ranking, values and intervals: {same}")


if __name__ == "__main__":
    main()
