"""Content hashes: files, folders, cases, dataset versions and case sets."""

import dataclasses
import hashlib
import re
import shutil
from pathlib import Path

import pytest

from medselect.data.case import CaseRecord
from medselect.data.phantom import synth_knee_dataset
from medselect.data.phantom_sites import DEFAULT_SITES
from medselect.data.versions import (
    case_digest,
    case_set_hash,
    dataset_version_id,
    file_digest,
    image_digest,
)
from medselect.errors import DataError


@pytest.fixture
def dataset(tmp_path) -> list[CaseRecord]:
    return synth_knee_dataset(tmp_path / "ds", cases_per_site=3, sites=DEFAULT_SITES[:2], size=32)


def _relocated(records: list[CaseRecord], old: Path, new: Path) -> list[CaseRecord]:
    def move(path: str | None) -> str | None:
        return path and str(new / Path(path).relative_to(old))

    return [dataclasses.replace(r, images=tuple(move(p) for p in r.images), label=move(r.label),
                                landmarks=move(r.landmarks)) for r in records]


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert file_digest(path) == hashlib.sha256(b"abc").hexdigest()
    assert file_digest(path).startswith("ba7816bf")


def test_folder_digest_covers_names_and_bytes_not_location(tmp_path):
    series = tmp_path / "series"
    (series / "sub").mkdir(parents=True)
    (series / "b.dcm").write_bytes(b"slice b")
    (series / "sub" / "a.dcm").write_bytes(b"slice a")
    digest = file_digest(series)
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(series, copy)
    assert file_digest(copy) == digest
    (copy / "b.dcm").write_bytes(b"slice B")
    assert file_digest(copy) != digest
    (copy / "b.dcm").write_bytes(b"slice b")
    (copy / "b.dcm").rename(copy / "c.dcm")
    assert file_digest(copy) != digest


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=re.escape("nope.nii.gz")):
        file_digest(tmp_path / "nope.nii.gz")


def test_version_id_format_and_order_independence(dataset):
    version = dataset_version_id(dataset)
    assert re.fullmatch(r"dv-[0-9a-f]{12}", version)
    assert dataset_version_id(dataset[::-1]) == version


def test_version_id_changes_with_one_byte_of_one_file(dataset):
    version = dataset_version_id(dataset)
    label = Path(dataset[2].label)
    data = bytearray(label.read_bytes())
    data[-1] ^= 1
    label.write_bytes(bytes(data))
    assert dataset_version_id(dataset) != version


def test_version_id_changes_with_splits_and_metadata_but_not_location(dataset, tmp_path):
    version = dataset_version_id(dataset)
    split = [dataclasses.replace(r, split="test" if i == 0 else "train")
             for i, r in enumerate(dataset)]
    assert dataset_version_id(split) != version
    moved_site = [dataclasses.replace(dataset[0], site="site-z"), *dataset[1:]]
    assert dataset_version_id(moved_site) != version
    shutil.copytree(tmp_path / "ds", tmp_path / "moved")
    assert dataset_version_id(_relocated(dataset, tmp_path / "ds", tmp_path / "moved")) == version


def test_precomputed_case_digests_are_used(dataset):
    digests = {r.case_id: case_digest(r) for r in dataset}
    assert dataset_version_id(dataset, digests) == dataset_version_id(dataset)
    gone = [dataclasses.replace(r, images=("/missing.nii.gz",)) for r in dataset]
    assert dataset_version_id(gone, digests) == dataset_version_id(dataset)


def test_duplicate_case_ids_are_refused(dataset):
    with pytest.raises(DataError, match=dataset[0].case_id):
        dataset_version_id([dataset[0], dataset[0]])


def test_case_digest_ignores_split_and_paths(dataset):
    record = dataset[0]
    assert case_digest(dataclasses.replace(record, split="val")) == case_digest(record)
    assert case_digest(dataclasses.replace(record, target=1 - record.target)) != case_digest(record)


def test_image_digest_of_one_and_several_channels(dataset):
    one = dataset[0]
    assert image_digest(one) == file_digest(one.images[0])
    two = dataclasses.replace(one, images=(one.images[0], dataset[1].images[0]))
    assert image_digest(two) not in {file_digest(p) for p in two.images}


def test_case_set_hash_is_order_independent_and_refuses_conflicts():
    pairs = [("c1", "aa"), ("c2", "bb"), ("c3", "cc")]
    value = case_set_hash(dict(pairs))
    assert re.fullmatch(r"cs-[0-9a-f]{12}", value)
    assert case_set_hash(pairs[::-1]) == value
    assert case_set_hash(pairs[:2]) != value
    with pytest.raises(DataError, match="'c1'"):
        case_set_hash([("c1", "aa"), ("c1", "ab")])


