"""Augmentation presets keep shapes and label values, and describe themselves as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medselect.config.choices import AugmentationPreset
from medselect.errors import ConfigError
from medselect.train import build_preset, describe_preset, offline_augment


def square_case(dims: int = 2) -> dict[str, torch.Tensor]:
    size = (16,) * dims
    label = torch.zeros((1, *size))
    label[(0, *[slice(4, 12)] * dims)] = 2.0
    image = torch.cat([label + 0.1, -label])  # two channels
    return {"image": image, "label": label}


@pytest.mark.parametrize("preset", list(AugmentationPreset))
@pytest.mark.parametrize("dims", [2, 3])
def test_every_preset_keeps_shapes_and_label_classes(preset, dims):
    case = square_case(dims)
    augment = build_preset(preset, dims, seed=3)
    for _ in range(3):
        out = augment(dict(case))
        assert out["image"].shape == case["image"].shape
        assert out["label"].shape == case["label"].shape
        assert set(torch.unique(torch.as_tensor(out["label"])).tolist()) <= {0.0, 2.0}
    assert torch.equal(case["label"], square_case(dims)["label"])  # inputs left untouched


@pytest.mark.parametrize("preset", list(AugmentationPreset))
def test_describe_preset_is_json_and_matches_the_built_transforms(preset):
    description = describe_preset(preset, spatial_dims=2)
    assert json.loads(json.dumps(description)) == description
    built = build_preset(preset, 2)
    assert [type(t).__name__ for t in built.transforms] == [d["transform"] for d in description]


def test_geometric_steps_move_the_label_with_nearest_and_intensity_steps_only_the_image():
    steps = {d["transform"]: d for d in describe_preset("strong", 2)}
    assert steps["RandRotated"]["keys"] == ["image", "label"]
    assert steps["RandRotated"]["mode"] == ["bilinear", "nearest"]
    assert steps["RandGaussianNoised"]["keys"] == ["image"]
    assert "Rand3DElasticd" in {d["transform"] for d in describe_preset("geometry", 3)}


def test_non_spatial_targets_are_left_to_the_image_alone():
    assert all(d["keys"] == ["image"] for d in describe_preset("strong", 2, label_mode=None))


def test_unknown_preset_names_the_field():
    with pytest.raises(ConfigError, match=r"augmentation: .*did you mean 'strong'"):
        describe_preset("strnog")


def test_offline_augment_makes_seeded_copies_copy_by_copy():
    cases = [square_case(), square_case()]
    images = [c["image"] for c in cases]
    labels = [c["label"] for c in cases]
    first = offline_augment(images, labels, copies=3, seed=7)
    again = offline_augment(images, labels, copies=3, seed=7)
    assert len(first[0]) == len(first[1]) == 6
    assert all(torch.equal(a, b) for a, b in zip(first[0], again[0], strict=True))
    assert not all(torch.equal(a, images[0]) for a in first[0])
    assert all(isinstance(x, torch.Tensor) and x.shape == (2, 16, 16) for x in first[0])


def test_offline_augment_without_labels_returns_none_for_them():
    images, labels = offline_augment([np.ones((1, 8, 8), np.float32)], None, copies=2, seed=0)
    assert len(images) == 2 and labels is None


def test_contrast_preset_inverts_polarity_in_some_draws_and_leaves_the_label():
    """The ``contrast`` preset's draws include images negatively correlated with the input (a
    T1-like reversal of a PD-like image); the label is only flipped or rotated."""
    case = square_case()
    augment = build_preset("contrast", 2, seed=0)
    correlations = []
    for _ in range(40):
        out = augment({k: v.clone() for k, v in case.items()})
        image = np.asarray(out["image"][0]).ravel()
        correlations.append(np.corrcoef(image, np.asarray(out["label"][0]).ravel())[0, 1])
        assert set(np.unique(np.asarray(out["label"]))) <= {0.0, 2.0}
    assert min(correlations) < -0.5 and max(correlations) > 0.5
