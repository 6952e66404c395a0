"""Each section of the experiment file validates itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from medselect.config import (
    DEFAULT_METRICS,
    Architecture,
    DataSpec,
    EvaluationSpec,
    Experiment,
    Loss,
    ManifestSource,
    NnunetSource,
    NsdTolerance,
    PhantomSource,
    PromotionSpec,
    RunConfig,
    SearchSpace,
    SplitFractions,
    SweepSpec,
    TaskKind,
    TaskSpec,
    UpgradeSpec,
)

SEG = {"name": "knee", "classes": ["background", "femur", "tibia"]}


def first_error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple, str]:
    error = exc.value.errors()[0]
    return error["loc"], error["msg"]


# --- task ------------------------------------------------------------------------------------

def test_task_defaults_and_foreground():
    task = TaskSpec(**SEG)
    assert (task.kind, task.spatial_dims, task.in_channels) == (TaskKind.SEGMENTATION, 2, 1)
    assert task.foreground == ["femur", "tibia"]
    assert task.labels() == ["femur", "tibia", "mean", "case"]


def test_task_kind_is_case_insensitive_and_suggests():
    assert TaskSpec(name="lm", kind="LANDMARKS", landmarks=["apex"]).kind == "landmarks"
    with pytest.raises(ValidationError) as exc:
        TaskSpec(name="x", kind="segmentaton", classes=["bg", "a"])
    assert "did you mean 'segmentation'" in first_error(exc)[1]


@pytest.mark.parametrize("fields, fragment", [
    ({"kind": "segmentation", "classes": ["background"]}, "at least 2 classes"),
    ({"kind": "classification", "classes": []}, "at least 2 classes"),
    ({"kind": "landmarks"}, "needs 'landmarks'"),
    ({"classes": ["background", "femur", "femur"]}, "'femur' appears twice"),
    ({"classes": ["background", "mean"]}, "'mean' is reserved"),
    ({"classes": ["background", "femoral cartilage"]}, "pattern"),
    ({"classes": ["background", "a"], "spatial_dims": 4}, "2 or 3"),
    ({"classes": ["background", "a"], "in_channels": 0}, "greater than or equal to 1"),
])
def test_task_rejects(fields, fragment):
    with pytest.raises(ValidationError) as exc:
        TaskSpec(name="knee", **fields)
    assert fragment in first_error(exc)[1]


@pytest.mark.parametrize("name", ["Knee", "knee seg", "-knee", ""])
def test_task_name_is_a_slug(name):
    with pytest.raises(ValidationError):
        TaskSpec(name=name, classes=["background", "a"])


# --- data ------------------------------------------------------------------------------------

def test_data_source_is_chosen_by_kind():
    assert isinstance(DataSpec(source={"kind": "phantom"}).source, PhantomSource)
    assert isinstance(DataSpec(source={"kind": "manifest", "path": "m.csv"}).source,
                      ManifestSource)
    assert isinstance(DataSpec(source={"kind": "nnunet", "path": "D001"}).source, NnunetSource)
    with pytest.raises(ValidationError) as exc:
        DataSpec(source={"kind": "dicom"})
    assert exc.value.errors()[0]["type"] == "union_tag_invalid"


def test_phantom_sites_as_count_or_names():
    assert PhantomSource(sites=2).sites == 2
    assert PhantomSource(sites="site-a").sites == ["site-a"]
    for bad in (0, [], ["site-a", "site-a"]):
        with pytest.raises(ValidationError):
            PhantomSource(sites=bad)


def test_phantom_site_cases_give_a_site_fewer_cases():
    assert PhantomSource(site_cases={"site-e": 4}).site_cases == {"site-e": 4}
    with pytest.raises(ValidationError, match="at least 1 case"):
        PhantomSource(site_cases={"site-e": 0})


def test_manifest_must_be_csv_or_json():
    assert ManifestSource(path="cases.JSON").path == Path("cases.JSON")
    with pytest.raises(ValidationError) as exc:
        ManifestSource(path="cases.txt")
    assert "'cases.txt'" in first_error(exc)[1]


def test_source_path_resolves_against_base_dir_in_context(tmp_path):
    source = ManifestSource.model_validate({"path": "sub/../m.csv"},
                                           context={"base_dir": tmp_path})
    assert source.path == tmp_path.resolve() / "m.csv"
    absolute = tmp_path / "abs.csv"
    assert ManifestSource.model_validate({"path": str(absolute)},
                                         context={"base_dir": "/elsewhere"}).path == absolute
    assert ManifestSource(path="m.csv").path == Path("m.csv")  # no base: left relative


def test_split_fractions_sum_to_one():
    assert SplitFractions(train=0.6, val=0.2, test=0.2).as_dict() == {
        "train": 0.6, "val": 0.2, "test": 0.2}
    with pytest.raises(ValidationError) as exc:
        SplitFractions(train=0.5, val=0.1, test=0.2)
    assert "= 0.8" in first_error(exc)[1]
    with pytest.raises(ValidationError):
        SplitFractions(train=0.0, val=0.5, test=0.5)
    with pytest.raises(ValidationError):
        SplitFractions(validation=0.1)


def test_split_defaults():
    split = DataSpec(source={"kind": "phantom"}).split
    assert (split.stratify_by, split.seed, split.freeze_reference) == ("site", 0, True)


# --- sweep -----------------------------------------------------------------------------------

def test_space_has_one_axis_per_run_field_defaulting_to_run_default():
    space = SearchSpace()
    # early stopping comes from sweep.early_stopping, cv from ranking.selection.folds,
    # population from strategy pbt
    assert set(space.axes()) == set(RunConfig.model_fields) - {"early_stopping_patience", "cv",
                                                               "population"}
    defaults = RunConfig()
    assert all(values == [getattr(defaults, name)] for name, values in space.axes().items())
    assert space.size() == 1


def test_space_scalars_are_one_element_lists():
    space = SearchSpace(loss="DICE", learning_rate=0.01, input_size=[64, 64], epochs=3)
    assert space.loss == [Loss.DICE]
    assert space.learning_rate == [0.01]
    assert space.input_size == [(64, 64)]
    assert SearchSpace(input_size=[[64, 64], [96, 96, 96]]).input_size == [(64, 64), (96, 96, 96)]


def test_space_values_checked_by_run_config_with_index():
    with pytest.raises(ValidationError) as exc:
        SearchSpace(loss=["dice", "dice_ce", "dcie"], learning_rate=[0.1, -1.0])
    errors = {e["loc"]: e["msg"] for e in exc.value.errors()}
    assert "did you mean 'dice'" in errors[("loss", 2)]
    assert "greater than 0" in errors[("learning_rate", "values", 1)]  # "values": not a range
    with pytest.raises(ValidationError) as exc:
        SearchSpace(input_size=[[64, 64], [4, 4]])
    assert first_error(exc)[0] == ("input_size", 1)
    with pytest.raises(ValidationError):
        SearchSpace(architecture=[])


def test_grid_size_is_the_product_of_axes():
    space = SearchSpace(architecture=["unet", "segresnet"], loss=["dice", "focal", "tversky"])
    assert space.size() == 6
    assert space.axes()["architecture"] == [Architecture.UNET, Architecture.SEGRESNET]


def test_list_configs_are_partial_run_configs():
    sweep = SweepSpec(strategy="list", configs=[{"loss": "FOCAL", "input_size": [32, 32]},
                                                {"architecture": "segresnet"}])
    assert sweep.config_dicts() == [{"loss": Loss.FOCAL, "input_size": (32, 32)},
                                    {"architecture": Architecture.SEGRESNET}]
    assert sweep.model_dump(mode="json")["configs"] == [
        {"loss": "focal", "input_size": [32, 32]}, {"architecture": "segresnet"}]
    with pytest.raises(ValidationError) as exc:
        SweepSpec(strategy="list", configs=[{"loss": "dice"}, {"loss": "dcie"}])
    assert first_error(exc)[0] == ("configs", 1, "loss")
    with pytest.raises(ValidationError) as exc:
        SweepSpec(strategy="list", configs=[{"los": "dice"}])
    assert exc.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("fields, fragment", [
    ({"strategy": "random"}, "needs 'samples'"),
    ({"strategy": "random", "samples": 2}, "exceeds the 1 combinations"),
    ({"strategy": "grid", "samples": 2}, "only used by strategy 'random'"),
    ({"strategy": "list"}, "needs 'configs'"),
    ({"strategy": "grid", "configs": [{"loss": "dice"}]}, "only used by strategy 'list'"),
    ({"strategy": "bayes"}, "'grid', 'random', 'list', 'optuna' or 'pbt'"),
    ({"workers": 0}, "greater than or equal to 1"),
])
def test_sweep_rejects(fields, fragment):
    with pytest.raises(ValidationError) as exc:
        SweepSpec(**fields)
    assert fragment in first_error(exc)[1]


def test_sweep_random_and_fixed_fields():
    sweep = SweepSpec(strategy="random", samples=3, space={"loss": ["dice", "focal", "tversky"]},
                      early_stopping={"patience": 4, "metric": "val_dice", "mode": "max"})
    assert sweep.samples == 3
    assert sweep.fixed() == {"early_stopping_patience": 4}
    assert SweepSpec().fixed() == {}


# --- evaluation ------------------------------------------------------------------------------

def test_evaluation_defaults():
    spec = EvaluationSpec()
    assert spec.case_sets == ["val", "test"]  # the selection set, then the confirmation set
    assert spec.metrics == list(DEFAULT_METRICS[TaskKind.SEGMENTATION])
    assert {"dice", "iou", "hd95", "assd", "nsd"} <= set(spec.metrics)
    assert spec.nsd_tolerance_mm.default == 1.0
    assert (spec.overlays, spec.top_k) == (True, None)


def test_case_sets_are_named_sets_or_resolved_paths(tmp_path):
    assert EvaluationSpec(case_sets=["reference", "val"]).case_sets == ["reference", "val"]
    assert EvaluationSpec(case_sets="val").case_sets == ["val"]
    spec = EvaluationSpec.model_validate({"case_sets": ["test", "new/cases.csv"]},
                                         context={"base_dir": tmp_path})
    assert spec.case_sets == ["test", tmp_path.resolve() / "new" / "cases.csv"]
    with pytest.raises(ValidationError) as exc:
        EvaluationSpec(case_sets=["val", "test", "val"])
    assert "['val']" in first_error(exc)[1]
    with pytest.raises(ValidationError):
        EvaluationSpec(case_sets=[])


def test_the_older_single_case_set_is_read_as_a_list(tmp_path):
    assert EvaluationSpec(case_set="reference").case_sets == ["reference"]
    spec = EvaluationSpec.model_validate({"case_set": "new/cases.csv"},
                                         context={"base_dir": tmp_path})
    assert spec.case_sets == [tmp_path.resolve() / "new" / "cases.csv"]
    assert "case_set" not in spec.model_dump()
    with pytest.raises(ValidationError, match="give case_sets only"):
        EvaluationSpec.model_validate({"case_set": "test", "case_sets": ["val"]})


def test_nsd_tolerance_number_or_mapping_with_overrides():
    assert NsdTolerance.model_validate(2).for_classes(["a", "b"]) == {"a": 2.0, "b": 2.0}
    tolerance = NsdTolerance.model_validate({"default": 1.0, "b": 0.5})
    assert tolerance.for_classes(["a", "b"]) == {"a": 1.0, "b": 0.5}
    assert tolerance.model_dump() == {"default": 1.0, "b": 0.5}
    with pytest.raises(ValidationError):
        NsdTolerance.model_validate({"default": 1.0, "b": 0})


def test_evaluation_metrics_scalar_distinct_non_empty():
    assert EvaluationSpec(metrics="dice").metrics == ["dice"]
    with pytest.raises(ValidationError) as exc:
        EvaluationSpec(metrics=["dice", "hd95", "dice"])
    assert "['dice']" in first_error(exc)[1]
    with pytest.raises(ValidationError):
        EvaluationSpec(metrics=[])
    with pytest.raises(ValidationError):
        EvaluationSpec(top_k=0)


# --- promotion and upgrade -------------------------------------------------------------------

def test_promotion_defaults():
    spec = PromotionSpec()
    assert (spec.primary.metric, spec.primary.label, spec.primary.margin) == (None, "mean", 0.0)
    assert (spec.test, spec.compare_with, spec.scopes) == ("bootstrap", "all_versions", ["global"])
    assert spec.site_margin is None


@pytest.mark.parametrize("fields, loc", [
    ({"guards": [{"label": "femur"}]}, ("guards", 0, "metric")),
    ({"guards": [{"metric": "hd95", "margin": -1}]}, ("guards", 0, "margin")),
    ({"test": "ttest"}, ("test",)),
    ({"alpha": 1.5}, ("alpha",)),
    ({"compare_with": "latest"}, ("compare_with",)),
    ({"scopes": ["global", "site"]}, ("scopes",)),
    ({"scopes": ["global", "global"]}, ("scopes",)),
    ({"min_patients": 0}, ("min_patients",)),
])
def test_promotion_rejects(fields, loc):
    with pytest.raises(ValidationError) as exc:
        PromotionSpec(**fields)
    assert first_error(exc)[0] == loc


def test_promotion_reads_the_old_min_cases_as_min_patients_with_a_warning():
    with pytest.warns(FutureWarning, match="write min_patients instead"):
        assert PromotionSpec(min_cases=7).min_patients == 7


def test_promotion_scopes():
    assert PromotionSpec(scopes="per_site").scopes == ["per_site"]
    assert PromotionSpec(scopes=["global", "site:Hospital A"]).scopes[1] == "site:Hospital A"


def test_upgrade():
    assert (UpgradeSpec().retrain, UpgradeSpec().top_k) == ("top_k", 3)
    with pytest.raises(ValidationError):
        UpgradeSpec(retrain="everything")


# --- experiment (cross-section checks) -------------------------------------------------------

def experiment(**sections) -> Experiment:
    return Experiment.model_validate(
        {"task": SEG, "data": {"source": {"kind": "phantom"}}} | sections)


def test_experiment_fills_defaults_from_other_sections():
    exp = experiment()
    assert exp.data.source.spatial_dims == 2
    assert exp.promotion.primary.metric == "dice"
    exp = experiment(ranking={"metric": "hd95"})
    assert exp.promotion.primary.metric == "hd95"
    landmarks = Experiment.model_validate({
        "task": {"name": "lm", "kind": "landmarks", "landmarks": ["apex"]},
        "data": {"source": {"kind": "phantom"}},
    })
    assert landmarks.evaluation.metrics == list(DEFAULT_METRICS[TaskKind.LANDMARKS])
    assert landmarks.promotion.primary.metric == "radial_error"


def test_experiment_does_not_modify_its_inputs():
    source = PhantomSource()
    Experiment(task=TaskSpec(**SEG), data=DataSpec(source=source))
    assert source.spatial_dims is None


@pytest.mark.parametrize("sections, at", [
    ({"data": {"source": {"kind": "phantom", "spatial_dims": 3}}}, ("data", "source",
                                                                    "spatial_dims")),
    ({"task": SEG | {"in_channels": 2}}, ("task", "in_channels")),
    ({"sweep": {"space": {"input_size": [[64, 64], [64, 64, 64]]}}},
     ("sweep", "space", "input_size", 1)),
    ({"sweep": {"strategy": "list", "configs": [{}, {"input_size": [32, 32, 32]}]}},
     ("sweep", "configs", 1, "input_size")),
    ({"evaluation": {"nsd_tolerance_mm": {"default": 1, "femr": 2}}},
     ("evaluation", "nsd_tolerance_mm", "femr")),
    ({"ranking": {"metric": "hd"}}, ("ranking", "metric")),
    ({"ranking": {"weights": {"dice": 1, "nsdd": 1}}}, ("ranking", "weights", "nsdd")),
    ({"promotion": {"primary": {"metric": "hd"}}}, ("promotion", "primary", "metric")),
    ({"promotion": {"guards": [{"metric": "hd95", "label": "patella"}]}},
     ("promotion", "guards", 0, "label")),
    ({"promotion": {"scopes": ["site:site-z"]},
      "data": {"source": {"kind": "phantom", "sites": ["site-a"]}}},
     ("promotion", "scopes", 0)),
    ({"evaluation": {"case_sets": ["val", "reference"]},
      "data": {"source": {"kind": "phantom"}, "split": {"freeze_reference": False}}},
     ("evaluation", "case_sets", 1)),
])
def test_experiment_cross_checks_name_the_field(sections, at):
    with pytest.raises(ValidationError) as exc:
        experiment(**sections)
    error = exc.value.errors()[0]
    assert error["type"] == "experiment"
    assert error["ctx"]["at"] == at


def test_experiment_3d_needs_3d_input_size():
    task = SEG | {"spatial_dims": 3}
    with pytest.raises(ValidationError):
        experiment(task=task)
    exp = experiment(task=task, sweep={"space": {"input_size": [32, 32, 32]}})
    assert exp.data.source.spatial_dims == 3


def test_source_is_not_dumped():
    exp = experiment()
    exp.source = Path("/x/experiment.yaml")
    assert "source" not in exp.model_dump()


def test_held_out_sites_are_checked_against_named_phantom_sites_and_need_val_and_test():
    phantom = {"kind": "phantom", "sites": ["site-a", "site-e"]}
    spec = DataSpec(source=phantom, split={"held_out_sites": ["site-e"]})
    assert spec.split.held_out_sites == ["site-e"]
    with pytest.raises(ValidationError, match=r"split.held_out_sites names unknown.*site-x"):
        DataSpec(source=phantom, split={"held_out_sites": ["site-x"]})
    with pytest.raises(ValidationError, match="held_out_sites"):
        DataSpec(source=phantom, split={"held_out_sites": ["site-e"],
                                        "fractions": {"train": 0.8, "val": 0, "test": 0.2}})
    with pytest.raises(ValidationError, match="unique"):
        DataSpec(source=phantom, split={"held_out_sites": ["site-e", "site-e"]})
