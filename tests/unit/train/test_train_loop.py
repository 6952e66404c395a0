"""The training loop on 32x32 discs: epochs, checkpoints, resume, NaN, early stopping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from train_data import TASK, discs, tiny_config

from medselect.errors import ConfigError, DataError, TrainingError
from medselect.tasks import SegmentationPlugin, TaskInfo
from medselect.train import TrainingData, check_run, train_model

TRAIN, VAL = discs(8), discs(4, seed=1)


def train(config, plugin, out_dir, **options):
    """Train on CPU (also where CUDA is present: float32 keeps the comparisons exact)."""
    records = []
    result = train_model(config, plugin, TASK, TRAIN, VAL, out_dir=out_dir,
                         on_epoch=records.append, device="cpu", **options)
    return result, records


def test_two_epochs_record_metrics_and_write_both_checkpoints(tmp_path, plugin):
    result, records = train(tiny_config(), plugin, tmp_path)
    assert [r.epoch for r in records] == [1, 2]
    for record in records:
        row = record.metrics()
        assert set(row) == {"train_loss", "val_loss", "val_dice", "learning_rate", "epoch_time_s"}
        assert all(math.isfinite(v) for v in row.values())
        assert 0.0 <= row["val_dice"] <= 1.0 and row["learning_rate"] == 1e-2
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and best["epoch"] == result.best_epoch
    assert best["best_metric"] == max(r.val_metrics["val_dice"] for r in records)
    assert last["optimizer"]["state"]  # Adam moments are kept for resuming
    assert (result.epochs_run, result.resumed_from, result.metric) == (2, 0, "val_dice")
    assert result.best_checkpoint == tmp_path / "best.pt"
    assert result.device == "cpu" and result.n_parameters > 0 and not result.stopped_early


def test_resume_runs_only_the_missing_epochs_and_matches_an_uninterrupted_run(tmp_path, plugin):
    train(tiny_config(epochs=2), plugin, tmp_path / "split")
    resumed, records = train(tiny_config(epochs=3), plugin, tmp_path / "split")
    assert [r.epoch for r in records] == [3]
    assert (resumed.resumed_from, resumed.epochs_run) == (2, 3)
    # Epoch 3 after a resume matches epoch 3 of an uninterrupted run only if the weights,
    # the Adam moments and the epoch's shuffling seed were all restored.
    _, straight = train(tiny_config(epochs=3), plugin, tmp_path / "straight")
    for name in ("train_loss", "val_loss", "val_dice"):
        assert records[0].metrics()[name] == pytest.approx(straight[-1].metrics()[name], rel=1e-5)


def test_resume_false_starts_again(tmp_path, plugin):
    train(tiny_config(epochs=1), plugin, tmp_path)
    _, records = train(tiny_config(epochs=1), plugin, tmp_path, resume=False)
    assert [r.epoch for r in records] == [1]


def test_a_finished_run_trains_nothing_more(tmp_path, plugin):
    train(tiny_config(epochs=2), plugin, tmp_path)
    result, records = train(tiny_config(epochs=2), plugin, tmp_path)
    assert records == [] and result.epochs_run == 2 and result.best_epoch >= 1


class NaNLoss(torch.nn.Module):
    def forward(self, logits, target):
        return logits.mean() * math.nan


class NaNPlugin(SegmentationPlugin):
    def build_loss(self, name, task):
        return NaNLoss()


def test_nan_loss_is_a_training_error_naming_the_epoch(tmp_path):
    with pytest.raises(TrainingError, match=r"training loss became NaN at epoch 1 .*learning_rate"):
        train(tiny_config(), NaNPlugin(), tmp_path)
    assert not (tmp_path / "last.pt").exists()


class FlatPlugin(SegmentationPlugin):
    def validation_metrics(self, logits, target):
        return {"val_dice": 0.5}


def test_early_stopping_stops_on_a_flat_metric(tmp_path):
    result, records = train(tiny_config(epochs=10, early_stopping_patience=2), FlatPlugin(),
                            tmp_path)
    assert [r.epoch for r in records] == [1, 2, 3]
    assert result.stopped_early and result.best_epoch == 1 and result.best_metric == 0.5
    again, more = train(tiny_config(epochs=10, early_stopping_patience=2), FlatPlugin(), tmp_path)
    assert more == [] and again.stopped_early  # a resumed, stopped run stays stopped


def test_validation_loss_can_drive_early_stopping(tmp_path, plugin):
    result, records = train(tiny_config(epochs=2), plugin, tmp_path,
                            early_stopping_metric="val_loss")
    assert result.metric == "val_loss"
    assert result.best_metric == min(r.val_loss for r in records)


def test_unknown_stopping_metric_suggests_one(tmp_path, plugin):
    with pytest.raises(ConfigError, match=r"early_stopping_metric: .*did you mean 'val_dice'"):
        train(tiny_config(), plugin, tmp_path, early_stopping_metric="val_dcie")


def test_bad_configurations_fail_before_training(tmp_path, plugin):
    with pytest.raises(ConfigError, match=r"batch_size 9 is larger than the training set \(8"):
        train(tiny_config(batch_size=9), plugin, tmp_path)
    with pytest.raises(ConfigError, match="input_size"):
        train(tiny_config(input_size=(24, 24), depth=4), plugin, tmp_path)
    rgb = TrainingData([np.zeros((3, 32, 32), np.float32)], [np.zeros((32, 32))], ["rgb"])
    with pytest.raises(DataError, match="training set: case 'rgb'"):
        train_model(tiny_config(batch_size=1), plugin, TASK, rgb, VAL, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_or_foreign_last_checkpoint_is_named(tmp_path, plugin):
    train(tiny_config(epochs=1), plugin, tmp_path)
    with pytest.raises(TrainingError, match="written by another run configuration"):
        train(tiny_config(epochs=2, learning_rate=0.5), plugin, tmp_path)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match=f"checkpoint {tmp_path / 'last.pt'} cannot be read"):
        train(tiny_config(epochs=2), plugin, tmp_path)


def test_check_run_validates_without_data(plugin):
    assert check_run(tiny_config(), plugin, TASK, 8) == ("val_dice", "max")
    assert check_run(tiny_config(), plugin, TASK, 8, early_stopping_metric="val_loss").mode == "min"
    with pytest.raises(ConfigError, match=r"batch_size 4 is larger .* \(1 cases x \(1 \+ 2 off"):
        check_run(tiny_config(offline_augmentation=2), plugin, TASK, 1)
    assert check_run(tiny_config(offline_augmentation=3), plugin, TASK, 1).name == "val_dice"
    one_class = TaskInfo("segmentation", classes=("background",))
    with pytest.raises(ConfigError, match=r"task\.classes"):
        check_run(tiny_config(), plugin, one_class, 8)


def test_a_refit_without_validation_cases_keeps_its_last_epoch(tmp_path, plugin):
    none = TrainingData([], [])
    result = train_model(tiny_config(epochs=3), plugin, TASK, TRAIN, none, out_dir=tmp_path,
                         device="cpu")
    assert result.best_epoch == 3 and math.isnan(result.best_metric)
    assert torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == 3
    with pytest.raises(ConfigError, match="early_stopping_patience: a run without validation"):
        train_model(tiny_config(early_stopping_patience=2), plugin, TASK, TRAIN, none,
                    out_dir=tmp_path / "stop", device="cpu")


def test_should_stop_is_asked_after_each_checkpointed_epoch_and_prunes_the_run(tmp_path, plugin):
    asked = []

    def prune_after_two(record) -> bool:
        asked.append((record.epoch, (tmp_path / "last.pt").is_file()))
        return record.epoch == 2

    result, records = train(tiny_config(epochs=5), plugin, tmp_path, should_stop=prune_after_two)
    assert asked == [(1, True), (2, True)] and [r.epoch for r in records] == [1, 2]
    assert result.pruned and result.epochs_run == 2 and (tmp_path / "best.pt").is_file()
    last, _ = train(tiny_config(epochs=2), plugin, tmp_path / "b",
                    should_stop=lambda r: r.epoch == 2)
    assert not last.pruned  # a stop asked at the last epoch ends nothing early


def test_each_epoch_records_its_schedules(tmp_path, plugin):
    config = tiny_config(epochs=4, warmup_epochs=1, scheduler="cosine", augmentation="light",
                         augmentation_ramp=2)
    _, records = train(config, plugin, tmp_path)
    rows = [r.metrics() for r in records]
    # warm-up epoch at lr/2, then a 3-epoch cosine from the full rate; strength 1/2 then 1
    assert [r["learning_rate"] for r in rows] == pytest.approx([5e-3, 1e-2, 7.5e-3, 2.5e-3])
    assert [r["augmentation_strength"] for r in rows] == [0.5, 1.0, 1.0, 1.0]
    assert not any(name.startswith("gpu_") for row in rows for name in row)  # CPU: absent
