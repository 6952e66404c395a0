"""Sweep executors: parallel efficiency, per-run overhead, Ray against local processes.

Prints measured figures; asserts nothing about time. One fixed sweep (``--runs`` UNets on the
64x64 knee phantom that differ in learning rate and seed, so that every run is equally long;
``--epochs`` 100 makes runs of about 30-40 s on one CPU thread of a quiet machine, the length the
target names) is trained by ``medselect sweep run`` in a process of its own, 2 workers of one
thread, as a user runs it (each time on a fresh workspace, the data imported beforehand):

(a) parallel efficiency of the local executor = sum of single-run wall times / (sweep wall x
    2 workers), target >= 0.85 on 2 cores; single runs are timed one at a time on a started
    worker pool;
(b) per-run overhead: a run's duration (its row's ``duration_s``) minus the time its epochs
    report (data loading, model build, checkpoints, store writes), target <= 1 s; and the
    executor's fixed cost, sweep wall - sum of run durations / 2 (process or Ray start, imports,
    scheduling);
(c) the same sweep on a local Ray (started by the command, 127.0.0.1 only) against the local
    executor: wall-time ratio, target <= 1.15 for runs of >= 30 s;
(d) the same sweep on a two-node Ray cluster of one CPU per node, each node in a network
    namespace of its own (or on a loopback address of its own where namespaces cannot be made:
    see ``tests/ray_nodes.py``), started before timing and reached through ``--address``, the
    way a team's cluster is used.

Local and Ray sweeps alternate ``--repeats`` times; medians are printed with every figure and
the machine's load before and after (``/proc/loadavg``), since shared machines are noisy.

Run: .venv/bin/python benchmarks/bench_sweep.py [--runs 8] [--epochs 100] [--repeats 3]
     (--runs 4 --epochs 10 --repeats 1 for a quick check; --no-ray for (a) and (b) only)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from medselect.config import parse_experiment
from medselect.data.importer import import_experiment_data
from medselect.store import Workspace, get_epoch_metrics, list_runs
from medselect.sweep import plan_sweep
from medselect.sweep.executors.local import LocalExecutor
from medselect.sweep.jobs import RunJob

TESTS = Path(__file__).resolve().parents[1] / "tests"
WORKERS = 2

EXPERIMENT = """
task: {{name: knee, kind: segmentation, spatial_dims: 2,
        classes: [background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]}}
data: {{source: {{kind: phantom, cases_per_site: 10, size: 64, seed: 0}}}}
sweep:
  name: bench
  strategy: grid
  space: {{architecture: unet, learning_rate: [0.001, 0.0005], seed: {seeds},
           epochs: {epochs}, batch_size: 8, input_size: [64, 64], depth: 3, features: 16}}
"""


class Sweep:
    """One benchmark sweep in its own folder: the experiment file and a workspace whose data
    is imported and whose runs are planned, none trained."""

    def __init__(self, root: Path, runs: int, epochs: int):
        root.mkdir(parents=True)
        self.experiment = root / "bench.yaml"
        self.experiment.write_text(EXPERIMENT.format(seeds=list(range(runs // 2)),
                                                     epochs=epochs))
        self.ws = Workspace.create(root / "ws")
        experiment = parse_experiment(self.experiment.read_text(), "bench.yaml")
        version = import_experiment_data(self.ws, experiment).version_id
        self.plan = plan_sweep(self.ws, experiment, version)

    def run_cli(self, executor: str, *extra: str, prefix: tuple[str, ...] = (),
                env: dict | None = None) -> float:
        """Wall time of ``medselect sweep run`` training the whole sweep."""
        command = [*prefix, sys.executable, "-m", "medselect.cli", "sweep", "run",
                   str(self.experiment), "-w", str(self.ws.root), "--executor", executor,
                   "--workers", str(WORKERS), "--threads", "1", "--json", *extra]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
        if done.returncode or json.loads(done.stdout)["counts"] != {
                "finished": len(self.plan.to_train)}:
            raise RuntimeError(f"{executor} sweep failed:\n{done.stderr[-3000:]}")
        return wall

    def durations(self) -> tuple[list[float], list[float]]:
        """Each run's duration and the time its epochs report."""
        with self.ws.connect() as conn:
            runs = list_runs(conn)
            epochs = [sum(r["value"] for r in get_epoch_metrics(conn, run["id"])
                          if r["name"] == "epoch_time_s") for run in runs]
        return [run["duration_s"] for run in runs], epochs


def single_runs(sweep: Sweep) -> list[float]:
    """Wall time of each run alone, in a worker process of a started pool."""
    executor = LocalExecutor(workers=1, threads=1)
    executor.warm_up()
    walls = []
    for run in sweep.plan.to_train:
        started = time.perf_counter()
        executor.run([RunJob(run.run_id, str(sweep.ws.root))])
        walls.append(time.perf_counter() - started)
    return walls


def fixed_cost(wall: float, sweep: Sweep) -> float:
    return wall - sum(sweep.durations()[0]) / WORKERS


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s (median of {', '.join(f'{v:.1f}' for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs in the sweep (even)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true", help="skip (c) and (d)")
    args = parser.parse_args()
    load_before = load()
    walls: dict[str, list[float]] = {"local": [], "ray": [], "nodes": []}
    costs: dict[str, list[float]] = {"local": [], "ray": [], "nodes": []}
    with tempfile.TemporaryDirectory() as tmp:
        sweeps = (Sweep(Path(tmp) / str(i), args.runs, args.epochs) for i in itertools.count())
        single = single_runs(first := next(sweeps))
        durations, epoch_times = first.durations()
        overhead = [d - e for d, e in zip(durations, epoch_times, strict=True)]
        for _ in range(args.repeats):
            for name in ("local", *(() if args.no_ray else ("ray",))):
                sweep = next(sweeps)
                walls[name].append(sweep.run_cli(name))
                costs[name].append(fixed_cost(walls[name][-1], sweep))
        if not args.no_ray:
            two_node_sweeps(sweeps, args.repeats, walls["nodes"], costs["nodes"])
    n = len(single)
    local = statistics.median(walls["local"])
    print(f"sweep: {n} UNet runs x {args.epochs} epochs, 64x64 phantom, {WORKERS} workers of "
          f"1 thread; load {load_before} before, {load()} after (1, 5, 15 min)")
    print(f"single runs (one at a time):  {sum(single):.1f} s in all "
          f"({', '.join(f'{s:.1f}' for s in single)})")
    print(f"local executor:               {fmt(walls['local'])} wall, "
          f"fixed cost {fmt(costs['local'])}")
    print(f"(a) parallel efficiency:      {sum(single) / (local * WORKERS):.2f} (target >= 0.85)")
    print(f"(b) per-run overhead:         {statistics.mean(overhead):.2f} s on average "
          f"({', '.join(f'{o:.2f}' for o in overhead)}; data loading, model build, "
          "checkpoints, store writes; target <= 1 s)")
    if walls["ray"]:
        ray = statistics.median(walls["ray"])
        pairs = [r / loc for r, loc in zip(walls["ray"], walls["local"], strict=True)]
        print(f"(c) Ray (local, 2 CPUs):      {fmt(walls['ray'])} wall, fixed cost "
              f"{fmt(costs['ray'])}; Ray / local = {ray / local:.2f} (pairs: "
              f"{', '.join(f'{p:.2f}' for p in pairs)}; target <= 1.15)")
    if walls["nodes"]:
        nodes = statistics.median(walls["nodes"])
        print(f"(d) Ray (2 nodes x 1 CPU):    {fmt(walls['nodes'])} wall, fixed cost "
              f"{fmt(costs['nodes'])}; Ray / local = {nodes / local:.2f}; parallel "
              f"efficiency {sum(single) / (nodes * WORKERS):.2f}")


def two_node_sweeps(sweeps, repeats: int, walls: list[float], costs: list[float]) -> None:
    """(d): ``repeats`` sweeps on one two-node cluster, started before timing."""
    sys.path.insert(0, str(TESTS))
    from ray_nodes import two_node_cluster

    with two_node_cluster() as cluster:
        print(f"two-node cluster: {cluster.how}", file=sys.stderr)
        for _ in range(repeats):
            sweep = next(sweeps)
            walls.append(sweep.run_cli("ray", "--address", cluster.address,
                                       prefix=tuple(cluster.prefix), env=cluster.env))
            costs.append(fixed_cost(walls[-1], sweep))


if __name__ == "__main__":
    os.environ.setdefault("RAY_ADDRESS", "")  # never a cluster the environment names
    main()
