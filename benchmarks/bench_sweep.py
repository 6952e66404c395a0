"""Sweep executors: parallel efficiency, per-run overhead, Ray against local.

Prints measured figures; asserts nothing about time. On one fixed small sweep (4 configurations
on the 64x64 knee phantom, 2 UNets and 2 SegResNets; the default 40 epochs make runs of about
5-25 s each on one CPU thread, a realistic share of overhead):

(a) parallel efficiency of the local executor with 2 workers
    = sum of single-run wall times / (sweep wall time x 2 workers), target >= 0.85 on 2 cores.
    The sweep's wall time includes starting its worker pool (the forkserver's imports), as
    ``medselect sweep run`` pays it; single runs are timed on a started pool;
(b) per-run overhead: a single run's wall time minus the time its epochs report (process
    start, data loading, model build, checkpoints, store writes);
(c) the same sweep on a local Ray with 2 CPUs against the local executor, wall-time ratio,
    both including their start-up (``ray.init`` / the forkserver), target <= 1.15;
(d) the same sweep on a two-node Ray cluster on this machine (Ray's test cluster: a head and a
    second raylet of 1 CPU each, started before timing) through ``--address``, the way a team's
    cluster is used, against the local executor.

Run: .venv/bin/python benchmarks/bench_sweep.py [--epochs 40]   (--epochs 6 for a quick check)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from medselect.config import parse_experiment
from medselect.data.importer import import_experiment_data
from medselect.store import Workspace, get_epoch_metrics
from medselect.sweep import plan_sweep, run_sweep
from medselect.sweep.executors.local import LocalExecutor
from medselect.sweep.jobs import RunJob

EXPERIMENT = """
task: {{name: knee, kind: segmentation, spatial_dims: 2,
        classes: [background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]}}
data: {{source: {{kind: phantom, cases_per_site: 10, size: 64, seed: 0}}}}
sweep:
  name: bench
  strategy: grid
  space: {{architecture: [unet, segresnet], learning_rate: [0.001, 0.0005],
           epochs: {epochs}, batch_size: 8, input_size: [64, 64], depth: 3, features: 16}}
"""


def prepared(root: Path, epochs: int):
    ws = Workspace.create(root)
    experiment = parse_experiment(EXPERIMENT.format(epochs=epochs), "bench.yaml")
    version = import_experiment_data(ws, experiment).version_id
    return ws, plan_sweep(ws, experiment, version)


def epoch_seconds(ws: Workspace, run_id: str) -> float:
    with ws.connect() as conn:
        return sum(r["value"] for r in get_epoch_metrics(conn, run_id)
                   if r["name"] == "epoch_time_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--no-ray", action="store_true", help="skip (c)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws, plan = prepared(tmp / "local", args.epochs)
        executor = LocalExecutor(workers=2, threads=1)
        started = time.perf_counter()
        executor.warm_up()
        startup = time.perf_counter() - started
        run_sweep(ws, plan, executor)
        local = time.perf_counter() - started
        ws, plan = prepared(tmp / "single", args.epochs)
        single, overhead = [], []
        for run in plan.to_train:  # one at a time, each in its own worker process
            started = time.perf_counter()
            LocalExecutor(workers=1, threads=1).run([RunJob(run.run_id, str(ws.root))])
            single.append(time.perf_counter() - started)
            overhead.append(single[-1] - epoch_seconds(ws, run.run_id))
        ray_wall = None if args.no_ray else ray_sweep(tmp / "ray", args.epochs)
        nodes_wall = None if args.no_ray else two_node_sweep(tmp / "nodes", args.epochs)
    n = len(single)
    print(f"sweep: {n} runs x {args.epochs} epochs, 64x64 phantom, 1 thread per run")
    print(f"single runs (one at a time): {sum(single):.1f} s in all "
          f"({', '.join(f'{s:.1f}' for s in single)})")
    print(f"local executor, 2 workers:   {local:.1f} s wall "
          f"(of which {startup:.1f} s starting the worker pool)")
    print(f"(a) parallel efficiency:     {sum(single) / (local * 2):.2f} (target >= 0.85)")
    print(f"(b) per-run overhead:        {sum(overhead) / n:.2f} s on average "
          f"({', '.join(f'{o:.2f}' for o in overhead)}; process start, data loading, "
          "checkpoints, store writes)")
    if ray_wall is not None:
        print(f"(c) Ray (local, 2 CPUs):     {ray_wall:.1f} s wall; Ray / local = "
              f"{ray_wall / local:.2f} (target <= 1.15)")
    if nodes_wall is not None:
        print(f"(d) Ray (2 nodes x 1 CPU):   {nodes_wall:.1f} s wall; Ray / local = "
              f"{nodes_wall / local:.2f}; parallel efficiency {sum(single) / (nodes_wall * 2):.2f}")


def ray_sweep(root: Path, epochs: int) -> float | None:
    """Wall time of the sweep on a local Ray started for it, or None without Ray."""
    try:
        from medselect.sweep.executors.ray import RayExecutor

        ws, plan = prepared(root, epochs)
        started = time.perf_counter()
        run_sweep(ws, plan, RayExecutor(threads=1, num_cpus=2))
        return time.perf_counter() - started
    except Exception as exc:  # Ray is an optional extra
        print(f"Ray: not measured ({exc})")
        return None


def two_node_sweep(root: Path, epochs: int) -> float | None:
    """Wall time of the sweep on a running two-node Ray cluster, or None without Ray."""
    try:
        from ray.cluster_utils import Cluster

        from medselect.sweep.executors.ray import RayExecutor
    except ImportError as exc:
        print(f"two-node Ray: not measured ({exc})")
        return None
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        ws, plan = prepared(root, epochs)
        started = time.perf_counter()
        run_sweep(ws, plan, RayExecutor(address=cluster.address, threads=1))
        return time.perf_counter() - started
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
