"""Imports make the val and test case sets, report patients per site and split with warnings,
and store an experiment's ranking rules with its task."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace

import pytest

from medselect.config import RankingSpec, SplitFractions, SplitSpec, TaskSpec, load_experiment
from medselect.data import named_case_set, stored_ranking
from medselect.data.importer import import_dataset, import_experiment_data, plan_import
from medselect.data.sources import read_source
from medselect.errors import ConfigError, NotFound
from medselect.store import (
    Workspace,
    case_set_members,
    get_cases,
    list_dataset_versions,
    set_task_ranking,
)

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
TASK = TaskSpec(name="knee", classes=CLASSES)


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.dispose()


@pytest.fixture
def records(tiny_phantom):
    """4 sites x 6 cases (a patient may have two visits)."""
    return read_source(tiny_phantom / "manifest.csv").records


def test_the_validation_split_becomes_a_val_case_set(ws, records):
    result = import_dataset(ws, TASK, records)
    with ws.connect() as conn:
        val = named_case_set(conn, "knee", "val")
        members = case_set_members(conn, val["id"])
        stored_val = get_cases(conn, result.version_id, split="val")
    assert result.val_case_set == val["id"] == f"{result.version_id}-val"
    assert (val["kind"], val["name"], val["frozen"]) == ("val", "val", False)
    assert [m["case_id"] for m in members] == [c["case_id"] for c in stored_val] != []
    again = import_dataset(ws, TASK, records)  # the same version: the same sets
    assert (again.created, again.val_case_set) == (False, result.val_case_set)


def test_no_validation_cases_no_val_case_set(ws, records):
    split = SplitSpec(fractions=SplitFractions(train=0.8, val=0.0, test=0.2))
    result = import_dataset(ws, TASK, records, split=split)
    assert result.val_case_set is None and result.to_dict()["val_case_set"] is None
    with ws.connect() as conn, pytest.raises(NotFound, match="has no validation cases"):
        named_case_set(conn, "knee", "val")


def test_patients_and_cases_per_site_and_split_with_warnings(ws, records):
    result = import_dataset(ws, TASK, records)
    with ws.connect() as conn:
        stored = get_cases(conn, result.version_id)
    patients, cases = defaultdict(lambda: defaultdict(set)), defaultdict(Counter)
    for c in stored:
        patients[c["site"]][c["split"]].add(c["patient_id"])
        cases[c["site"]][c["split"]] += 1
    assert result.patients == {site: {k: len(v) for k, v in splits.items()}
                               for site, splits in patients.items()}
    assert result.counts == {site: dict(c) for site, c in cases.items()}
    assert set(result.patients) == {"site-a", "site-b", "site-c", "site-d"}
    assert result.patients != result.counts  # some patients have two visits
    few = {w.site for w in result.warnings if w.problem == "few_test_patients"}
    assert few == {site for site, p in result.patients.items() if p.get("test", 0) < 3}
    assert few  # 6 patients per site, 20% test: one or two test patients per site
    dumped = [w for w in result.to_dict()["warnings"] if w["site"]]
    assert {w["site"] for w in dumped} == few and all("import more patients" in w["message"]
                                                     for w in dumped)
    [overall] = [w for w in result.warnings if w.site is None]
    assert overall.problem == "few_test_patients_overall"  # 4 sites x 1-2 test patients


def test_a_site_with_test_patients_and_no_training_patients_is_reported(ws, records):
    lonely = [replace(r, site="site-z", split="test") for r in records[:2]]  # fixed to test
    result = import_dataset(ws, TASK, [*lonely, *records[2:]])
    assert result.patients["site-z"] == {"test": 2}
    problems = {(w.site, w.problem) for w in result.warnings}
    assert {("site-z", "no_training_patients"), ("site-z", "few_test_patients")} <= problems
    [none] = [w for w in result.warnings if w.problem == "no_training_patients"]
    assert "site 'site-z'" in none.message and "train 0 / val 0 / test 2" in none.message


def test_a_held_out_site_is_stored_in_val_and_test_only_and_not_warned_about(ws, records):
    split = SplitSpec(fractions=SplitFractions(train=0.5, val=0.25, test=0.25),
                      held_out_sites=["site-d"])
    result = import_dataset(ws, TASK, records, split=split)
    held = result.patients["site-d"]
    assert "train" not in held and held["val"] >= 2 and held["test"] >= 2
    assert all(p.get("train") for site, p in result.patients.items() if site != "site-d")
    assert "no_training_patients" not in {w.problem for w in result.warnings}


def test_an_experiment_import_stores_its_ranking_with_the_task(ws, tmp_path,
                                                                write_tiny_experiment):
    path = write_tiny_experiment(tmp_path, space="architecture: unet", extra=(
        "ranking: {metric: dice, by: [site], selection: {case_set: val}, "
        "confirmation: reference}\n"))
    experiment = load_experiment(path)
    import_experiment_data(ws, experiment)
    with ws.connect() as conn:
        stored = stored_ranking(conn, "knee")
    assert stored == experiment.ranking and stored.confirmation == "reference"
    assert isinstance(stored, RankingSpec)
    # an import without an experiment (data import, upgrade) keeps the stored rules
    [manifest] = ws.path("sources").rglob("manifest.csv")  # the phantom the import wrote
    records = read_source(manifest).records
    import_dataset(ws, experiment.task, records)
    with ws.connect() as conn:
        assert stored_ranking(conn, "knee") == experiment.ranking


def test_a_task_without_stored_rules_has_none_and_broken_rules_are_named(ws, records):
    import_dataset(ws, TASK, records)
    with ws.begin() as conn:
        assert stored_ranking(conn, "knee") is None
        set_task_ranking(conn, "knee", {"metric": "dice", "aggregate": "mean", "alpha": 2})
        with pytest.raises(ConfigError, match=r"task 'knee': its stored ranking section is "
                                              r"not valid at ranking\.alpha"):
            stored_ranking(conn, "knee")
        with pytest.raises(NotFound, match="task 'hip'"):
            stored_ranking(conn, "hip")


def test_held_out_sites_are_stored_with_the_version_and_a_later_import_training_on_one_warns(
        ws, tmp_path):
    from medselect.data.phantom import synth_knee_dataset

    synth_knee_dataset(tmp_path / "phantom", cases_per_site=12, size=32, seed=0)
    records = read_source(tmp_path / "phantom" / "manifest.csv").records
    site_d = sorted({r.patient_id for r in records if r.site == "site-d"})
    later_patients = set(site_d[-3:])  # site-d patients that arrive with the second import
    fractions = SplitFractions(train=0.5, val=0.25, test=0.25)
    first = import_dataset(ws, TASK, [r for r in records if r.patient_id not in later_patients],
                           split=SplitSpec(fractions=fractions, held_out_sites=["site-d"]))
    with ws.connect() as conn:
        [version] = list_dataset_versions(conn, "knee")
    assert version["id"] == first.version_id and version["source"]["held_out_sites"] == ["site-d"]
    kept = plan_import(ws, TASK, records,  # stores nothing
                       split=SplitSpec(fractions=fractions, held_out_sites=["site-d"]))
    assert kept.counts["site-d"].patients["train"] == 0
    assert "held_out_site_trained" not in {w.problem for w in kept.warnings}
    later = import_dataset(ws, TASK, records, split=SplitSpec(fractions=fractions))
    [warning] = [w for w in later.warnings if w.problem == "held_out_site_trained"]
    trained = later.patients["site-d"]["train"]
    assert warning.site == "site-d" and 0 < trained <= len(later_patients)
    assert (f"site 'site-d' was held out of training in dataset version {first.version_id}; "
            f"this import puts {trained} of its new patients in training") in warning.message
