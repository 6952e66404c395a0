"""From arrays to training tensors: normalisation, resizing, copies, per-case errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_data import TASK, discs, tiny_config

from medselect.data.loading import LoadedCase
from medselect.errors import DataError
from medselect.train import TrainingData, build_dataset, normalize, preprocess_image, resize


def test_zscore_normalises_each_channel_on_its_own():
    image = np.array([[[0.0, 2.0]], [[10.0, 30.0]]])  # 2 channels of 1x2
    out = normalize(image, "zscore")
    assert torch.allclose(out, torch.tensor([[[-1.0, 1.0]], [[-1.0, 1.0]]]))
    assert out.dtype == torch.float32


def test_minmax_maps_each_channel_to_zero_one():
    out = normalize(np.array([[[1.0, 3.0, 5.0]]]), "minmax")
    assert torch.allclose(out, torch.tensor([[[0.0, 0.5, 1.0]]]))


def test_percentile_clips_outliers_then_scales():
    values = np.arange(1000, dtype=np.float32)
    values[-1] = 1e6  # one outlier beyond the 99.5th percentile
    out = normalize(values.reshape(1, 10, 100), "percentile")
    assert out.min() == 0.0 and out.max() == 1.0
    assert float(out.reshape(-1)[500]) == pytest.approx(0.5, abs=0.01)  # outlier did not squash


def test_resize_keeps_label_values_and_reaches_the_size():
    label = torch.zeros(1, 10, 6)
    label[0, :5] = 3.0
    out = resize(label, (20, 12), mode="nearest")
    assert out.shape == (1, 20, 12)
    assert set(out.unique().tolist()) == {0.0, 3.0}
    assert out[0, :10].eq(3.0).all() and out[0, 10:].eq(0.0).all()


def test_preprocess_image_is_normalised_and_resized():
    out = preprocess_image(np.random.default_rng(0).normal(5, 2, (1, 40, 24)), tiny_config())
    assert out.shape == (1, 32, 32)
    assert abs(float(out.mean())) < 0.1


def test_training_data_checks_counts_and_names_cases():
    with pytest.raises(DataError, match="2 images but 1 targets"):
        TrainingData([np.zeros((1, 4, 4))] * 2, [np.zeros((4, 4))])
    data = TrainingData([np.zeros((1, 4, 4)), np.zeros((4, 4))], [0, 0], ["a", "b"])
    with pytest.raises(DataError, match=r"training set: case 'b': image has shape \(4, 4\)"):
        data.check(TASK, "training set")
    with pytest.raises(DataError, match="validation set is empty"):
        TrainingData([], []).check(TASK, "validation set")


def test_from_cases_takes_the_named_target_and_refuses_unlabelled_cases():
    cases = [LoadedCase("c1", np.zeros((1, 4, 4), np.float32), (1.0, 1.0), label=np.ones((4, 4))),
             LoadedCase("c2", np.zeros((1, 4, 4), np.float32), (1.0, 1.0), target=1)]
    data = TrainingData.from_cases(cases[:1])
    assert list(data.case_ids) == ["c1"] and data.targets[0].sum() == 16
    with pytest.raises(DataError, match=r"cases \['c2'\] have no label"):
        TrainingData.from_cases(cases)
    assert TrainingData.from_cases(cases[1:], target="target").targets == [1]


def test_training_set_gets_offline_copies_and_augmentation_validation_does_not(plugin):
    config = tiny_config(offline_augmentation=2, augmentation="strong")
    train = build_dataset(discs(3), config, plugin, TASK, training=True)
    val = build_dataset(discs(3), config, plugin, TASK, training=False)
    assert len(train) == 9 and len(val) == 3
    item = train[0]
    assert item["image"].shape == (1, 32, 32) and item["label"].shape == (1, 32, 32)
    assert type(item["image"]) is torch.Tensor  # plain tensors, no MONAI metadata
    assert set(item["label"].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(val[1]["image"], val[1]["image"])
    assert val.augment is None and train.augment is not None


def test_a_label_with_an_unknown_class_names_the_case(plugin):
    data = discs(2)
    bad = TrainingData(data.images, [data.targets[0], data.targets[1] * 5], ["ok", "bad"])
    with pytest.raises(DataError, match=r"case 'bad': label holds values \[0, 5\]"):
        build_dataset(bad, tiny_config(), plugin, TASK, training=False)
