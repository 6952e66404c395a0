"""The Optuna keys of the sweep section: ranges, sampler, pruner, budget, objectives, and
errors that name the file, the field and the line."""

from __future__ import annotations

import pytest

from medselect.config import dump_experiment, parse_experiment
from medselect.config.search import Pruner, PrunerSpec, Range, Sampler
from medselect.errors import ConfigError

HEAD = """task: {name: knee, kind: segmentation, classes: [background, femur]}
data: {source: {kind: phantom}}
sweep:
"""


def parse(sweep: str, tail: str = ""):
    return parse_experiment(HEAD + sweep + tail, "exp.yaml")


def error(sweep: str, tail: str = "") -> str:
    with pytest.raises(ConfigError) as info:
        parse(sweep, tail)
    return str(info.value)


def test_ranges_sampler_pruner_and_budget_are_read():
    sweep = parse("""  strategy: optuna
  sampler: TPE
  pruner: median
  n_trials: 12
  timeout: 600
  space:
    architecture: [unet, segresnet]
    learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
    depth: {int: [2, 5]}
    dropout: {uniform: [0, 0.3]}
""").sweep
    axes = sweep.space.axes()
    assert axes["learning_rate"] == Range(log_uniform=(1e-4, 1e-2))
    assert (axes["depth"].kind, axes["depth"].bounds) == ("int", (2, 5))
    assert axes["dropout"].bounds == (0.0, 0.3) and axes["architecture"] == ["unet", "segresnet"]
    assert sweep.sampler == Sampler.TPE and sweep.pruner == PrunerSpec(kind=Pruner.MEDIAN)
    assert (sweep.n_trials, sweep.timeout, sweep.space.size()) == (12, 600, float("inf"))


def test_a_dumped_optuna_experiment_reads_back_equal():
    for sweep in ("""  strategy: optuna
  n_trials: 3
  objectives: [{metric: val_dice}, {metric: parameters, direction: minimize}]
  space: {learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}, depth: {int: [2, 3]}}
""", """  strategy: optuna
  timeout: 60
  pruner: {kind: hyperband, warmup_epochs: 2, reduction_factor: 2}
  space: {dropout: {uniform: [0, 0.5]}}
"""):
        experiment = parse(sweep)
        again = parse_experiment(dump_experiment(experiment), "again.yaml")
        assert again.sweep == experiment.sweep
    grid = parse("  strategy: grid\n")  # the Optuna defaults dumped do not count as given
    assert parse_experiment(dump_experiment(grid), "again.yaml").sweep == grid.sweep


@pytest.mark.parametrize("sweep, fragment", [
    ("  strategy: grid\n  space: {learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}}\n",
     "sweep.space.learning_rate: a range needs strategy: optuna; strategy 'grid' takes a list "
     "of values (line 5)"),
    ("  strategy: optuna\n  n_trials: 2\n  space:\n    depth: {uniform: [2, 5]}\n",
     "sweep.space.depth: depth takes whole numbers: give {int: [lo, hi]}, or a list of values "
     "(line 7)"),
    ("  strategy: optuna\n  n_trials: 2\n  space:\n    learning_rate: {int: [1, 2]}\n",
     "sweep.space.learning_rate: learning_rate takes real numbers: give {log_uniform: [lo, hi]}"
     " or {uniform: [lo, hi]}, or a list of values (line 7)"),
    ("  strategy: optuna\n  n_trials: 2\n  space:\n    learning_rate: {uniform: [0, 0.1]}\n",
     "sweep.space.learning_rate: range end 0.0: Input should be greater than 0 (line 7)"),
    ("  strategy: optuna\n  n_trials: 2\n  space:\n    learning_rate: {log_uniform: [0, 1]}\n",
     "log_uniform needs lo > 0, got 0.0; use uniform for a range that starts at 0 (line 7)"),
    ("  strategy: optuna\n  n_trials: 2\n  space:\n    depth: {int: [5, 2]}\n",
     "sweep.space.depth: a range needs lo < hi, got [5, 2] (line 7)"),
    ("  strategy: optuna\n  n_trials: 2\n  space:\n    depth: {itn: [2, 5]}\n",
     "sweep.space.depth.itn: unknown key 'itn'; did you mean 'int'? allowed keys: log_uniform, "
     "uniform, int (line 7)"),
    ("  strategy: optuna\n  n_trials: 2\n  sampler: tpee\n",
     "sweep.sampler: unknown sampler 'tpee'; did you mean 'tpe'? choose one of: tpe, random, "
     "cmaes, nsga2 (line 6)"),
    ("  strategy: optuna\n  n_trials: 2\n  pruner: medain\n",
     "unknown pruner 'medain'; did you mean 'median'?"),
    ("  strategy: optuna\n",
     "sweep.n_trials: strategy 'optuna' needs a budget: n_trials (trials in all), timeout "
     "(seconds), or both"),
    ("  strategy: grid\n  n_trials: 4\n",
     "sweep.n_trials: 'n_trials' is only used by strategy 'optuna', not 'grid'; set strategy: "
     "optuna or remove it (line 5)"),
    ("  strategy: optuna\n  n_trials: 4\n  pruner: median\n"
     "  objectives: [{metric: val_dice}, {metric: parameters}]\n",
     "sweep.pruner: pruning needs a single objective (Optuna cannot prune a multi-objective "
     "trial); set pruner: none or keep one objective (line 6)"),
    ("  strategy: optuna\n  n_trials: 4\n  sampler: cmaes\n"
     "  objectives: [{metric: val_dice}, {metric: parameters}]\n",
     "sweep.sampler: cmaes optimises a single objective"),
    ("  strategy: optuna\n  n_trials: 4\n  objectives: [{metric: val_dice}, {metric: val_dice}]\n",
     "sweep.objectives[1].metric: objective 'val_dice' is listed twice (line 6)"),
    ("  strategy: optuna\n  n_trials: 4\n  pruner: median\n  objectives: [{metric: parameters}]\n",
     "sweep.pruner: pruning reads a validation metric per epoch"),
])
def test_errors_name_the_file_the_field_and_the_line(sweep, fragment):
    message = error(sweep)
    assert message.startswith("exp.yaml: ") and fragment in message


def test_optuna_does_not_cross_validate_or_retrain_a_whole_study():
    folds = error("  strategy: optuna\n  n_trials: 2\n", "ranking: {selection: {folds: 3}}\n")
    assert "sweep.strategy: strategy 'optuna' does not cross-validate" in folds
    retrain = error("  strategy: optuna\n  n_trials: 2\n", "upgrade: {retrain: sweep}\n")
    assert "upgrade.retrain: retrain 'sweep' repeats a grid" in retrain


def test_dropout_is_a_run_field_left_out_of_the_config_json_while_unset():
    from medselect.config import RunConfig, run_id

    plain = RunConfig()
    assert "dropout" not in plain.canonical_json()
    assert run_id(RunConfig(dropout=0.1), "dv") != run_id(plain, "dv")
    with pytest.raises(ValueError, match="less than 1"):
        RunConfig(dropout=1.0)


def test_schedules_are_axes_checked_with_the_file_the_field_and_the_line():
    sweep = parse("""  space:
    epochs: [4, 8]
    scheduler: [cosine, one_cycle]
    warmup_epochs: [null, 2]
    augmentation: light
    augmentation_ramp: [null, 3]
""").sweep
    axes = sweep.space.axes()
    assert axes["warmup_epochs"] == [None, 2] and axes["augmentation_ramp"] == [None, 3]
    assert "one_cycle" in axes["scheduler"]
    assert error("  space: {epochs: [3, 10], warmup_epochs: [null, 3]}\n") == (
        "exp.yaml: sweep.space.warmup_epochs[1]: warmup_epochs 3 leaves no epoch of the 3-epoch "
        "runs of sweep.space.epochs to the schedule; make it smaller than every epochs (line 4)")
    assert "sweep.space.augmentation_ramp: Input should be greater than or equal to 1" in error(
        "  space: {augmentation: light, augmentation_ramp: 0}\n")
    assert "did you mean 'one_cycle'?" in error("  space: {scheduler: one_cycel}\n")


def test_schedule_fields_are_part_of_the_run_and_left_out_while_unset():
    from medselect.config import RunConfig, run_id

    plain = RunConfig()
    assert "warmup_epochs" not in plain.canonical_json()  # older runs keep their ids
    warm = RunConfig(warmup_epochs=2, scheduler="one_cycle")
    assert run_id(warm, "dv") != run_id(plain, "dv")
    # a ramp without augmentation changes nothing: left out, the same run
    assert RunConfig(augmentation="none", augmentation_ramp=3) == plain
    with pytest.raises(ValueError, match="warmup_epochs 10 leaves no epoch of a 10-epoch run"):
        RunConfig(warmup_epochs=10, epochs=10)


def test_a_held_out_site_is_not_cross_validated():
    text = HEAD.replace("data: {source: {kind: phantom}}",
                        "data: {source: {kind: phantom}, split: {held_out_sites: [site-d]}}")
    with pytest.raises(ConfigError, match=r"data\.split\.held_out_sites: cross-validation"):
        parse_experiment(text + "  strategy: grid\n" + "ranking: {selection: {folds: 3}}\n",
                         "exp.yaml")
    assert parse_experiment(text + "  strategy: grid\n", "exp.yaml").data.split.held_out_sites
