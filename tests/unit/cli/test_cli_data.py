"""``medselect data`` commands end to end on tiny phantom data."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3

import numpy as np

KNEE = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]


def test_synth_knee_imports_and_is_idempotent(run_cli, tmp_path):
    ws = tmp_path / "ws"
    first = run_cli("data", "synth-knee", "-w", ws, "--cases-per-site", 4, "--size", 32, "--json")
    assert first.code == 0, first.stderr
    report = json.loads(first.stdout)["import"]
    assert report["created"] and report["n_cases"] == 16
    assert set(report["counts"]) == {"site-a", "site-b", "site-c", "site-d"}
    assert report["reference_case_set"]
    assert report["val_case_set"] == f"{report['version_id']}-val"
    assert report["test_case_set"] == f"{report['version_id']}-test"
    assert set(report["patients"]) == set(report["counts"])
    # 4 patients per site: none of them has 3 test patients
    assert {(w["site"], w["problem"]) for w in report["warnings"]} >= {
        (site, "few_test_patients") for site in report["counts"]}
    again = run_cli("data", "synth-knee", "-w", ws, "--cases-per-site", 4, "--size", 32, "--json")
    assert json.loads(again.stdout)["import"]["version_id"] == report["version_id"]
    assert not json.loads(again.stdout)["import"]["created"]
    listed = run_cli("data", "list", "-w", ws, "--json")
    assert [v["id"] for v in json.loads(listed.stdout)] == [report["version_id"]]


def test_import_manifest_copies_files_by_content(run_cli, tiny_phantom, tmp_path):
    ws = tmp_path / "ws"
    result = run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", ws,
                     "--task", "knee", "--classes", ",".join(KNEE), "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["n_cases"] == 24
    blobs = list((ws / "data").rglob("*.nii.gz"))
    assert len(blobs) == 48  # an image and a label per case, stored once each


def test_import_prints_patients_and_cases_per_split_and_the_warnings(run_cli, tiny_phantom,
                                                                    tmp_path):
    ws = tmp_path / "ws"
    result = run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", ws,
                     "--task", "knee", "--classes", ",".join(KNEE))
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "patients (cases) per site and split" in out
    assert "validation set (selects the model): " in out and "-val" in out
    assert "test set (confirms the choice): " in out
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert warnings[-1].startswith("warning: the test set holds 4 patients, fewer than 10")
    assert "spatial dims: 2D (from the data: " in out
    assert warnings and all("test patient" in w and "import more patients of site" in w
                            for w in warnings[:-1])
    report = json.loads(run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", ws,
                                "--task", "knee", "--json").stdout)
    assert [w["message"] for w in report["warnings"]] == [w.removeprefix("warning: ")
                                                          for w in warnings]
    site = next(iter(report["counts"]))
    patients, cases = report["patients"][site], report["counts"][site]
    row = next(line for line in out.splitlines() if line.startswith(f"│ {site}"))
    assert f"{patients.get('train', 0)} ({cases.get('train', 0)})" in row


def test_check_reports_every_problem_and_exits_1(run_cli, tiny_phantom, tmp_path):
    rows = list(csv.DictReader((tiny_phantom / "manifest.csv").open()))
    bad = tmp_path / "bad"
    shutil.copytree(tiny_phantom, bad)
    (bad / rows[0]["image"]).write_bytes(b"not a nifti")  # unreadable image
    rows[1]["label"] = "labels/missing.nii.gz"  # missing file
    rows[2]["case_id"] = rows[3]["case_id"]  # duplicate id
    with (bad / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_cli("data", "check", bad / "manifest.csv", "--classes", ",".join(KNEE), "--json")
    assert result.code == 1
    problems = json.loads(result.stdout)["problems"]
    text = json.dumps(problems)
    assert rows[0]["case_id"] in text and "missing.nii.gz" in text and rows[3]["case_id"] in text
    assert len(problems) >= 3
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_failed_import_leaves_store_unchanged(run_cli, tiny_phantom, tmp_path):
    ws = tmp_path / "ws"
    good = run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", ws,
                   "--task", "knee", "--classes", ",".join(KNEE))
    assert good.code == 0, good.stderr
    before = _db_rows(ws / "medselect.db")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_phantom, broken)
    rows = list(csv.DictReader((broken / "manifest.csv").open()))
    (broken / rows[-1]["label"]).write_bytes(b"\x1f\x8b truncated")
    extra = dict(rows[-1], case_id="new-case", patient_id="new-patient")
    with (broken / "manifest.csv").open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(rows[0])).writerow(extra)
    result = run_cli("data", "import", broken / "manifest.csv", "-w", ws, "--task", "knee")
    assert result.code == 1 and rows[-1]["label"].split("/")[-1] in result.stderr
    assert _db_rows(ws / "medselect.db") == before


def test_new_segmentation_task_needs_classes(run_cli, tiny_phantom, tmp_path):
    result = run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", tmp_path / "ws")
    assert result.code == 1 and "--classes" in result.stderr


def test_label_outside_classes_is_refused_naming_case_and_file(run_cli, tiny_phantom, tmp_path):
    ws = tmp_path / "ws"
    result = run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", ws,
                     "--task", "knee", "--classes", "background,femur")
    assert result.code == 1
    assert "label values" in result.stderr and ".nii.gz" in result.stderr
    assert "case '" in result.stderr


def test_nan_image_refused(run_cli, tiny_phantom, tmp_path):
    import nibabel as nib

    bad = tmp_path / "nan"
    shutil.copytree(tiny_phantom, bad)
    first = next(csv.DictReader((bad / "manifest.csv").open()))
    img = nib.load(bad / first["image"])
    data = np.asarray(img.dataobj, dtype=np.float32).copy()
    data[3, 3] = np.nan
    nib.save(nib.Nifti1Image(data, img.affine), bad / first["image"])
    result = run_cli("data", "check", bad / "manifest.csv", "--classes", ",".join(KNEE))
    assert result.code == 1 and first["case_id"] in result.stdout


def test_usage_error_exits_2(run_cli):
    assert run_cli("data", "import").code == 2


def _db_rows(path):
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("dataset_version", '"case"', "case_set", "task")}
    finally:
        con.close()


def test_import_holds_sites_out_of_training_and_names_the_flag_of_a_bad_split(run_cli, tiny_phantom,
                                                                            tmp_path):
    args = ("data", "import", tiny_phantom / "manifest.csv", "-w", tmp_path / "ws", "--task",
            "knee", "--classes", ",".join(KNEE))
    both = run_cli(*args, "--held-out-sites", "site-c", "--split", "train=0.8,test=0.2")
    assert both.code == 1 and both.stderr.startswith(
        "error: --held-out-sites: a held-out site's patients go to val and test")
    unsummed = run_cli(*args, "--split", "train=0.5,test=0.2")  # was a pydantic traceback
    assert unsummed.code == 1 and unsummed.stderr.startswith("error: --split: ")
    assert "must sum to 1" in unsummed.stderr and "Traceback" not in unsummed.stderr
    assert not (tmp_path / "ws" / "data").exists() or not any((tmp_path / "ws" / "data").iterdir())
    unknown = run_cli("data", "check", *args[2:], "--held-out-sites", "nowhere")
    assert unknown.code == 1 and "no case is of site(s) ['nowhere']" in unknown.stderr
    result = run_cli(*args, "--held-out-sites", "site-c", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert "train" not in report["patients"]["site-c"]
    assert report["patients"]["site-c"]["val"] >= 2 and report["patients"]["site-c"]["test"] >= 2
    assert all(p.get("train") for site, p in report["patients"].items() if site != "site-c")


def test_library_errors_name_parameters_and_the_cli_shows_flags(run_cli, tiny_phantom, tmp_path):
    from medselect.errors import ConfigError

    error = ConfigError("must be at least 1, got 0", param="top")
    assert str(error) == "top: must be at least 1, got 0"  # what a notebook user reads
    assert error.for_flags() == "--top: must be at least 1, got 0"
    advice = ConfigError("no site given: pass `site=` or `case_info=` FILE.csv", param="case_ids")
    assert str(advice) == "case_ids: no site given: pass `site=` or `case_info=` FILE.csv"
    assert advice.for_flags() == "--case-ids: no site given: pass --site or --case-info FILE.csv"
    result = run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", tmp_path / "ws")
    assert result.stderr.startswith("error: --classes: task 'manifest' is new")
