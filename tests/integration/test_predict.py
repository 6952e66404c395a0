"""`medselect predict` on new cases: each case by its site's champion (else the global one,
said per case), files in the input's geometry and format, and predictions.json tracing every
prediction to the registry version and gate decision behind it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from medselect.data.image import Image
from medselect.data.loading import load_case
from medselect.data.phantom import synth_knee_dataset
from medselect.data.readers import read_image
from medselect.data.writers import write_image
from medselect.evaluate import TrainedPredictor, load_task
from medselect.store import get_run, list_audit_events
from medselect.testing.dicom import write_dicom_series

pytestmark = pytest.mark.slow

TURN = math.radians(30)
ROTATED = (math.cos(TURN), -math.sin(TURN), math.sin(TURN), math.cos(TURN))


@pytest.fixture(scope="module")
def new_cases(tmp_path_factory):
    """An nnU-Net imagesTs/ of three cases in odd geometry (a1 of site-a: spacing, origin and
    direction of its own; b1 of site-b: 24x40, not the training size; x1: no site) and a
    folder of two PNGs (a2 of site-a, b2 of site-b), each with its case-info table."""
    root = tmp_path_factory.mktemp("new-cases")
    phantom = {r.site: r for r in synth_knee_dataset(root / "phantom", cases_per_site=1,
                                                     size=32, seed=7)}
    a, b = (read_image(phantom[s].images[0]).array for s in ("site-a", "site-b"))
    images = root / "imagesTs"
    write_image(Image(a, spacing=(0.7, 0.9), origin=(10.0, -5.0), direction=ROTATED),
                images / "a1_0000.nii.gz")
    write_image(Image(np.pad(b[4:28], ((0, 0), (4, 4))), spacing=(0.5, 0.5), origin=(1.0, 2.0)),
                images / "b1_0000.nii.gz")
    write_image(Image(b[::-1].copy(), spacing=(1.0, 1.0)), images / "x1_0000.nii.gz")
    info = root / "case_info.csv"
    info.write_text("case_id,site\na1,site-a\nb1,site-b\nx1,\n")
    pngs = root / "pngs"
    for name, array in (("a2", a), ("b2", b)):
        write_image(Image(np.round(255 * array / array.max()), spacing=(0.8, 0.8)),
                    pngs / f"{name}.png")
    png_info = root / "png_info.csv"
    png_info.write_text("case_id,site\na2,site-a\nb2,site-b\n")
    return {"images": images, "pngs": pngs, "info": info, "png_info": png_info}


def _predictions(folder):
    return {c["case_id"]: c for c in json.loads((folder / "predictions.json").read_text())["cases"]}


def _expected(ws, run_id, files):
    """What medselect's own inference of ``run_id`` predicts for the images in ``files``."""
    with ws.connect() as conn:
        run = get_run(conn, run_id)
    predictor = TrainedPredictor(ws, run, load_task(ws), device="cpu")
    predictor.load()
    cases = [load_case({"case_id": f.name, "image_uris": [str(f)]}, lambda u: u) for f in files]
    return dict(zip([f.name for f in files], predictor.predict(cases, {}), strict=True))


def test_each_case_goes_to_its_sites_champion_in_its_own_geometry(
        run_cli, champions, champions_ws, new_cases, tmp_path):
    out = tmp_path / "out"
    done = run_cli("predict", new_cases["images"], "--out", out, "-w", champions.ws,
                   "--case-info", new_cases["info"], "--device", "cpu")
    assert done.code == 0, done.stderr
    assert "site:site-b" in done.stdout and "site 'site-a' has no champion" in done.stdout
    cases = _predictions(out)
    assert sorted(cases) == ["a1", "b1", "x1"]
    routed = {c: (cases[c]["site"], cases[c]["scope"], cases[c]["model_ref"]) for c in cases}
    assert routed == {"a1": ("site-a", "global", champions.weak),
                      "b1": ("site-b", "site:site-b", champions.strong),
                      "x1": ("default", "global", champions.weak)}
    assert cases["b1"]["fallback"] is None
    assert cases["a1"]["fallback"] == ("site 'site-a' has no champion of its own, so the "
                                       "global champion predicted it")
    assert cases["x1"]["fallback"].startswith("the case names no site")

    with champions_ws.connect() as conn:
        promoted = {e["payload"]["scope"]: e["payload"]
                    for e in list_audit_events(conn, action="promote")}
    for case in cases.values():
        assert case["status"] == "ok" and case["file"] == f"{case['case_id']}.nii.gz"
        assert case["version"] == promoted[case["scope"]]["version"] == 1
        assert case["evidence"]["decision_sha256"] == promoted[case["scope"]]["evidence_sha256"]
        assert case["evidence"]["decision_report"].endswith(
            f"knee-{case['scope'].replace(':', '-')}-v1.html")
        source = read_image(new_cases["images"] / f"{case['case_id']}_0000.nii.gz")
        saved = read_image(out / case["file"], kind="label")
        assert saved.shape == source.shape  # geometry as NIfTI's float32 header holds it
        for field in ("spacing", "origin", "direction"):
            assert getattr(saved, field) == pytest.approx(getattr(source, field), abs=1e-6)

    for model in (champions.weak, champions.strong):  # what the routed champion itself says
        ours = [c for c in cases if cases[c]["model_ref"] == model]
        expected = _expected(champions_ws, model,
                             [new_cases["images"] / f"{c}_0000.nii.gz" for c in ours])
        for c in ours:
            np.testing.assert_array_equal(read_image(out / f"{c}.nii.gz", kind="label").array,
                                          expected[f"{c}_0000.nii.gz"])


def test_png_cases_give_png_predictions_and_a_fixed_scope_answers_all(
        run_cli, champions, new_cases, tmp_path):
    out = tmp_path / "png"
    done = run_cli("predict", new_cases["pngs"], "--out", out, "-w", champions.ws,
                   "--scope", "global", "--case-info", new_cases["png_info"], "--json")
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(m["scope"], m["n_cases"]) for m in report["models"]] == [("global", 2)]
    cases = _predictions(out)
    assert {c["file"] for c in cases.values()} == {"a2.png", "b2.png"}
    assert all(c["fallback"] is None for c in cases.values())
    for name in ("a2", "b2"):
        saved, source = (read_image(new_cases["pngs"] / f"{name}.png"),
                         read_image(out / f"{name}.png", kind="label"))
        assert (saved.shape, saved.spacing) == (source.shape, source.spacing)


def test_a_scope_without_champion_or_a_bad_case_is_said(run_cli, champions, new_cases, tmp_path):
    refused = run_cli("predict", new_cases["images"], "--out", tmp_path / "a", "-w",
                      champions.ws, "--scope", "site:site-a")
    assert refused.code == 1
    assert ("error: task 'knee' has no champion in scope 'site:site-a'; promote one with "
            "`medselect promote RUN --scope site:site-a`") in refused.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "c1.nii.gz").write_bytes(b"not a nifti")
    write_image(Image(np.zeros((32, 32, 4), np.float32), spacing=(1.0, 1.0, 1.0)),
                broken / "c2.nii.gz")
    failed = run_cli("predict", broken, "--out", tmp_path / "b", "-w", champions.ws)
    assert failed.code == 1 and "2 of 2 case(s) have no prediction" in failed.stderr
    cases = _predictions(tmp_path / "b")
    assert [cases[c]["status"] for c in ("c1", "c2")] == ["error", "error"]
    assert "c1.nii.gz" in cases["c1"]["error"] and "is 3D" in cases["c2"]["error"]


def test_dicom_series_cases_give_a_dicom_seg_of_each_series(run_cli, champions, champions_ws,
                                                           new_cases, tmp_path):
    import highdicom as hd

    series = tmp_path / "dicom"  # one folder of slices per case, as a PACS export gives
    uids = {}
    for name, site in (("a3", "site-a"), ("b3", "site-b")):
        array = read_image(new_cases["images"] / f"{name[0]}1_0000.nii.gz").array
        uids[name] = write_dicom_series(series / name, np.round(1000 * array / array.max()),
                                        patient=f"{site}-{name}")
    info = tmp_path / "dicom_info.csv"
    info.write_text("case_id,site\na3,site-a\nb3,site-b\n")
    done = run_cli("predict", series, "--out", tmp_path / "seg", "-w", champions.ws,
                   "--case-info", info)
    assert done.code == 0, done.stderr
    nifti = run_cli("predict", series, "--out", tmp_path / "nifti", "-w", champions.ws,
                    "--case-info", info, "--seg-format", "nifti")
    assert nifti.code == 0, nifti.stderr
    cases = _predictions(tmp_path / "seg")
    assert {c: cases[c]["file"] for c in cases} == {"a3": "a3.dcm", "b3": "b3.dcm"}
    classes = load_task(champions_ws).classes
    for name, case in cases.items():
        seg = hd.seg.segread(tmp_path / "seg" / case["file"])
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uids[name]
        assert [seg.get_segment_description(n).segment_label
                for n in seg.get_segment_numbers()] == list(classes[1:])
        algorithm = seg.get_segment_description(1).algorithm_identification[0]
        assert algorithm.AlgorithmName == case["model_ref"]
        assert algorithm.AlgorithmVersion == f"{case['scope']} v{case['version']}"
        source = [s.ReferencedSOPInstanceUID
                  for s in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
        frame = seg.get_pixels_by_source_instance(source, combine_segments=True,
                                                  skip_overlap_checks=True)[0]
        expected = read_image(tmp_path / "nifti" / f"{name}.nii.gz", kind="label").array
        np.testing.assert_array_equal(frame, expected.T)  # rows are y, columns x
    assert cases["b3"]["scope"] == "site:site-b" and cases["a3"]["scope"] == "global"
