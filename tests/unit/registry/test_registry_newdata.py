"""The upgrade's new dataset version: old cases keep their split, new ones are split by the same
rules, reference patients and images stay out of training, and a re-run finds the same version.

Data: a 16x16 phantom of sites a-c imported as the first version (its test split is the frozen
reference set), then 6 cases of site-d as the new cases. No training."""

from __future__ import annotations

from dataclasses import replace

import pytest

from medselect.config import Experiment
from medselect.data.case import CaseRecord
from medselect.data.importer import import_case_set, import_experiment_data
from medselect.data.manifest import write_manifest
from medselect.data.phantom import synth_knee_dataset
from medselect.data.phantom_sites import DEFAULT_SITES
from medselect.errors import DataError, LeakageError
from medselect.registry import RegistryError, import_new_cases, reference_case_set
from medselect.registry.refresh import fresh_reference_cases, refresh_reference
from medselect.store import Workspace, get_cases

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]


@pytest.fixture
def experiment():
    return Experiment.model_validate({
        "task": {"name": "knee", "classes": CLASSES},
        "data": {"source": {"kind": "phantom", "cases_per_site": 5, "sites": 3, "size": 16}}})


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.dispose()


@pytest.fixture
def first(ws, experiment):
    return import_experiment_data(ws, experiment)


@pytest.fixture
def site_d(tmp_path):
    records = synth_knee_dataset(tmp_path / "site-d", cases_per_site=6, sites=[DEFAULT_SITES[3]],
                                 size=16, seed=0)
    return tmp_path / "site-d" / "manifest.csv", records


def _splits(ws, version):
    with ws.connect() as conn:
        return {c["case_id"]: c["split"] for c in get_cases(conn, version)}


def test_new_cases_join_the_old_ones(ws, experiment, first, site_d):
    manifest, records = site_d
    data = import_new_cases(ws, experiment, manifest)
    assert data.parent_id == first.version_id != data.version_id and data.imported.created
    assert sorted(data.new_cases) == sorted(r.case_id for r in records)
    old, new = _splits(ws, first.version_id), _splits(ws, data.version_id)
    assert {c: new[c] for c in old} == old  # old cases keep their split
    assert {new[c] for c in data.new_cases} >= {"train", "test"}  # split by the same rules
    assert set(data.new_test_cases) == {c for c in data.new_cases if new[c] == "test"}
    assert data.imported.reference_case_set == first.reference_case_set
    assert data.to_dict()["test_case_set"] == f"{data.version_id}-test"

    again = import_new_cases(ws, experiment, manifest)  # a re-run resumes on the same version
    assert (again.version_id, again.parent_id, again.new_cases) == (
        data.version_id, data.parent_id, data.new_cases)
    assert not again.imported.created


def test_nothing_new_on_the_first_version_is_refused(ws, experiment, first):
    source = ws.path("sources/knee-phantom/manifest.csv")
    with pytest.raises(RegistryError, match="every case is already in dataset version"):
        import_new_cases(ws, experiment, source)


def test_a_reused_case_id_with_other_content_is_refused(ws, experiment, first, site_d, tmp_path):
    _, records = site_d
    taken = next(iter(_splits(ws, first.version_id)))
    write_manifest([replace(records[0], case_id=taken)], tmp_path / "clash.csv")
    with pytest.raises(DataError, match=f"case '{taken}' is already in dataset version"):
        import_new_cases(ws, experiment, tmp_path / "clash.csv")


def test_a_reference_image_cannot_enter_training(ws, experiment, first, tmp_path):
    with ws.connect() as conn:
        reference = get_cases(conn, first.version_id, split="test")[0]
    leak = CaseRecord(case_id="rescan-1", images=(str(ws.path(reference["image_uris"][0])),),
                      label=str(ws.path(reference["label_uri"])), site="site-d",
                      patient_id="someone-else", split="train")  # the same scan, renamed
    write_manifest([leak], tmp_path / "leak.csv")
    with pytest.raises(LeakageError, match="identical to training case 'rescan-1'"):
        import_new_cases(ws, experiment, tmp_path / "leak.csv")


def test_no_dataset_yet_is_refused(ws, experiment, site_d):
    with pytest.raises(RegistryError, match="has no dataset yet"):
        import_new_cases(ws, experiment, site_d[0])


def test_new_case_versions_do_not_hide_the_reference_set(ws, experiment, first, site_d):
    _, records = site_d
    import_case_set(ws, experiment.task, records[:2], "unseen")
    with ws.connect() as conn:
        assert reference_case_set(conn, "knee") == first.reference_case_set


def test_a_refresh_makes_the_new_test_patients_the_reference_set(ws, experiment, first, site_d,
                                                                 tmp_path):
    data = import_new_cases(ws, experiment, site_d[0])
    with ws.connect() as conn:
        fresh = fresh_reference_cases(conn, "knee", data.version_id, min_patients=1)
    assert sorted(c["case_id"] for c in fresh) == sorted(data.new_test_cases)
    refresh = refresh_reference(ws, experiment.task, data.version_id, actor="qa",
                                reason="new site", min_patients=1)
    assert refresh.recorded and refresh.old_case_set == first.reference_case_set
    assert refresh.evaluated == {}  # nothing registered yet
    with ws.connect() as conn:
        assert reference_case_set(conn, "knee") == refresh.new_case_set
    site_e = replace(DEFAULT_SITES[0], name="site-e")
    more = synth_knee_dataset(tmp_path / "site-e", cases_per_site=6, sites=[site_e], size=16,
                              seed=1)
    later = import_new_cases(ws, experiment, tmp_path / "site-e" / "manifest.csv")
    assert later.imported.reference_case_set == refresh.new_case_set  # kept by later versions
    assert {r.case_id for r in more} == set(later.new_cases)
