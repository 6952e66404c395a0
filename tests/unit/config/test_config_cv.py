"""The run-id rule of cross-validation runs, and the ``selection`` fields that ask for them."""

import pytest
from pydantic import ValidationError

from medselect.config import (
    CrossValidation,
    RankingSpec,
    RunConfig,
    RunOverrides,
    final_config,
    fold_configs,
    fold_run_ids,
    run_id,
    stored_cv,
)


def test_a_run_without_cv_keeps_the_id_it_had_before_cv_existed():
    assert "cv" not in RunConfig().model_dump(mode="json")
    assert run_id(RunConfig(), "dv-1") == "run-9fd4b8e506d0"  # as computed before cv existed
    assert run_id(RunConfig(architecture="segresnet", epochs=3), "dv-2") == "run-98cf697801e7"


def test_each_fold_is_its_own_run_and_folds_k_and_seed_are_part_of_the_id():
    config = RunConfig(epochs=2)
    ids = [run_id(c, "dv") for c in fold_configs(config, 3, seed=0)]
    assert len(set(ids)) == 3 and run_id(config, "dv") not in ids
    assert [c.cv.fold for c in fold_configs(config, 3)] == [1, 2, 3]
    assert ids == [run_id(c, "dv") for c in fold_configs(config, 3, seed=0)]  # deterministic
    assert not set(ids) & {run_id(c, "dv") for c in fold_configs(config, 3, seed=1)}
    assert not set(ids) & {run_id(c, "dv") for c in fold_configs(config, 4, seed=0)}
    again = RunConfig.model_validate(fold_configs(config, 3)[1].model_dump(mode="json"))
    assert run_id(again, "dv") == ids[1]  # the stored form rebuilds the same run


def test_final_models_have_their_own_ids_and_an_ensemble_names_its_members():
    config = RunConfig(epochs=2)
    refit, ensemble = (final_config(config, f, 3, seed=0) for f in ("refit", "ensemble"))
    folds = [run_id(c, "dv") for c in fold_configs(config, 3)]
    assert len({run_id(refit, "dv"), run_id(ensemble, "dv"), run_id(config, "dv"), *folds}) == 6
    assert fold_run_ids(ensemble, "dv") == folds
    assert ensemble.model_dump(mode="json")["cv"] == {"folds": 3, "seed": 0, "final": "ensemble"}
    assert stored_cv(ensemble.model_dump(mode="json")) == ensemble.cv
    assert stored_cv({"architecture": "not checked"}) is None
    with pytest.raises(ValueError, match="cross-validated"):
        fold_run_ids(config, "dv")


@pytest.mark.parametrize(("fields", "message"), [
    ({"folds": 3}, "either 'fold'"),
    ({"folds": 3, "fold": 1, "final": "refit"}, "either 'fold'"),
    ({"folds": 3, "fold": 4}, "beyond folds 3"),
    ({"folds": 3, "fold": 0}, "greater than or equal to 1"),
    ({"folds": 1, "fold": 1}, "greater than or equal to 2"),
    ({"folds": 3, "final": "bagging"}, "'refit' or 'ensemble'"),
])
def test_cv_refuses_what_no_run_can_be(fields, message):
    with pytest.raises(ValidationError, match=message):
        CrossValidation.model_validate(fields)


def test_a_list_sweep_cannot_set_cv_by_hand():
    with pytest.raises(ValidationError, match="cv"):
        RunOverrides.model_validate({"cv": {"folds": 3, "fold": 1}})


def test_selection_asks_for_folds_and_the_final_model():
    selection = RankingSpec.model_validate({"selection": {"folds": 5}}).selection
    assert (selection.folds, selection.seed, selection.final) == (5, 0, "ensemble")
    refit = RankingSpec.model_validate({"selection": {"folds": 3, "final": "refit", "seed": 2}})
    assert refit.selection.final == "refit" and refit.selection.seed == 2
    with pytest.raises(ValidationError, match="final"):
        RankingSpec.model_validate({"selection": {"folds": 3, "final": "average"}})
