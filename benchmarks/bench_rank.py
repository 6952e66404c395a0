"""Benchmark of medselect.rank at the issue's scale.

200 models x 2000 cases (4 slices of each of 500 patients) x 3 sites, 1000 cluster-bootstrap
resamples of patients: the leaderboard with confidence intervals, rank stability, the paired
bootstrap test and the equivalence test of every model against the best, then the significance
matrix (19,900 Holm-corrected Wilcoxon tests on per-patient mean differences). Prints the median
wall time of ``--repeat`` runs after one warm-up (and the CPU time, steadier on a shared
machine), the machine's load, and the peak memory of one more run (tracemalloc: Python and numpy
allocations; ru_maxrss: the whole process). tracemalloc slows every allocation (the first
figures of this benchmark, taken under it, were 3-5x too slow), so no timed run is traced.
Targets: leaderboard < 0.3 s, significance matrix < 1 s on the development machine (2 cores).
The peer is ``scipy.stats.wilcoxon`` called on the same pairs of per-patient means (vectorised
along an axis, chunked); its p-values must agree.

Run: ``.venv/bin/python benchmarks/bench_rank.py [--models 200 --cases 2000 --no-peer]``
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats
from timing import timed

from medselect.rank import Statistics, leaderboard

SLICES = 4  # cases per patient


def synthetic_table(n_models: int, n_cases: int, n_sites: int, seed: int = 0) -> pd.DataFrame:
    """Long per-case table of Dice-like scores: a model effect, a case difficulty, a site
    shift, noise, and 1 % missing values; every 4 consecutive cases are one patient's."""
    rng = np.random.default_rng(seed)
    site = np.repeat(rng.integers(0, n_sites, -(-n_cases // SLICES)), SLICES)[:n_cases]
    score = (0.80 + rng.normal(0, 0.02, n_models)[None, :] + rng.normal(0, 0.05, n_cases)[:, None]
             + np.array([0.0, -0.03, 0.02, 0.01][:n_sites] + [0.0] * max(0, n_sites - 4))[site][
                 :, None]
             + rng.normal(0, 0.03, (n_cases, n_models)))
    score = np.clip(score, 0, 1)
    score[rng.random(score.shape) < 0.01] = np.nan
    cases = np.array([f"case{c:05d}" for c in range(n_cases)])
    models = np.array([f"model{m:03d}" for m in range(n_models)])
    return pd.DataFrame({
        "model": np.tile(models, n_cases),
        "case_id": np.repeat(cases, n_models),
        "metric": "dice",
        "label": "mean",
        "value": score.ravel(),
        "patient_id": np.repeat(np.array([f"p{c // SLICES:05d}" for c in range(n_cases)]),
                                n_models),
        "site": np.repeat(np.array([f"site{s}" for s in site]), n_models),
    })


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--no-peer", action="store_true", help="skip the scipy comparison")
    args = parser.parse_args(argv)

    table = synthetic_table(args.models, args.cases, args.sites)
    statistics = Statistics(n_resamples=args.resamples, seed=0)

    def rank():
        return leaderboard(table, "dice", "higher", statistics=statistics, margin=0.02)

    def significance():
        return replace(board, statistics=replace(statistics, test="wilcoxon")).significance()

    load = os.getloadavg()[0]
    board_wall, board_cpu, board = timed(rank, args.repeat)
    matrix_wall, matrix_cpu, matrix = timed(significance, args.repeat)
    tracemalloc.start()
    significance(), rank()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    n_pairs = args.models * (args.models - 1) // 2
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 10)  # KiB on Linux
    print(f"{args.models} models x {args.cases} cases ({board.n_patients} patients) x "
          f"{args.sites} sites, {args.resamples} resamples ({len(table):,} table rows); "
          f"median of {args.repeat}, load {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"leaderboard (pivot, CIs, stability, tests and equivalence vs best): "
          f"{board_wall:6.2f} s (CPU {board_cpu:.2f} s; target < 0.3 s)")
    print(f"significance matrix ({n_pairs:,} Wilcoxon tests + Holm): {matrix_wall:6.2f} s "
          f"(CPU {matrix_cpu:.2f} s; target < 1 s)")
    print(f"peak traced memory: {peak / (1 << 20):.0f} MiB; process max RSS: {rss:.0f} MiB")
    print(f"best: {board.best}; best group of {len(board.best_group)}; "
          f"significant pairs: {int(matrix.better.sum()):,} of {n_pairs:,}")
    if not args.no_peer:
        peer(board.clusters.patient_means(board.matrix.oriented), matrix.pvalues, matrix_wall)


def peer(oriented: np.ndarray, pvalues: np.ndarray, ours: float) -> None:
    """Time scipy.stats.wilcoxon on the same pairs of per-patient means and compare its
    p-values with ours."""
    first, second = np.triu_indices(oriented.shape[1], 1)
    by_model = oriented.T
    reference = np.empty(len(first))
    start = time.perf_counter()
    for s in range(0, len(first), 500):
        diffs = by_model[first[s:s + 500]] - by_model[second[s:s + 500]]
        reference[s:s + 500] = stats.wilcoxon(diffs, axis=1).pvalue
    took = time.perf_counter() - start
    gap = np.nanmax(np.abs(reference - pvalues[first, second]))
    print(f"peer scipy.stats.wilcoxon, same pairs: {took:.2f} s ({took / ours:.1f}x ours); "
          f"largest p-value difference {gap:.1e}")


if __name__ == "__main__":
    sys.exit(main())
