"""Atomic artifact writes: complete file or nothing, never temp litter."""

from __future__ import annotations

import pytest

from medselect.store import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_bytes_creates_parents_and_leaves_only_the_file(tmp_path):
    target = tmp_path / "runs" / "r1" / "weights.bin"
    assert atomic_write_bytes(target, b"\x00\x01\x02") == target
    assert target.read_bytes() == b"\x00\x01\x02"
    assert [p.name for p in target.parent.iterdir()] == ["weights.bin"]


def test_write_text_replaces_an_existing_file(tmp_path):
    target = tmp_path / "notes.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "zweite Fassung: Kniegelenk ✓")
    assert target.read_text(encoding="utf-8") == "zweite Fassung: Kniegelenk ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(ValueError, match="writer failed"), atomic_path(target) as tmp:
        tmp.write_text("half of the new conte")
        raise ValueError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_failed_write_of_a_new_file_leaves_nothing(tmp_path):
    target = tmp_path / "sub" / "pred.nii.gz"
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert list((tmp_path / "sub").iterdir()) == []


def test_temp_path_is_beside_the_target_and_keeps_its_extension(tmp_path):
    target = tmp_path / "evaluations" / "overlay.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name.endswith("overlay.png") and tmp != target
        assert not target.exists()
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    assert not tmp.exists()
