"""Real datasets as users hold them: nnU-Net 2D/3D, Decathlon datalists, PNG, patients, sites,
and ``data check`` agreeing with ``data import`` on every bad input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

CLASSES = "background,tumour"
SITES = {"p1": "lyon", "p2": "lyon", "p3": "lyon", "p4": "oslo", "p5": "oslo", "p6": "oslo",
         "p7": "rome", "p8": "rome", "p9": "rome"}


def _slice(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    image = rng.normal(size=shape).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    label[4:9, 5:10, ...] = 1
    return image + 3 * label, label


def nnunet_2d(root: Path, *, slices: int = 3, ending: str = ".nii.gz") -> Path:
    """An nnU-Net raw folder of 2D slices stored as nnU-Net does: (x, y, 1) NIfTI (or PNG),
    case ids ``<patient>_z<slice>``."""
    rng = np.random.default_rng(0)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    n = 0
    for patient in SITES:
        for z in range(slices):
            image, label = _slice(rng, (16, 16, 1))
            case = f"{patient}_z{z:03d}"
            if ending == ".png":
                PILImage.fromarray(np.clip(image[..., 0] * 20 + 100, 0, 255).astype(np.uint8)
                                   ).save(root / "imagesTr" / f"{case}_0000.png")
                PILImage.fromarray(label[..., 0]).save(root / "labelsTr" / f"{case}.png")
            else:
                nib.save(nib.Nifti1Image(image, np.eye(4)),
                         root / "imagesTr" / f"{case}_0000{ending}")
                nib.save(nib.Nifti1Image(label, np.eye(4)), root / "labelsTr" / f"{case}{ending}")
            n += 1
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "MR"}, "labels": {"background": 0, "tumour": 1},
        "numTraining": n, "file_ending": ending, "name": root.name}))
    return root


def case_info(path: Path) -> Path:
    path.write_text("case_id,patient_id,site,scanner\n" + "".join(
        f"{p}_z{z:03d},{p},{site},GE\n" for p, site in SITES.items() for z in range(3)))
    return path


PATIENTS = r"(?P<patient>p\d+)_z\d+"


def test_nnunet_2d_slices_import_patient_level_with_sites(run_cli, tmp_path):
    folder = nnunet_2d(tmp_path / "Dataset001_Tumour")
    result = run_cli("data", "import", folder, "-w", tmp_path / "ws", "--classes", CLASSES,
                     "--patients", PATIENTS, "--case-info", case_info(tmp_path / "info.csv"),
                     "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_cases"] == 27
    assert set(report["patients"]) == {"lyon", "oslo", "rome"}
    for site, splits in report["patients"].items():
        assert splits.get("train", 0) >= 1 and splits.get("test", 0) >= 1, site
        assert sum(splits.values()) == 3  # patients, not slices
        assert sum(report["counts"][site].values()) == 9
    assert "spatial dims: 2D (from the data: p1_z000_0000.nii.gz is 2D" in report["notes"][0]
    assert not [w for w in report["warnings"] if w["problem"] == "slice_like_ids"]
    listed = json.loads(run_cli("cases", "list", "-w", tmp_path / "ws", "--json").stdout)
    rows = listed["cases"] if isinstance(listed, dict) else listed
    p4 = next(row for row in rows if row["case_id"] == "p4_z002")
    assert (p4["patient_id"], p4["site"], p4["scanner"]) == ("p4", "oslo", "GE")


def test_slices_without_a_patient_mapping_are_warned_loudly(run_cli, tmp_path):
    folder = nnunet_2d(tmp_path / "Dataset002_Tumour")
    result = run_cli("data", "import", folder, "-w", tmp_path / "ws", "--classes", CLASSES)
    assert result.code == 0, result.stderr
    warning = next(line for line in result.stdout.splitlines()
                   if "look like slices or visits" in line)
    assert warning.startswith("warning: 27 case ids look like slices or visits of 9 patients")
    assert "--patients '(?P<patient>.+)_z[_-]?\\d+'" in warning and "--case-info" in warning


def test_nnunet_2d_png_with_file_ending(run_cli, tmp_path):
    folder = nnunet_2d(tmp_path / "Dataset003_Png", ending=".png")
    result = run_cli("data", "import", folder, "-w", tmp_path / "ws", "--classes", CLASSES,
                     "--patients", PATIENTS, "--site", "lyon", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_cases"] == 27 and set(report["patients"]) == {"lyon"}


def test_3d_dims_come_from_the_data_and_the_option_overrides(run_cli, tmp_path):
    root = tmp_path / "Dataset004_3d"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        image, label = _slice(rng, (12, 12, 4))
        nib.save(nib.Nifti1Image(image, np.eye(4)), root / "imagesTr" / f"c{i}_0000.nii.gz")
        nib.save(nib.Nifti1Image(label, np.eye(4)), root / "labelsTr" / f"c{i}.nii.gz")
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "CT"}, "labels": {"background": 0, "tumour": 1},
        "numTraining": 6, "file_ending": ".nii.gz"}))
    ok = run_cli("data", "import", root, "-w", tmp_path / "ws", "--json")
    assert ok.code == 0, ok.stderr
    assert json.loads(ok.stdout)["notes"][0].startswith("spatial dims: 3D (from the data")
    forced = run_cli("data", "check", root, "-w", tmp_path / "other", "--spatial-dims", "2",
                     "--task", "t2d", "--json")
    assert forced.code == 1
    problems = json.loads(forced.stdout)["problems"]
    assert len(problems) == 6 and "the task is 2D" in problems[0]["message"]
    assert "check the task's spatial dims" in problems[0]["message"]


def datalist(root: Path) -> Path:
    """A Decathlon-style folder: labels by value, training pairs, unlabelled test images."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    (root / "imagesTs").mkdir()
    rng = np.random.default_rng(2)
    training = []
    for i in range(8):
        image, label = _slice(rng, (12, 12, 3))
        nib.save(nib.Nifti1Image(image, np.eye(4)), root / "imagesTr" / f"la_{i:03d}.nii.gz")
        nib.save(nib.Nifti1Image(label, np.eye(4)), root / "labelsTr" / f"la_{i:03d}.nii.gz")
        training.append({"image": f"./imagesTr/la_{i:03d}.nii.gz",
                         "label": f"./labelsTr/la_{i:03d}.nii.gz"})
    shutil.copy(root / "imagesTr" / "la_000.nii.gz", root / "imagesTs" / "la_100.nii.gz")
    (root / "dataset.json").write_text(json.dumps({
        "name": "Heart", "tensorImageSize": "3D", "modality": {"0": "MRI"},
        "labels": {"0": "background", "1": "left atrium"}, "numTraining": 8, "numTest": 1,
        "training": training, "test": ["./imagesTs/la_100.nii.gz"]}))
    return root


def test_decathlon_datalist_imports_with_its_classes_and_dims(run_cli, tmp_path):
    from monai.data import load_decathlon_datalist

    from medselect.data.sources import read_source

    folder = datalist(tmp_path / "Task02_Heart")
    source = read_source(folder)
    assert source.kind == "datalist" and source.classes == ["background", "left_atrium"]
    monai_items = load_decathlon_datalist(folder / "dataset.json")
    assert [(r.images[0], r.label) for r in source.records] == [
        (str(Path(item["image"])), str(Path(item["label"]))) for item in monai_items]
    result = run_cli("data", "import", folder, "-w", tmp_path / "ws", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_cases"] == 8
    assert report["notes"][0].startswith("1 unlabelled test case left out")
    assert report["notes"][1] == ("spatial dims: 3D (from the source's dataset.json; "
                                  "give spatial dims to override)")


def test_split_fractions_and_seed_on_the_command_line(run_cli, tmp_path):
    folder = nnunet_2d(tmp_path / "Dataset005_Tumour")
    args = ("data", "check", folder, "--classes", CLASSES, "--patients", PATIENTS,
            "--split", "train=0.5,test=0.5", "--json")
    report = json.loads(run_cli(*args).stdout)
    totals = {split: sum(s["patients"][split] for s in report["sites"].values())
              for split in ("train", "val", "test")}
    assert totals["val"] == 0 and totals["train"] + totals["test"] == 9
    assert json.loads(run_cli(*args).stdout) == report  # deterministic
    cases = {}
    for seed in range(4):
        checked = run_cli(*args[:-1], "--seed", seed, "--json")
        cases[seed] = json.loads(checked.stdout)["splits"]
    assert len({json.dumps(c, sort_keys=True) for c in cases.values()}) > 1
    bad = run_cli("data", "check", folder, "--classes", CLASSES, "--split", "train=0.5,test=0.4")
    assert bad.code == 1 and bad.stderr.startswith("error: --split: train 0.5 + val 0 + test 0.4")
    assert "must sum to 1" in bad.stderr


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Each bad input beside the extra options it is imported with."""
    base = nnunet_2d(tmp_path / "base")
    cases: dict[str, tuple[Path, tuple[str, ...]]] = {}

    def variant(name: str) -> Path:
        return Path(shutil.copytree(base, tmp_path / name))

    folder = variant("truncated")
    (folder / "imagesTr" / "p1_z000_0000.nii.gz").write_bytes(b"\x1f\x8b garbage")
    cases["truncated image"] = (folder, ())
    folder = variant("bomb")
    header = nib.Nifti1Header()
    header.set_data_shape((32767, 32767, 32767))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    (folder / "imagesTr" / "p2_z001_0000.nii.gz").write_bytes(
        gzip.compress(header.binaryblock + b"\0" * 68))
    cases["header claiming 32767^3 voxels"] = (folder, ())
    folder = variant("labels")
    nib.save(nib.Nifti1Image(np.full((16, 16, 1), 7, np.uint8), np.eye(4)),
             folder / "labelsTr" / "p3_z002.nii.gz")
    cases["label outside the classes"] = (folder, ())
    folder = variant("missing")
    (folder / "labelsTr" / "p4_z000.nii.gz").unlink()
    cases["missing label"] = (folder, ())
    folder = variant("shape")
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 1), np.uint8), np.eye(4)),
             folder / "labelsTr" / "p5_z000.nii.gz")
    cases["label on another grid"] = (folder, ())
    cases["pattern not matching"] = (base, ("--patients", r"(?P<patient>q\d+)_z\d+"))
    return cases


def test_check_and_import_agree_on_every_bad_input_and_list_every_problem(run_cli, tmp_path):
    for what, (folder, extra) in _bad_inputs(tmp_path).items():
        common = (folder, "--classes", CLASSES, *extra, "--json")
        checked = run_cli("data", "check", *common)
        imported = run_cli("data", "import", *common, "-w", tmp_path / f"ws-{folder.name}")
        assert checked.code == imported.code == 1, what
        assert json.loads(checked.stdout) == json.loads(imported.stdout), what
        assert not (tmp_path / f"ws-{folder.name}" / "data").exists(), what
    plain = run_cli("data", "import", tmp_path / "labels", "--classes", CLASSES,
                    "-w", tmp_path / "ws-plain")
    assert plain.code == 1 and "(and" not in plain.stderr
    assert "label values 7 are outside 0..1" in plain.stderr


def test_a_huge_header_is_a_problem_naming_the_file(run_cli, tmp_path):
    folder, _ = _bad_inputs(tmp_path)["header claiming 32767^3 voxels"]
    result = run_cli("data", "check", folder, "--classes", CLASSES, "--json")
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["file"].endswith("p2_z001_0000.nii.gz")
    assert "declares shape (32767, 32767, 32767)" in problem["message"]


def test_a_manifest_import_lists_every_problem(run_cli, tiny_phantom, tmp_path):
    import csv

    bad = Path(shutil.copytree(tiny_phantom, tmp_path / "bad"))
    rows = list(csv.DictReader((bad / "manifest.csv").open()))
    rows[0]["label"] = "labels/missing.nii.gz"
    rows[1]["site"] = ""
    with (bad / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_cli("data", "import", bad / "manifest.csv", "-w", tmp_path / "ws",
                     "--classes", "background,femur,tibia,patella,femoral_cartilage,"
                                  "tibial_cartilage")
    assert result.code == 1 and "(and 1 more)" not in result.stderr
    assert "missing.nii.gz" in result.stderr and "'site' is empty" in result.stderr


@pytest.mark.parametrize("flag", ["--patients", "--case-info"])
def test_bad_mapping_options_are_clear(run_cli, tmp_path, flag):
    folder = nnunet_2d(tmp_path / "Dataset006_Tumour")
    value = "(.+)_z" if flag == "--patients" else tmp_path / "none.csv"
    result = run_cli("data", "check", folder, "--classes", CLASSES, flag, value)
    assert result.code == 1 and "Traceback" not in result.stderr
    assert ("no named group 'patient'" if flag == "--patients" else "does not exist") \
        in result.stderr


def test_unlabelled_nnunet_test_cases_are_left_out_of_an_import_and_said(run_cli, tmp_path):
    folder = nnunet_2d(tmp_path / "Dataset007_Tumour")
    (folder / "imagesTs").mkdir()
    shutil.copy(folder / "imagesTr" / "p1_z000_0000.nii.gz", folder / "imagesTs" / "q_0000.nii.gz")
    result = run_cli("data", "import", folder, "-w", tmp_path / "ws", "--classes", CLASSES,
                     "--patients", r"(?P<patient>\w+?)(_z\d+)?", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_cases"] == 27
    assert report["notes"][0].startswith("1 unlabelled test case left out")
