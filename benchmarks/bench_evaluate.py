"""Benchmark of medselect.evaluate: models x cases per second against a naive loop.

Builds a workspace in a temp folder: the knee phantom (64 x 64), a sweep of 8 small
configurations (4 architectures x 2 losses) each *trained for 1 epoch* with the in-process
executor (real checkpoints, barely trained), and 100 new phantom cases (another seed, labelled)
imported as a case set. Then evaluates the 8 models on the 100 cases twice:

- the engine (``evaluate_runs``): every case read once per batch, every model predicts the
  batch in mini-batches, preprocessed inputs shared between models of the same preprocessing;
- a naive loop: for each model, for each case, read the case again, ``train.predict`` it alone,
  then the same scoring, prediction file, overlay and store writes as the engine.

Both write the same outputs; each is timed with overlays and without, and once more for the
inference alone (reading cases and predicting, no scoring or files), which is where reading once
and batching differ. Prints (model, case) pairs per second and the ratio.
Run: ``.venv/bin/python benchmarks/bench_evaluate.py [--cases 100 --device cpu]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from medselect.config import RunConfig, load_experiment
from medselect.data.loading import load_case
from medselect.data.manifest import write_manifest
from medselect.data.phantom import synth_knee_dataset
from medselect.evaluate import (
    DEFAULT_CASES_PER_BATCH,
    EvaluationFiles,
    MetricPolicy,
    TrainedPredictor,
    evaluate_runs,
    load_task,
    resolve_case_set,
    score_case,
)
from medselect.store import (
    Workspace,
    case_set_members,
    list_runs,
    put_evaluation,
    replace_case_metrics,
    replace_predictions,
)
from medselect.sweep import plan_sweep, run_sweep
from medselect.sweep.executors.inprocess import InProcessExecutor
from medselect.tasks import get_task_plugin
from medselect.train import load_model, predict

EXPERIMENT = """
task: {name: knee, kind: segmentation, spatial_dims: 2,
       classes: [background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]}
data: {source: {kind: phantom, cases_per_site: 4, size: 64, seed: 0}}
sweep:
  name: bench
  strategy: grid
  space: {architecture: [unet, basic_unet, attention_unet, segresnet], loss: [dice_ce, dice],
          epochs: 1, batch_size: 8, input_size: [64, 64], depth: 2, features: 8}
"""


def build_workspace(root: Path, n_cases: int) -> tuple[Workspace, str]:
    """Train the 8 runs and import ``n_cases`` new labelled cases; return (ws, manifest)."""
    from medselect.data.importer import import_experiment_data

    exp_file = root / "bench.yaml"
    exp_file.write_text(EXPERIMENT)
    experiment = load_experiment(exp_file)
    ws = Workspace.create(root / "ws")
    version = import_experiment_data(ws, experiment).version_id
    plan = plan_sweep(ws, experiment, version)
    started = time.perf_counter()
    run_sweep(ws, plan, InProcessExecutor())
    print(f"trained {len(plan.runs)} runs for 1 epoch in {time.perf_counter() - started:.1f} s")
    records = synth_knee_dataset(root / "new", cases_per_site=(n_cases + 3) // 4, size=64,
                                 seed=1)[:n_cases]
    records = [replace(r, case_id=f"new-{r.case_id}", patient_id=f"new-{r.patient_id}")
               for r in records]  # other patients than the training phantom's
    manifest = write_manifest(records, root / "new" / "new.csv")
    return ws, str(manifest)


def naive(ws: Workspace, case_set: str, overlays: bool, device: str | None) -> int:
    """For each model, for each case: read it again and predict it alone; same outputs."""
    task = load_task(ws)
    plugin = get_task_plugin(task.kind)
    policy = MetricPolicy.for_task(task)
    with ws.connect() as conn:
        members = case_set_members(conn, case_set)
        runs = list_runs(conn, task=task.name, status="finished")
    pairs = 0
    for run in runs:
        config = RunConfig.model_validate(run["config"])
        network = load_model(ws.path(run["checkpoint_uri"]), config, plugin, task, device=device)
        files = EvaluationFiles(ws, f"naive-{run['id']}")
        metric_rows, predictions = [], []
        for row in members:
            case = load_case(row, ws.path)
            labels = predict(network, [case.image], config, plugin)[0]
            uri = files.write_prediction(case, labels)
            score = score_case(labels, case, policy)
            metric_rows += score.rows(case.case_id)
            overlay = thumb = None
            if overlays:
                overlay, thumb = files.write_overlay(case, labels, policy.classes,
                                                     title=case.case_id,
                                                     metrics=score.summary(policy))
            predictions.append({"case_id": case.case_id, "status": "ok", "prediction_uri": uri,
                                "overlay_uri": overlay, "thumbnail_uri": thumb})
            pairs += 1
        with ws.begin() as conn:
            put_evaluation(conn, {"id": files.evaluation_id, "model_ref": run["id"],
                                  "case_set": case_set, "dataset_version": members[0][
                                      "dataset_version"], "status": "finished"})
            replace_case_metrics(conn, files.evaluation_id, metric_rows)
            replace_predictions(conn, files.evaluation_id, predictions)
    return pairs


def inference_only(ws: Workspace, case_set: str, device: str | None, *, engine: bool) -> int:
    """Read and predict every (model, case): the engine's way, or case by case per model."""
    task = load_task(ws)
    with ws.connect() as conn:
        members = case_set_members(conn, case_set)
        runs = list_runs(conn, task=task.name, status="finished")
    predictors = [TrainedPredictor(ws, run, task, device=device) for run in runs]
    for predictor in predictors:
        predictor.load()
    pairs = 0
    if engine:
        for start in range(0, len(members), DEFAULT_CASES_PER_BATCH):
            rows = members[start:start + DEFAULT_CASES_PER_BATCH]
            cases = [load_case(row, ws.path) for row in rows]
            shared: dict = {}
            for predictor in predictors:
                pairs += len(predictor.predict(cases, shared))
        return pairs
    for predictor in predictors:
        for row in members:
            case = load_case(row, ws.path)
            predict(predictor.network, [case.image], predictor.config, predictor.plugin)
            pairs += 1
    return pairs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--device", default=None, help="cpu | cuda (default: CUDA if present)")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        ws, manifest = build_workspace(Path(tmp), args.cases)
        case_set = resolve_case_set(ws, load_task(ws), manifest)["id"]
        print(f"{'work':<16}{'engine pairs/s':>16}{'naive pairs/s':>16}{'ratio':>8}")
        timings = {}
        for engine in (True, False):
            started = time.perf_counter()
            pairs = inference_only(ws, case_set, device, engine=engine)
            timings[engine] = pairs / (time.perf_counter() - started)
        print(f"{'inference only':<16}{timings[True]:>16.1f}{timings[False]:>16.1f}"
              f"{timings[True] / timings[False]:>8.2f}")
        for overlays in (False, True):
            started = time.perf_counter()
            report = evaluate_runs(ws, case_set=case_set, overlays=overlays, force=True,
                                   device=device)
            engine_s = time.perf_counter() - started
            pairs = sum(o.n_ok for o in report.outcomes)
            started = time.perf_counter()
            naive_pairs = naive(ws, case_set, overlays, device)
            naive_s = time.perf_counter() - started
            engine_rate, naive_rate = pairs / engine_s, naive_pairs / naive_s
            work = "all, overlays" if overlays else "all, no overlay"
            print(f"{work:<16}{engine_rate:>16.1f}{naive_rate:>16.1f}"
                  f"{engine_rate / naive_rate:>8.2f}   ({len(report.outcomes)} models x "
                  f"{report.n_cases} cases: engine {engine_s:.1f} s, naive {naive_s:.1f} s)")
        ws.dispose()


if __name__ == "__main__":
    main()
