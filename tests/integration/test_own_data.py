"""The README's "Your own data" walk: an nnU-Net folder of 2D slices stored as (x, y, 1) NIfTI,
with patients from the case ids and sites from a table, from check and import to a sweep,
evaluation, a per-site ranking, the per-case export and a promotion."""

from __future__ import annotations

import csv
import io
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from medselect.store import Workspace, get_cases, list_dataset_versions

pytestmark = pytest.mark.slow

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]


def nnunet_slices(phantom, root):
    """The phantom's cases as nnU-Net 2D slices: ``<patient>_z<visit>`` with (x, y, 1) NIfTI,
    and a sites table; nothing in the folder itself says who a case belongs to."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    with open(phantom / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sites = io.StringIO()
    sites.write("case_id,site\n")
    seen: dict[str, int] = {}
    for row in rows:
        z = seen[row["patient_id"]] = seen.get(row["patient_id"], -1) + 1
        case = f"{row['patient_id']}_z{z:03d}"
        for src, dest in ((row["image"], root / "imagesTr" / f"{case}_0000.nii.gz"),
                          (row["label"], root / "labelsTr" / f"{case}.nii.gz")):
            img = nib.load(phantom / src)
            nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine), dest)
        sites.write(f"{case},{row['site']}\n")
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "MR"}, "labels": {c: i for i, c in enumerate(CLASSES)},
        "numTraining": len(rows), "file_ending": ".nii.gz"}))
    (root.parent / "sites.csv").write_text(sites.getvalue())
    return root, root.parent / "sites.csv", rows


def experiment(folder, data, sites):
    path = folder / "tumour.yaml"
    path.write_text(f"""
task: {{name: knee-own, kind: segmentation, spatial_dims: 2, classes: [{", ".join(CLASSES)}]}}
data:
  source: {{kind: nnunet, path: {data}, patients: '(?P<patient>.+)_z\\d+', case_info: {sites}}}
sweep:
  name: own
  strategy: grid
  space: {{architecture: unet, epochs: 2, batch_size: 4, input_size: [32, 32], depth: 2,
          features: 8}}
  workers: 1
  threads_per_worker: 1
ranking: {{metric: dice}}
promotion: {{min_patients: 3}}
""")
    return path


def test_an_nnunet_folder_of_slices_from_import_to_promotion(run_cli, tiny_phantom, tmp_path):
    data, sites, rows = nnunet_slices(tiny_phantom, tmp_path / "Dataset001_Knee")
    patients = r"(?P<patient>.+)_z\d+"
    checked = run_cli("data", "check", data, "--classes", ",".join(CLASSES), "--patients",
                      patients, "--case-info", sites, "--json")
    assert checked.code == 0, checked.stdout + checked.stderr
    exp, ws_dir = experiment(tmp_path, data, sites), tmp_path / "ws"

    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        [version] = list_dataset_versions(conn)
        stored = get_cases(conn, version["id"])
    ws.dispose()
    truth = {r["patient_id"]: r["site"] for r in rows}
    assert {c["patient_id"] for c in stored} == set(truth)  # patient-level, not per slice
    assert all(c["site"] == truth[c["patient_id"]] for c in stored)
    splits: dict[str, set[str]] = {}
    for c in stored:
        splits.setdefault(c["patient_id"], set()).add(c["split"])
    assert all(len(s) == 1 for s in splits.values())  # no patient on two sides
    # the import planned by check is the import made by the sweep
    assert json.loads(checked.stdout)["splits"] == {c["case_id"]: c["split"] for c in stored}

    assert run_cli("evaluate", exp, "-w", ws_dir, "--json").code == 0
    ranked = run_cli("rank", exp, "-w", ws_dir, "--by", "site", "--json")
    assert ranked.code == 0, ranked.stderr
    exported = tmp_path / "cases.csv"
    assert run_cli("cases", "export", "-w", ws_dir, "--out", exported).code == 0
    table = pd.read_csv(exported)
    assert set(table["site"]) == {r["site"] for r in rows}
    assert table["patient_id"].isin(truth).all()
    [run] = set(table["model"])
    promoted = run_cli("promote", run, "-w", ws_dir, "--experiment", exp, "--json")
    assert promoted.code == 0, promoted.stderr
    decision = json.loads(promoted.stdout)["decision"]
    reference = {c["case_id"] for c in stored if c["split"] == "test"}
    assert decision["n_cases"] == len(reference)
    assert decision["n_patients"] == len({c["patient_id"] for c in stored
                                          if c["case_id"] in reference})
    assert decision["n_patients"] < decision["n_cases"]  # slices pooled per patient
