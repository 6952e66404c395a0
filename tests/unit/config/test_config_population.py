"""The ``population`` keys of a ``pbt`` sweep, the members' configurations drawn from them, and
errors that name the file, the field and the line."""

from __future__ import annotations

import pytest

from medselect.config import dump_experiment, parse_experiment, run_id
from medselect.config.search import Range

from .test_config_search import error, parse

PBT = """  strategy: pbt
  population:
    size: 3
    perturbation_interval: 2
    mutations:
      learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
      weight_decay: [0.0, 1.0e-5, 1.0e-4]
      augmentation_strength: {uniform: [0.2, 1.0]}
  space: {augmentation: light, epochs: 6}
"""


def test_the_population_is_read_and_dumped_back_equal():
    experiment = parse(PBT)
    spec = experiment.sweep.population
    assert (spec.size, spec.perturbation_interval, spec.quantile_fraction) == (3, 2, 0.25)
    assert spec.mutations["learning_rate"] == Range(log_uniform=(1e-4, 1e-2))
    assert spec.bounds("weight_decay") == (0.0, 1e-4)
    again = parse_experiment(dump_experiment(experiment), "again.yaml")
    assert again.sweep == experiment.sweep


@pytest.mark.parametrize("change, fragment", [
    (("size: 3", "size: 1"),
     "sweep.population.size: Input should be greater than or equal to 2, got 1 (line 6)"),
    (("perturbation_interval: 2", "perturbation_interval: 6"),
     "sweep.population.perturbation_interval: perturbation_interval 6 is not below the runs' "
     "6 epochs, so no member would ever exploit another; make it smaller (line 7)"),
    (("      weight_decay:", "      weight_decy:"),
     "sweep.population.mutations.weight_decy: 'weight_decy' cannot change during training; "
     "did you mean 'weight_decay'? choose one of: learning_rate, weight_decay, "
     "augmentation_strength (line 10)"),
    (("{uniform: [0.2, 1.0]}", "{uniform: [0.2, 1.5]}"),
     "sweep.population.mutations.augmentation_strength: augmentation_strength takes values "
     "from 0 to 1, got [0.2, 1.5] (line 11)"),
    (("{uniform: [0.2, 1.0]}", "{int: [0, 1]}"),
     "augmentation_strength takes real numbers"),
    (("augmentation: light,", "augmentation: none,"),
     "sweep.population.mutations.augmentation_strength: augmentation_strength scales the "
     "augmentation preset, and augmentation is none"),
    (("augmentation: light,", "augmentation: light, augmentation_ramp: 2,"),
     "sweep.space.augmentation_ramp: a population sets augmentation_strength itself"),
    (("augmentation: light,", "augmentation: light, scheduler: cosine,"),
     "sweep.space.scheduler: a population sets its members' learning rates itself"),
    (("augmentation: light,", "augmentation: light, architecture: [unet, segresnet],"),
     "sweep.space.architecture: a population shares one configuration, but architecture has "
     "2 values; give one (members differ only by population.mutations) (line 12)"),
    (("augmentation: light,", "augmentation: light, learning_rate: 0.01,"),
     "sweep.space.learning_rate: learning_rate is drawn for each member from "
     "population.mutations.learning_rate; remove it from space"),
    (("strategy: pbt", "strategy: grid"),
     "sweep.population: 'population' is only used by strategy 'pbt', not 'grid'; set "
     "strategy: pbt or remove it (line 5)"),
])
def test_errors_name_the_file_the_field_and_the_line(change, fragment):
    message = error(PBT.replace(*change))
    assert message.startswith("exp.yaml: ") and fragment in message


def test_pbt_needs_its_population_and_does_not_cross_validate():
    assert ("sweep.strategy: strategy 'pbt' needs a 'population' section"
            in error("  strategy: pbt\n"))
    folds = error(PBT, "ranking: {selection: {folds: 3}}\n")
    assert "sweep.strategy: strategy 'pbt' does not cross-validate" in folds
    assert "upgrade.retrain: retrain 'sweep'" in error(PBT, "upgrade: {retrain: sweep}\n")


def test_members_differ_by_their_drawn_values_and_their_ids_by_seed_and_index():
    from medselect.sweep.population import member_configs, population_id

    experiment = parse(PBT)
    members = member_configs(experiment)
    assert [m.population.member for m in members] == [0, 1, 2]
    assert len({m.population.population for m in members}) == 1
    assert all(1e-4 <= m.learning_rate <= 1e-2 and m.weight_decay in (0.0, 1e-5, 1e-4)
               and 0.2 <= m.population.augmentation_strength <= 1.0 for m in members)
    assert len({m.learning_rate for m in members}) == 3
    assert member_configs(parse(PBT)) == members  # drawn again alike: the same runs
    reseeded = parse(PBT.replace("  strategy: pbt\n", "  strategy: pbt\n  seed: 1\n"))
    assert population_id(reseeded) != population_id(experiment)
    ids = {run_id(m, "dv-1") for m in members}
    assert ids.isdisjoint(run_id(m, "dv-1") for m in member_configs(reseeded))
    plain = members[0].model_copy(update={"population": None})
    assert "population" not in plain.model_dump() and run_id(plain, "dv-1") not in ids
