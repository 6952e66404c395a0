"""The knee phantom: determinism, anatomy, landmarks, site character and the written dataset."""

import csv
import dataclasses
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from medselect.data.phantom import (
    KNEE_CLASSES,
    KNEE_LANDMARKS,
    THIN_CARTILAGE_MM,
    generate_case,
    sample_anatomy,
    synth_knee_dataset,
)
from medselect.data.phantom_sites import (
    DEFAULT_SITES,
    MRSequence,
    SiteProfile,
    Tissue,
    render_site_image,
)
from medselect.errors import DataError

SITE_A, SITE_D, SITE_E = DEFAULT_SITES[0], DEFAULT_SITES[3], DEFAULT_SITES[4]
PD_FS_SITES = [s for s in DEFAULT_SITES if s.sequence == MRSequence.PD_FS]


def _near(label: np.ndarray, point, cls: int, radius: float = 1.5) -> bool:
    """Whether a voxel of class ``cls`` lies within ``radius`` voxels of ``point``."""
    coords = np.argwhere(label == cls)
    return bool(np.min(np.linalg.norm(coords - np.asarray(point), axis=1)) <= radius)


def test_same_seed_gives_identical_case_and_another_seed_does_not():
    first, again = generate_case(5, SITE_A, 64), generate_case(5, SITE_A, 64)
    np.testing.assert_array_equal(first.image.array, again.image.array)
    np.testing.assert_array_equal(first.label.array, again.label.array)
    assert first.landmarks == again.landmarks
    other = generate_case(6, SITE_A, 64)
    assert not np.array_equal(first.image.array, other.image.array)
    assert not np.array_equal(first.label.array, other.label.array)


def test_a_generator_and_its_seed_give_the_same_case():
    from_seed = generate_case(11, SITE_A, 32)
    from_rng = generate_case(np.random.default_rng(11), SITE_A, 32)
    np.testing.assert_array_equal(from_seed.image.array, from_rng.image.array)


def test_case_types_shapes_and_spacing():
    case = generate_case(0, SITE_D, 64)
    assert case.image.array.dtype == np.float32 and case.label.array.dtype == np.uint8
    assert case.image.shape == case.label.shape == (64, 64)
    assert case.image.spacing == case.label.spacing == (SITE_D.fov_mm / 64,) * 2
    assert set(case.landmarks) == set(KNEE_LANDMARKS)
    assert case.site == "site-d"


@pytest.mark.parametrize("size", [32, 128])
@pytest.mark.parametrize("site", DEFAULT_SITES, ids=lambda s: s.name)
def test_every_class_is_present(site, size):
    for seed in range(8):
        counts = np.bincount(generate_case(seed, site, size).label.array.ravel(),
                             minlength=len(KNEE_CLASSES))
        assert len(counts) == len(KNEE_CLASSES) and (counts > 0).all(), (seed, counts)


def test_small_3d_volume_is_a_stack_of_thick_slices_with_every_class_and_3d_landmarks():
    case = generate_case(2, SITE_A, 32, spatial_dims=3)
    pixel = SITE_A.fov_mm / 32  # 3.75 mm; slices are twice as thick over the same 120 mm
    assert case.label.shape == case.image.shape == (32, 32, 16)
    assert case.image.spacing == case.label.spacing == (pixel, pixel, 2 * pixel)
    assert (np.bincount(case.label.array.ravel(), minlength=6) > 0).all()
    assert all(len(p) == 3 and p[2] == 7.5 for p in case.landmarks.values())


@pytest.mark.parametrize("site", DEFAULT_SITES, ids=lambda s: s.name)
def test_landmarks_lie_inside_the_image_on_their_structures(site):
    size = 96
    for seed in range(10):
        case = generate_case(seed, site, size)
        label = case.label.array
        for name, point in case.landmarks.items():
            assert all(0 <= c <= size - 1 for c in point), (seed, name, point)
        centre = tuple(round(c) for c in case.landmarks["patella_centre"])
        assert label[centre] == KNEE_CLASSES.index("patella"), seed
        assert _near(label, case.landmarks["patella_apex"], 3), seed
        assert _near(label, case.landmarks["femoral_condyle_distal"], 1), seed
        assert _near(label, case.landmarks["tibial_plateau_centre"], 2), seed
        # The femur's distal point faces the tibia: it is closer to the plateau than the patella is.
        lm = {k: np.asarray(v) for k, v in case.landmarks.items()}
        assert (np.linalg.norm(lm["femoral_condyle_distal"] - lm["tibial_plateau_centre"])
                < np.linalg.norm(lm["patella_centre"] - lm["tibial_plateau_centre"]))


def test_target_follows_the_drawn_cartilage_thickness():
    anatomy = sample_anatomy(np.random.default_rng(3))
    thin = dataclasses.replace(anatomy, femoral_cartilage_mm=THIN_CARTILAGE_MM - 0.6)
    thick = dataclasses.replace(anatomy, femoral_cartilage_mm=THIN_CARTILAGE_MM + 1.0)
    cases = [generate_case(4, SITE_A, 128, anatomy=a) for a in (thin, thick)]
    assert [c.target for c in cases] == [1, 0]
    thin_px, thick_px = (int((c.label.array == 4).sum()) for c in cases)
    assert thick_px > 1.5 * thin_px


def _noise_and_contrast(site: SiteProfile) -> tuple[float, float]:
    """Median high-pass residual in soft tissue, and cartilage / femoral marrow intensity."""
    noise, contrast = [], []
    for seed in range(4):
        case = generate_case(seed, site, 128)
        image, label = case.image.array.astype(float), case.label.array
        residual = image - ndimage.uniform_filter(image, 3)
        noise.append(np.median(np.abs(residual[ndimage.binary_erosion(label == 0, iterations=3)])))
        marrow = ndimage.binary_erosion(label == 1, iterations=3)
        contrast.append(np.median(image[label == 4]) / np.median(image[marrow]))
    return float(np.mean(noise)), float(np.mean(contrast))


def test_sites_differ_measurably_and_site_d_is_hardest():
    measured = {site.name: _noise_and_contrast(site) for site in PD_FS_SITES}
    noise_a, contrast_a = measured["site-a"]
    noise_d, contrast_d = measured["site-d"]
    assert noise_d > 2 * noise_a
    assert contrast_a > contrast_d + 1.0
    assert max(measured, key=lambda s: measured[s][0]) == "site-d"
    assert min(measured, key=lambda s: measured[s][1]) == "site-d"


def _tissue_medians(site: SiteProfile) -> dict[Tissue, float]:
    """Median intensity of each tissue on a map of five bands, one per tissue."""
    tissues = np.repeat(np.arange(len(Tissue)), 24)[:, None] * np.ones((1, 48), dtype=np.intp)
    image = render_site_image(tissues, site, (1.0, 1.0), np.random.default_rng(0))
    return {t: float(np.median(image[tissues == t])) for t in Tissue}


def test_t1_site_reverses_the_order_of_brightness_of_fluid_cartilage_and_marrow():
    pd_fs, t1 = _tissue_medians(SITE_A), _tissue_medians(SITE_E)
    assert SITE_E.sequence == MRSequence.T1 and SITE_A.sequence == MRSequence.PD_FS
    f, c, m = Tissue.FLUID, Tissue.CARTILAGE, Tissue.MARROW
    assert pd_fs[f] > pd_fs[c] > pd_fs[m]
    assert t1[f] < t1[c] < t1[m]
    # cortical bone has no signal on either sequence
    assert min(pd_fs, key=pd_fs.get) == min(t1, key=t1.get) == Tissue.CORTEX


def test_t1_site_shows_cartilage_darker_than_marrow_on_a_knee():
    """The same patient at site-a and site-e: the anatomy is the same, the contrast reversed."""
    a, e = generate_case(3, SITE_A, 96), generate_case(3, SITE_E, 96)
    ratios = []
    for case in (a, e):
        image, label = case.image.array, case.label.array
        marrow = ndimage.binary_erosion(label == 1, iterations=3)
        ratios.append(np.median(image[label == 4]) / np.median(image[marrow]))
    assert a.anatomy == e.anatomy
    assert ratios[0] > 2.0 and ratios[1] < 0.7


def test_new_patients_numbered_after_a_dataset_are_not_its_patients(tmp_path):
    kwargs = {"cases_per_site": 3, "sites": DEFAULT_SITES[4:], "size": 32}
    dataset = synth_knee_dataset(tmp_path / "d", **kwargs)
    new = synth_knee_dataset(tmp_path / "n", first_patient=1000, **kwargs)
    assert new[0].case_id == "site-e-p1000-v1" and new[0].site == "site-e"
    assert not {r.patient_id for r in new} & {r.patient_id for r in dataset}
    assert _file_bytes(new[:1]) != _file_bytes(dataset[:1])


@pytest.mark.parametrize("kwargs", [{"size": 8}, {"spatial_dims": 4}])
def test_bad_generator_arguments_are_refused(kwargs):
    with pytest.raises(DataError, match=next(iter(kwargs))):
        generate_case(0, SITE_A, **{"size": 32, **kwargs})


def test_bad_site_profile_names_the_field():
    with pytest.raises(DataError, match="fov_mm"):
        SiteProfile("site-x", fov_mm=0.0)


def test_dataset_manifest_files_and_patients(tmp_path):
    records = synth_knee_dataset(tmp_path, cases_per_site=6, sites=DEFAULT_SITES[:2], size=32)
    with (tmp_path / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["case_id", "image", "label", "site", "patient_id", "landmarks",
                             "target", "visit"]
    assert [r["case_id"] for r in rows] == [r.case_id for r in records]
    assert [r["site"] for r in rows] == ["site-a"] * 6 + ["site-b"] * 6
    for row, record in zip(rows, records, strict=True):
        assert not Path(row["image"]).is_absolute()
        assert str(tmp_path / row["image"]) == record.images[0]
        assert row["patient_id"] == record.patient_id and int(row["target"]) == record.target
        landmarks = json.loads((tmp_path / row["landmarks"]).read_text())
        assert set(landmarks) == set(KNEE_LANDMARKS)
        image = nib.load(tmp_path / row["image"])
        label = np.asarray(nib.load(tmp_path / row["label"]).dataobj)
        assert image.shape == (32, 32) and label.dtype == np.uint8
        assert image.affine[0, 0] == pytest.approx(DEFAULT_SITES[0 if row["site"] == "site-a"
                                                                 else 1].fov_mm / 32)
    per_patient = {}
    for record in records:
        per_patient.setdefault(record.patient_id, []).append(record.case_id)
    assert any(len(cases) == 2 for cases in per_patient.values())
    assert not list(tmp_path.rglob("*.tmp"))


def _file_bytes(records):
    return [Path(f).read_bytes() for r in records for f in r.files]


def test_dataset_is_byte_identical_for_a_seed(tmp_path):
    kwargs = {"cases_per_site": 3, "sites": DEFAULT_SITES[2:], "size": 32}
    first = synth_knee_dataset(tmp_path / "a", seed=1, **kwargs)
    again = synth_knee_dataset(tmp_path / "b", seed=1, **kwargs)
    other = synth_knee_dataset(tmp_path / "c", seed=2, **kwargs)
    assert _file_bytes(first) == _file_bytes(again)
    assert (tmp_path / "a/manifest.csv").read_bytes() == (tmp_path / "b/manifest.csv").read_bytes()
    assert Path(first[0].images[0]).read_bytes() != Path(other[0].images[0]).read_bytes()


def test_a_sites_cases_do_not_depend_on_the_other_sites(tmp_path):
    both = synth_knee_dataset(tmp_path / "ab", cases_per_site=3, sites=DEFAULT_SITES[:2], size=32)
    alone = synth_knee_dataset(tmp_path / "b", cases_per_site=3, sites=DEFAULT_SITES[1:2], size=32)
    assert _file_bytes([r for r in both if r.site == "site-b"]) == _file_bytes(alone)


def test_dataset_refuses_duplicate_site_names(tmp_path):
    with pytest.raises(DataError, match="uniquely named"):
        synth_knee_dataset(tmp_path, sites=[SITE_A, SITE_A])


def test_a_count_per_site_gives_a_smaller_site(tmp_path):
    records = synth_knee_dataset(tmp_path / "d", cases_per_site={"site-a": 4, "site-e": 2},
                                 sites=[SITE_A, SITE_E], size=32)
    assert [r.site for r in records] == ["site-a"] * 4 + ["site-e"] * 2
    with pytest.raises(DataError, match="give a count for each"):
        synth_knee_dataset(tmp_path / "x", cases_per_site={"site-a": 4}, sites=[SITE_A, SITE_E])
