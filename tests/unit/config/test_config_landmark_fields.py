"""The landmarks-only run fields ``heatmap_sigma`` and ``decoding``: sweepable, recorded with the
run when set, invisible (dumps, run ids) when not."""

from __future__ import annotations

import pytest

from medselect.config import RunConfig, SearchSpace, dump_experiment, parse_experiment, run_id
from medselect.errors import ConfigError

LANDMARKS = """\
task: {name: knee-landmarks, kind: landmarks, landmarks: [apex, base]}
data:
  source: {kind: phantom}
"""


def test_unset_fields_leave_dumps_and_run_ids_as_they_were():
    config = RunConfig(architecture="basic_unet", loss="mse", epochs=30, input_size=(64, 64),
                       depth=3, features=16)
    assert "heatmap_sigma" not in config.model_dump() and "decoding" not in config.model_dump()
    # the id this configuration had before the fields existed (landmarks demo, dataset dv-9eda…)
    assert run_id(config, "dv-9eda16fe09fb") == "run-818d25802043"
    assert "heatmap_sigma" not in SearchSpace().model_dump()


def test_set_fields_are_recorded_and_make_a_different_run():
    plain = RunConfig(loss="mse")
    tuned = RunConfig(loss="mse", heatmap_sigma=1.5, decoding="argmax")
    assert tuned.model_dump(mode="json").items() >= {"heatmap_sigma": 1.5,
                                                      "decoding": "argmax"}.items()
    assert RunConfig.model_validate(tuned.model_dump(mode="json")) == tuned
    assert run_id(tuned, "dv-1") != run_id(plain, "dv-1")
    assert run_id(tuned, "dv-1") != run_id(tuned.model_copy(update={"heatmap_sigma": 3.0}), "dv-1")


def test_a_landmarks_sweep_sets_them_per_axis_and_per_config():
    experiment = parse_experiment(LANDMARKS + """\
sweep:
  space: {loss: mse, heatmap_sigma: [1.5, 3], decoding: argmax}
""", "lm.yaml")
    space = experiment.sweep.space
    assert space.heatmap_sigma == [1.5, 3.0] and space.decoding == ["argmax"]
    assert space.size() == 2
    again = parse_experiment(dump_experiment(experiment), "dumped.yaml")
    assert again.sweep.space == space
    listed = parse_experiment(LANDMARKS + """\
sweep:
  strategy: list
  configs: [{heatmap_sigma: 2.5}, {decoding: soft_argmax}]
""", "lm.yaml")
    assert listed.sweep.config_dicts() == [{"heatmap_sigma": 2.5}, {"decoding": "soft_argmax"}]


@pytest.mark.parametrize(("sweep", "expected"), [
    ("{space: {heatmap_sigma: [2, 0]}}", "sweep.space.heatmap_sigma[1]: Input should be greater "
                                       "than 0"),
    ("{space: {decoding: [argmax, mean]}}", "sweep.space.decoding[1]: Input should be 'argmax' or "
                                          "'soft_argmax'"),
    ("{strategy: list, configs: [{heatmap_sigma: -1}]}", "sweep.configs[0].heatmap_sigma: "
                                                          "Input should be greater than 0"),
])
def test_bad_values_name_the_field(sweep, expected):
    with pytest.raises(ConfigError) as exc:
        parse_experiment(LANDMARKS + f"sweep: {sweep}\n", "lm.yaml")
    assert expected in str(exc.value)


def test_the_landmarks_demo_sets_both_fields_on_every_configuration():
    from medselect.config import default_landmarks_experiment

    configs = default_landmarks_experiment().sweep.config_dicts()
    assert all({"heatmap_sigma", "decoding"} <= set(c) for c in configs)
    assert {c["decoding"] for c in configs} == {"argmax", "soft_argmax"}
    assert len({c["heatmap_sigma"] for c in configs}) > 1
