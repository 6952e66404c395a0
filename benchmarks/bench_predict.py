"""Benchmark of medselect.deploy.predict_cases: cases per second, and what routing costs.

Builds a workspace in a temp folder: the knee phantom (64 x 64, 4 sites), two small U-Nets
trained for 1 epoch with the in-process executor, the first promoted champion of ``global``
and the second of ``site:site-b``; then N new phantom cases (another seed, other patients,
labelled, their sites in the manifest). On those cases it times, each ``--repeats`` times
(best kept, the machine may be shared):

- ``evaluate`` of the global champion alone (``evaluate_runs``, no overlays): inference plus
  scoring and the store's rows, the peer ``predict`` is measured against;
- ``predict --scope global``: one model for every case, no routing;
- ``predict --scope auto``: each case to its site's champion (site-b's cases to the second
  model, the others to the global one, said per case), which loads one more model;
- ``predict --scope auto`` with the global champion also promoted for site-b, so routing
  decides per case but one model answers all: the routing itself (target: within 5% of
  ``--scope global``).

Prints cases per second and the ratios. Run:
``.venv/bin/python benchmarks/bench_predict.py [--cases 100 --device cpu --repeats 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

import medselect as ms
from medselect.data.manifest import write_manifest
from medselect.data.phantom import synth_knee_dataset
from medselect.deploy import predict_cases
from medselect.evaluate import NewCases, evaluate_runs, load_task, resolve_case_set
from medselect.store import Workspace, list_runs

EXPERIMENT = """
task: {name: knee, kind: segmentation, spatial_dims: 2,
       classes: [background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]}
data: {source: {kind: phantom, cases_per_site: 6, size: 64, seed: 0}}
sweep:
  name: bench
  strategy: grid
  space: {architecture: unet, loss: [dice_ce, dice], epochs: 1, batch_size: 8,
          input_size: [64, 64], depth: 3, features: 8}
promotion: {primary: {metric: dice, margin: 0.0}, min_patients: 1}
"""


def build_workspace(root: Path, n_cases: int) -> tuple[Workspace, list[str], Path]:
    """Train the two runs, promote them (global, site:site-b), write ``n_cases`` new cases;
    return (ws, run ids, manifest)."""
    experiment = root / "bench.yaml"
    experiment.write_text(EXPERIMENT)
    ws = ms.open_workspace(root / "ws", create=True)
    started = time.perf_counter()
    ms.run_sweep(ws, experiment, executor="inprocess")
    with ws.connect() as conn:
        runs = sorted(r["id"] for r in list_runs(conn, status="finished"))
    print(f"trained {len(runs)} runs for 1 epoch in {time.perf_counter() - started:.1f} s")
    for run, scope in ((runs[0], "global"), (runs[1], "site:site-b")):
        ms.promote(ws, run, scope=scope, experiment=experiment, actor="bench")
    records = synth_knee_dataset(root / "new", cases_per_site=(n_cases + 3) // 4, size=64,
                                 seed=1)[:n_cases]
    records = [replace(r, case_id=f"new-{r.case_id}", patient_id=f"new-{r.patient_id}")
               for r in records]  # other patients than the training phantom's
    return ws, runs, write_manifest(records, root / "new" / "new.csv")


def best_rates(works: dict[str, Callable[[], int]], repeats: int) -> dict[str, tuple[float, float]]:
    """Per work, (cases per second, seconds) of its fastest run; the works take turns, so a
    busy spell of a shared machine slows all of them alike."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for name, work in works.items():
            started = time.perf_counter()
            cases = work()
            seconds = time.perf_counter() - started
            if name not in best or seconds < best[name][1]:
                best[name] = (cases / seconds, seconds)
    return best


def routing_seconds(ws: Workspace, manifest: Path, repeats: int) -> float:
    """Seconds of routing alone: reading the cases' sites and choosing each one's champion."""
    from medselect.evaluate import read_new_cases
    from medselect.registry import champion_routes

    records = read_new_cases(manifest)
    fastest = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with ws.connect() as conn:
            routes = champion_routes(conn, "knee", {r.site for r in records})
        [routes[r.site].evidence for r in records]
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--device", default=None, help="cpu | cuda (default: CUDA if present)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws, runs, manifest = build_workspace(root, args.cases)
        case_set = resolve_case_set(ws, load_task(ws), NewCases(manifest))["id"]  # imported once

        def evaluate() -> int:
            report = evaluate_runs(ws, runs=[runs[0]], case_set=case_set, overlays=False,
                                   force=True, device=device)
            return report.outcomes[0].n_ok

        def predict(scope: str, out: str) -> Callable[[], int]:
            def work() -> int:
                report = predict_cases(ws, manifest, root / out, scope=scope, device=device)
                return len(report.cases) - len(report.failed)
            return work

        rates = best_rates({"evaluate, global champion": evaluate,
                            "predict --scope global": predict("global", "g"),
                            "predict --scope auto": predict("auto", "a")}, args.repeats)
        ms.promote(ws, runs[0], scope="site:site-b", force_reason="benchmark: one model",
                   actor="bench")
        rates |= best_rates({"predict auto, one model": predict("auto", "o"),
                             "predict global (again)": predict("global", "g")}, args.repeats)
        one = min(rates["predict --scope global"][1], rates["predict global (again)"][1])
        print(f"{'work':<28}{'cases/s':>10}{'seconds':>10}{'vs global':>11}")
        for work, (rate, seconds) in rates.items():
            print(f"{work:<28}{rate:>10.1f}{seconds:>10.2f}{one / seconds:>11.3f}")
        routing = routing_seconds(ws, manifest, args.repeats)
        print(f"routing alone (sites read, champions chosen): {routing * 1e3:.1f} ms, "
              f"{routing / one:.1%} of predicting with one model (target <= 5%)")
        print(f"end to end over one model: auto with one model "
              f"{rates['predict auto, one model'][1] / one - 1:+.1%}, auto with a second "
              f"champion to load {rates['predict --scope auto'][1] / one - 1:+.1%}; predict is "
              f"{rates['evaluate, global champion'][1] / one:.2f}x as fast as evaluate")
        ws.dispose()


if __name__ == "__main__":
    main()
