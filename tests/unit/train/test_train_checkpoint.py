"""Checkpoints: tensors only, atomic, and a damaged file is named in the error."""

from __future__ import annotations

import pickle

import pytest
import torch

from medselect.errors import TrainingError
from medselect.train import load_checkpoint, save_checkpoint


def state(**extra):
    return {"model": {"w": torch.arange(3.0)}, "epoch": 2, "best_metric": 0.5,
            "best_epoch": 1, "fingerprint": "abc"} | extra


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "runs" / "r1" / "last.pt"
    save_checkpoint(path, state())
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["model"]["w"], torch.arange(3.0))
    assert load_checkpoint(path, fingerprint="abc")["epoch"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left


def test_a_failed_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, state())
    with pytest.raises(Exception):  # noqa: B017 - torch.save's own error type
        save_checkpoint(path, state(bad=lambda: None))
    assert load_checkpoint(path)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_truncated_file_is_a_training_error_naming_it(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, state())
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(TrainingError, match=f"checkpoint {path} cannot be read"):
        load_checkpoint(path)


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_objects_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"model": Payload()}, protocol=2))
    with pytest.raises(TrainingError, match="cannot be read"):
        load_checkpoint(path)
    assert "must never run" not in capsys.readouterr().out


def test_missing_keys_and_another_configuration_are_refused(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"model": {}}, path)
    with pytest.raises(TrainingError, match=r"not a medselect checkpoint .*epoch"):
        load_checkpoint(path)
    save_checkpoint(path, state())
    with pytest.raises(TrainingError, match="written by another run configuration"):
        load_checkpoint(path, fingerprint="other")
    with pytest.raises(TrainingError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")


def test_copies_get_the_same_checkpoint_and_a_failure_keeps_both_old_files(tmp_path):
    last, best = tmp_path / "last.pt", tmp_path / "sub" / "best.pt"
    save_checkpoint(last, state(), copies=[best])
    assert load_checkpoint(best)["epoch"] == load_checkpoint(last)["epoch"] == 2
    save_checkpoint(last, state(epoch=3))  # last moves on, best stays at epoch 2
    assert (load_checkpoint(last)["epoch"], load_checkpoint(best)["epoch"]) == (3, 2)
    with pytest.raises(Exception):  # noqa: B017 - torch.save's own error type
        save_checkpoint(last, state(epoch=4, bad=lambda: None), copies=[best])
    assert (load_checkpoint(last)["epoch"], load_checkpoint(best)["epoch"]) == (3, 2)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["best.pt", "last.pt"]
