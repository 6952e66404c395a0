"""Every architecture builds and trains one step on a tiny 2D input; impossible sizes fail early."""

from __future__ import annotations

import pytest
import torch
from train_data import tiny_config

from medselect.config.choices import Architecture
from medselect.errors import ConfigError
from medselect.tasks import get_task_plugin
from medselect.train import build_network, check_network_input, count_parameters
from medselect.train.zoo import IMAGE_LEVEL_ARCHITECTURES

#: The smallest input each network accepts with depth 2 (fixed-depth networks need more).
SMALLEST = {
    Architecture.UNET: 8,
    Architecture.BASIC_UNET: 32,
    Architecture.ATTENTION_UNET: 8,
    Architecture.SEGRESNET: 8,
    Architecture.DYNUNET: 8,
    Architecture.UNETR: 16,
    Architecture.SWIN_UNETR: 64,
    Architecture.DENSENET121: 32,
    Architecture.RESNET18: 16,
    Architecture.EFFICIENTNET_B0: 32,
}
DENSE = [a for a in Architecture if a not in IMAGE_LEVEL_ARCHITECTURES]


@pytest.mark.parametrize("architecture", DENSE)
def test_every_architecture_runs_a_training_step(architecture):
    side = SMALLEST[architecture]
    config = tiny_config(architecture=architecture, input_size=(side, side))
    model = build_network(config, spatial_dims=2, in_channels=1, out_channels=3)
    x = torch.randn(2, 1, side, side)
    logits = model(x)
    assert logits.shape == (2, 3, side, side)
    logits.square().mean().backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert not torch.allclose(model(x), logits)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("architecture", sorted(IMAGE_LEVEL_ARCHITECTURES))
def test_classifiers_output_one_logit_vector_per_image(architecture):
    side = SMALLEST[architecture]
    config = tiny_config(architecture=architecture, input_size=(side, side))
    model = build_network(config, spatial_dims=2, in_channels=1, out_channels=2,
                          plugin=get_task_plugin("classification"))
    logits = model(torch.randn(2, 1, side, side))
    assert logits.shape == (2, 2)
    logits.square().mean().backward()


@pytest.mark.parametrize(("kind", "architecture", "expected"), [
    ("classification", "unet", "classification tasks need an image-level classifier"),
    ("segmentation", "resnet18", "segmentation tasks need a dense"),
    ("landmarks", "densenet121", "landmarks tasks need a dense"),
])
def test_networks_that_do_not_fit_the_task_kind_are_refused(kind, architecture, expected):
    config = tiny_config(architecture=architecture, input_size=(32, 32))
    with pytest.raises(ConfigError, match=expected) as info:
        check_network_input(config, spatial_dims=2, plugin=get_task_plugin(kind))
    assert "architecture" in str(info.value)


def test_depth_and_features_size_the_unet():
    small = build_network(tiny_config(depth=1, features=4), spatial_dims=2, in_channels=1,
                          out_channels=2)
    large = build_network(tiny_config(depth=2, features=8), spatial_dims=2, in_channels=1,
                          out_channels=2)
    assert count_parameters(large) > 4 * count_parameters(small)


def test_three_dimensional_networks_take_three_sizes():
    config = tiny_config(input_size=(8, 8, 8), depth=1)
    model = build_network(config, spatial_dims=3, in_channels=2, out_channels=2)
    assert model(torch.randn(1, 2, 8, 8, 8)).shape == (1, 2, 8, 8, 8)


def test_size_not_divisible_by_the_downsampling_names_field_and_values():
    config = tiny_config(input_size=(60, 60), depth=4)
    with pytest.raises(ConfigError) as info:
        check_network_input(config, spatial_dims=2)
    message = str(info.value)
    assert "input_size [60, 60] is not divisible by 2**depth=16" in message
    assert "smaller depth" in message


def test_deepest_level_of_one_pixel_is_refused():
    with pytest.raises(ConfigError, match=r"input_size \[16, 16\] is too small .* at least 32"):
        check_network_input(tiny_config(input_size=(16, 16), depth=4), spatial_dims=2)


@pytest.mark.parametrize(
    ("architecture", "size", "expected"),
    [
        ("unetr", (24, 24), "not divisible by 16 (unetr cuts it into 16-pixel patches)"),
        ("swin_unetr", (48, 48), "not divisible by 32 (swin_unetr"),
        ("swin_unetr", (32, 32), "too small for 32 (swin_unetr"),
        ("basic_unet", (16, 16), "too small for 16 (basic_unet"),
    ],
)
def test_fixed_depth_networks_state_their_own_rule(architecture, size, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        build_network(tiny_config(architecture=architecture, input_size=size), spatial_dims=2,
                      in_channels=1, out_channels=2)


def test_input_size_must_match_the_task_dimensions():
    with pytest.raises(ConfigError, match=r"input_size \[32, 32\] has 2 sizes but the task is 3D"):
        check_network_input(tiny_config(), spatial_dims=3)
