"""Search strategies: best validation Dice reached against epochs spent.

Prints measured figures; asserts nothing. One space of 24 configurations on the knee phantom
(2 architectures x 3 losses x 4 learning rates, small UNets, CPU-sized), each run up to
``--epochs`` epochs, searched four ways through ``medselect.api.run_sweep``:

- grid: all 24 configurations to the end (the reference: its best is the best there is);
- random: ``--trials`` configurations drawn by Optuna's random sampler;
- TPE: ``--trials`` configurations proposed by TPE;
- TPE + pruning: ``--pruned-trials`` TPE trials, runs stopped by each pruner of ``--pruners``
  (Optuna's median pruner, after 3 trials and 3 epochs; successive halving, from epoch 3,
  keeping one run in 3 at each rung).

Epochs spent are the epochs a strategy's distinct runs trained (a configuration proposed twice
is trained once). Training is deterministic, so the same configuration trains the same curve
whichever strategy asks for it: random and TPE share the grid's workspace and reuse its runs
(their epochs are still counted as spent), while TPE + pruning trains in a workspace of its own
so that its pruner really stops runs. Target: TPE + pruning within 0.01 Dice of the grid's
best with at most 40 % of the grid's epochs, printed for each pruner.

The samplers are run with ``--seeds`` seeds (each TPE + pruning seed in a fresh workspace), and
the grid's spread is printed: how many of the 24 configurations are within 0.01 of its best
says how hard the space is to search.

Run: .venv/bin/python benchmarks/bench_search.py [--epochs 12] [--trials 9] [--pruned-trials 16]
     [--seeds 5] [--pruners median,successive_halving]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from medselect.api import run_sweep
from medselect.config import parse_experiment
from medselect.store import Workspace, get_epoch_metrics, list_runs

PRUNERS = {"median": "{kind: median, startup_trials: 3, warmup_epochs: 3}",
           "successive_halving": "{kind: successive_halving, warmup_epochs: 3}",
           "hyperband": "{kind: hyperband, warmup_epochs: 3}"}
"""The pruners TPE + pruning is measured with, by name."""

EXPERIMENT = """
task: {{name: knee, kind: segmentation, spatial_dims: 2,
        classes: [background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]}}
data: {{source: {{kind: phantom, cases_per_site: {cases}, size: 64, seed: 0}}}}
sweep:
  name: {name}
  strategy: {strategy}
  space: {{architecture: [unet, attention_unet], loss: [dice, dice_ce, focal],
           learning_rate: [0.0003, 0.001, 0.003, 0.01], epochs: {epochs}, batch_size: 4,
           input_size: [64, 64], depth: 3, features: 8}}
{search}"""


@dataclass(frozen=True)
class Outcome:
    strategy: str
    trials: int
    runs: int
    pruned: int
    epochs: int
    best_dice: float
    seconds: float


def search(root: Path, name: str, strategy: str, search_keys: str, *, epochs: int,
           cases: int) -> Outcome:
    """Run one strategy as sweep ``name`` in the workspace at ``root``; what it spent and
    reached."""
    text = EXPERIMENT.format(name=name, strategy=strategy, search=search_keys, epochs=epochs,
                             cases=cases)
    experiment = parse_experiment(text, f"{name}.yaml")
    ws = Workspace.create(root)
    started = time.perf_counter()
    run_sweep(ws, experiment, executor="inprocess")
    seconds = time.perf_counter() - started
    trials, asked = _asked(ws, name, strategy)
    with ws.connect() as conn:
        runs = [r for r in list_runs(conn) if r["id"] in asked]
        trained = [max(e["epoch"] for e in get_epoch_metrics(conn, r["id"])) for r in runs]
    ws.dispose()
    return Outcome(name, trials, len(runs), sum(r["status"] == "pruned" for r in runs),
                   sum(trained), max(r["best_metric"] for r in runs), seconds)


def _asked(ws: Workspace, name: str, strategy: str) -> tuple[int, set[str]]:
    """How many configurations sweep ``name`` asked for (trials, repeats included) and its
    distinct runs: the grid's by sweep name, a study's by its trials."""
    if strategy == "grid":
        with ws.connect() as conn:
            ids = {r["id"] for r in list_runs(conn, sweep=name)}
        return len(ids), ids
    import optuna

    from medselect.sweep.study import RUN_ATTR, study_storage

    with study_storage(ws) as storage:
        [study_name] = [n for n in optuna.get_all_study_names(storage)
                        if n.startswith(f"{name}@")]
        trials = optuna.load_study(study_name=study_name, storage=storage).trials
    return len(trials), {t.user_attrs[RUN_ATTR] for t in trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--trials", type=int, default=9, help="random and TPE trials")
    parser.add_argument("--pruned-trials", type=int, default=16, help="TPE + pruning trials")
    parser.add_argument("--cases-per-site", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5, help="sampler seeds 0..N-1")
    parser.add_argument("--pruners", default="median,successive_halving",
                        help="comma-separated pruners for TPE + pruning")
    args = parser.parse_args()
    keys = "  sampler: {sampler}\n  seed: {seed}\n  n_trials: {n}\n"
    pruners = {name: "  pruner: " + PRUNERS[name] + "\n" for name in args.pruners.split(",")}
    options = {"epochs": args.epochs, "cases": args.cases_per_site}
    with tempfile.TemporaryDirectory() as tmp:
        shared = Path(tmp) / "shared"
        grid = search(shared, "grid", "grid", "", **options)
        outcomes: dict[str, list[Outcome]] = {
            "random": [], "tpe": [], **{f"tpe+{name}": [] for name in pruners}}
        for seed in range(args.seeds):
            for sampler in ("random", "tpe"):
                outcomes[sampler].append(search(shared, f"{sampler}-s{seed}", "optuna", keys.format(
                    sampler=sampler, seed=seed, n=args.trials), **options))
            for name, pruner in pruners.items():  # a workspace of its own: runs really prune
                outcomes[f"tpe+{name}"].append(search(
                    Path(tmp) / f"{name}-{seed}", f"tpe-{name}-s{seed}", "optuna",
                    keys.format(sampler="tpe", seed=seed, n=args.pruned_trials) + pruner,
                    **options))
        dice = _grid_dice(shared)
    print(f"\n24 configurations x {args.epochs} epochs on the 64x64 knee phantom "
          f"({args.cases_per_site} cases per site); best validation Dice against epochs spent")
    print(f"grid: best {grid.best_dice:.4f}, median {statistics.median(dice):.4f}, worst "
          f"{min(dice):.4f}; {sum(grid.best_dice - d <= 0.01 for d in dice)} of {len(dice)} "
          f"configurations within 0.01 of the best; {grid.epochs} epochs, {grid.seconds:.0f} s")
    print(f"\n{'strategy':<26} {'trials':>6} {'runs':>5} {'pruned':>6} {'epochs':>7} "
          f"{'% of grid':>9} {'best Dice':>9} {'gap':>7}")
    for runs in outcomes.values():
        for o in runs:
            print(f"{o.strategy:<26} {o.trials:>6} {o.runs:>5} {o.pruned:>6} {o.epochs:>7} "
                  f"{100 * o.epochs / grid.epochs:>8.1f}% {o.best_dice:>9.4f} "
                  f"{grid.best_dice - o.best_dice:>7.4f}")
    print(f"\n{'strategy':<12} {'mean % of grid epochs':>22} {'mean gap':>9} {'worst gap':>10} "
          f"{'within 0.01':>12}")
    for name, runs in outcomes.items():
        gaps = [grid.best_dice - o.best_dice for o in runs]
        share = statistics.mean(100 * o.epochs / grid.epochs for o in runs)
        print(f"{name:<22} {share:>21.1f}% {statistics.mean(gaps):>9.4f} {max(gaps):>10.4f} "
              f"{sum(g <= 0.01 for g in gaps):>6} of {len(gaps)}")
    for name in pruners:
        met = sum(grid.best_dice - o.best_dice <= 0.01 and o.epochs <= 0.4 * grid.epochs
                  for o in outcomes[f"tpe+{name}"])
        print(f"target (TPE + {name} pruning within 0.01 Dice of the grid's best with <= 40 % "
              f"of its epochs): met with {met} of {args.seeds} seeds")


def _grid_dice(root: Path) -> list[float]:
    """Every grid configuration's best validation Dice."""
    ws = Workspace.open(root)
    try:
        with ws.connect() as conn:
            return [r["best_metric"] for r in list_runs(conn, sweep="grid")]
    finally:
        ws.dispose()


if __name__ == "__main__":
    main()
