"""The search space as Optuna distributions, and a trial's parameters back as a run."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from medselect.config import RunConfig, SearchSpace, run_id  # noqa: E402
from medselect.config.search import Range  # noqa: E402
from medselect.sweep.suggest import (  # noqa: E402
    config_of,
    corner_axes,
    distributions,
    max_epochs,
)

SPACE = SearchSpace(
    architecture=["unet", "segresnet"], input_size=[[32, 32], [64, 64]], epochs=[3, 6],
    learning_rate={"log_uniform": [1e-4, 1e-2]}, depth={"int": [2, 4]},
    dropout={"uniform": [0, 0.3]}, loss="dice",
)


def test_only_varying_axes_are_parameters_with_the_matching_distribution():
    dists = distributions(SPACE.axes())
    assert set(dists) == {"architecture", "input_size", "epochs", "learning_rate", "depth",
                          "dropout"}
    assert dists["architecture"] == CategoricalDistribution(["unet", "segresnet"])
    assert dists["input_size"] == CategoricalDistribution(["32x32", "64x64"])
    assert dists["epochs"] == CategoricalDistribution([3, 6])
    assert dists["learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["dropout"] == FloatDistribution(0.0, 0.3)
    assert dists["depth"] == IntDistribution(2, 4)


def test_parameters_make_the_run_config_and_so_the_same_run_id():
    params = {"architecture": "segresnet", "input_size": "64x64", "epochs": 6,
              "learning_rate": 1e-3, "depth": 3, "dropout": 0.1}
    config = config_of(SPACE.axes(), params, {"early_stopping_patience": 2})
    assert config == RunConfig(architecture="segresnet", input_size=(64, 64), epochs=6,
                               learning_rate=1e-3, depth=3, dropout=0.1, loss="dice",
                               early_stopping_patience=2)
    again = config_of(SPACE.axes(), dict(params), {"early_stopping_patience": 2})
    assert run_id(again, "dv-1") == run_id(config, "dv-1")  # a repeated proposal is one run


def test_a_study_asks_inside_the_space():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        config = config_of(SPACE.axes(), study.ask(distributions(SPACE.axes())).params)
        assert 1e-4 <= config.learning_rate <= 1e-2 and 2 <= config.depth <= 4
        assert config.input_size in ((32, 32), (64, 64)) and config.loss.value == "dice"


def test_corners_hold_each_range_end_and_max_epochs_reads_lists_and_ranges():
    corners = corner_axes(SPACE.axes())
    assert corners["depth"] == [2, 4] and corners["learning_rate"] == [1e-4, 1e-2]
    assert corners["architecture"] == ["unet", "segresnet"]
    assert max_epochs(SPACE.axes()) == 6
    assert max_epochs({"epochs": Range(int=(2, 9))}) == 9
