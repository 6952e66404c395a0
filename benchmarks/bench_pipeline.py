"""Data pipeline: a sweep's throughput (epochs per second) with and without the prepared-case
cache, on the CPU.

Prints measured figures; asserts nothing. A classification sweep on the knee phantom (the
classification demo's task, CPU-sized: ``--cases`` patients per site, 96x96 slices resized to
64x64, ResNet-18 with 8 features, ``--configs`` learning rates x two augmentations, ``--epochs``
epochs each) is trained twice per repetition in fresh workspaces of the same imported data:
``sweep.cache: false`` (every run reads and prepares every case, as before the cache) and
``sweep.cache: true`` (the first run prepares the cases into ``<workspace>/cache``, the others
read them). Both train the same runs on the same tensors; only the wall time differs.

The saving is per run, not per epoch: a sweep of many short runs (an Optuna study with pruning)
gains most, a sweep of long runs least. On a GPU the per-epoch augmentation also moves to loader
workers with pinned memory (``sweep.loader_workers``); that part needs a GPU to measure and is
not measured here.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--cases 50] [--configs 3] [--epochs 2]
     [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from medselect.api import run_sweep
from medselect.config import parse_experiment
from medselect.data.importer import import_experiment_data
from medselect.store import Workspace

EXPERIMENT = """
task: {{name: knee-thinning, kind: classification, spatial_dims: 2, classes: [normal, thinning]}}
data: {{source: {{kind: phantom, cases_per_site: {cases}, size: 96, seed: 0}}}}
sweep:
  name: pipeline
  cache: {cache}
  space: {{architecture: resnet18, loss: ce, features: 8, batch_size: 16, input_size: [64, 64],
           epochs: {epochs}, learning_rate: {rates}, augmentation: [none, light]}}
evaluation: {{metrics: [probability, auc]}}
"""


def timed_sweep(template: Path, root: Path, cache: bool, args) -> tuple[float, int]:
    """Seconds a sweep takes to train (its data already imported) and its epochs."""
    experiment = parse_experiment(EXPERIMENT.format(
        cases=args.cases, epochs=args.epochs, cache=str(cache).lower(),
        rates=[round(1e-3 * 2**i, 6) for i in range(args.configs)]), "bench.yaml")
    folder = root / f"ws-{'cache' if cache else 'plain'}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(template, folder)
    ws = Workspace.open(folder)
    try:
        import_experiment_data(ws, experiment)  # known: nothing to import
        started = time.perf_counter()
        snapshot = run_sweep(ws, experiment, executor="inprocess", threads=1)
        seconds = time.perf_counter() - started
    finally:
        ws.dispose()
    assert snapshot.counts == {"finished": 2 * args.configs}, snapshot.counts
    return seconds, 2 * args.configs * args.epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50, help="patients per site (4 sites)")
    parser.add_argument("--configs", type=int, default=3, help="learning rates (x 2 augmentations)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        root = Path(tmp)
        template = root / "template"
        experiment = parse_experiment(EXPERIMENT.format(
            cases=args.cases, epochs=1, cache="false", rates=[1e-3]), "bench.yaml")
        with Workspace.create(template) as ws:
            import_experiment_data(ws, experiment)
        seconds: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for cache in (False, True):
                took, epochs = timed_sweep(template, root, cache, args)
                seconds[cache].append(took)
    plain, cached = (statistics.median(seconds[c]) for c in (False, True))
    print(f"classification sweep: {2 * args.configs} runs x {args.epochs} epochs, "
          f"{4 * args.cases} cases at 96x96 -> 64x64, CPU, 1 thread, inprocess executor")
    print(f"load average before the last repetition: {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} cores)")
    print(f"{'pipeline':<24}{'median s':>10}{'epochs/s':>10}   all runs (s)")
    for name, cache in (("no cache (as before)", False), ("prepared-case cache", True)):
        median = statistics.median(seconds[cache])
        print(f"{name:<24}{median:>10.1f}{epochs / median:>10.3f}   "
              f"{', '.join(f'{s:.1f}' for s in seconds[cache])}")
    print(f"throughput ratio cache / no cache: {plain / cached:.2f}x")


if __name__ == "__main__":
    main()
