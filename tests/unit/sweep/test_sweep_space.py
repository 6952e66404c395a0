"""Search-space expansion: grid, random and list; deterministic run ids."""

from __future__ import annotations

import pytest

from medselect.config import RunConfig, parse_experiment, run_id
from medselect.errors import ConfigError
from medselect.sweep import expand_space

AXES = {"architecture": ["unet", "segresnet"], "loss": ["dice", "dice_ce", "focal"]}


def test_grid_is_every_combination_in_order():
    configs = expand_space("grid", AXES)
    assert [(c.architecture.value, c.loss.value) for c in configs] == [
        ("unet", "dice"), ("unet", "dice_ce"), ("unet", "focal"),
        ("segresnet", "dice"), ("segresnet", "dice_ce"), ("segresnet", "focal"),
    ]


def test_random_draws_distinct_and_is_deterministic():
    first = expand_space("random", AXES, samples=4, seed=3)
    again = expand_space("random", AXES, samples=4, seed=3)
    other = expand_space("random", AXES, samples=4, seed=4)
    assert first == again and len({c.canonical_json() for c in first}) == 4
    assert first != other


def test_random_cannot_sample_more_than_the_space():
    with pytest.raises(ConfigError, match="only 6 combinations"):
        expand_space("random", AXES, samples=7)


def test_list_fills_missing_fields_from_the_axes_and_drops_duplicates():
    configs = expand_space("list", AXES, configs=[{"loss": "focal"}, {"loss": "focal"},
                                                   {"architecture": "segresnet"}])
    assert [(c.architecture.value, c.loss.value) for c in configs] == [
        ("unet", "focal"), ("segresnet", "dice")]


def test_list_error_names_the_entry_and_field():
    with pytest.raises(ConfigError, match=r"sweep.configs\[1\]: loss: unknown loss 'dcie'"):
        expand_space("list", AXES, configs=[{}, {"loss": "dcie"}])


def test_run_ids_depend_on_config_and_data_only():
    a, b = RunConfig(loss="dice"), RunConfig(loss="dice")
    assert run_id(a, "dv-1") == run_id(b, "dv-1")
    assert run_id(a, "dv-1") != run_id(a, "dv-2")
    assert run_id(a, "dv-1") != run_id(RunConfig(loss="focal"), "dv-1")


def test_experiment_sweep_section_feeds_the_expansion():
    experiment = parse_experiment(
        """
task: {name: knee, kind: segmentation, classes: [background, femur]}
data: {source: {kind: phantom}}
sweep:
  strategy: grid
  space: {architecture: [unet, basic_unet], augmentation: [none, light], epochs: 3}
  early_stopping: {metric: val_dice, patience: 2, mode: max}
""",
        "exp.yaml",
    )
    sweep = experiment.sweep
    configs = expand_space(sweep.strategy, sweep.space.axes(), configs=sweep.config_dicts(),
                           samples=sweep.samples, seed=sweep.seed, fixed=sweep.fixed())
    assert len(configs) == 4
    assert {c.epochs for c in configs} == {3}
    assert {c.early_stopping_patience for c in configs} == {2}
