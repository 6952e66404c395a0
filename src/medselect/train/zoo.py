"""Every :class:`~medselect.config.choices.Architecture` as a MONAI network sized by the config.

``features`` is the channel count of the first level and doubles at every level below it;
``depth`` is the number of times a convolutional network halves the image. Three networks have
a fixed depth that ``depth`` does not change:

- ``basic_unet`` always halves the image 4 times (input sides divisible by 16);
- ``unetr`` cuts the image into 16-pixel patches and runs 12 transformer layers (hidden size
  ``8 * features``, 4 heads), so its sides must be multiples of 16;
- ``swin_unetr`` halves the image 5 times (sides multiples of 32) and needs a feature size that
  is a multiple of 12, so ``features`` is rounded up to one.

:func:`check_network_input` checks ``input_size`` against these rules before anything is
built, so an impossible configuration fails with a message instead of a shape error mid-run.

Two networks are image-level classifiers, outputting ``(B, C)`` logits rather than a map:

- ``densenet121`` is MONAI's DenseNet121 (blocks 6, 12, 24, 16) with ``growth_rate =
  features`` and ``2 * features`` initial features; it halves the image 5 times;
- ``resnet18`` is MONAI's ResNet with basic blocks (2, 2, 2, 2) and widths ``features``
  doubling per stage; it halves the image 4 times.

Classification tasks take only these; every other kind only the dense ones
(:func:`check_architecture`). ``dropout`` (when set) goes to every network that has one; ResNet18
and EfficientNet-B0 have none to set and refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
from monai.networks import nets

from medselect.config.choices import Architecture
from medselect.config.run import RunConfig
from medselect.errors import ConfigError

if TYPE_CHECKING:
    from medselect.tasks.base import TaskPlugin


class _SizeRule(NamedTuple):
    divisor: int  # every input side must be a multiple of this
    min_side: int  # and at least this long
    why: str


#: Networks that output one logit vector per image (classification), not a map.
IMAGE_LEVEL_ARCHITECTURES = frozenset({Architecture.DENSENET121, Architecture.RESNET18,
                                       Architecture.EFFICIENTNET_B0})


def check_architecture(config: RunConfig, kind: str, *, image_level: bool) -> None:
    """Raise unless ``config.architecture`` outputs what a ``kind`` task needs: one logit
    vector per image (``image_level``, a task plugin's declaration) or a map.

    Raises:
        ConfigError: a classifier for a dense task, or a dense network for classification.
    """
    if (config.architecture in IMAGE_LEVEL_ARCHITECTURES) == image_level:
        return
    dense = set(Architecture) - IMAGE_LEVEL_ARCHITECTURES
    wanted = IMAGE_LEVEL_ARCHITECTURES if image_level else dense
    what = "an image-level classifier" if image_level else "a dense (per-voxel) network"
    raise ConfigError(
        f"architecture: {kind} tasks need {what}, and {config.architecture.value!r} is not "
        f"one; choose one of {', '.join(sorted(a.value for a in wanted))}"
    )


def check_network_input(
    config: RunConfig, spatial_dims: int, plugin: TaskPlugin | None = None
) -> None:
    """Raise if ``config.input_size`` cannot go through ``config.architecture``, or (given the
    task's ``plugin``) the architecture does not output what the task needs.

    Raises:
        ConfigError: the size has the wrong number of axes, is not divisible by the network's
            total down-sampling, or leaves its deepest level a single pixel wide.
    """
    if plugin is not None:
        check_architecture(config, plugin.kind, image_level=plugin.image_level)
    if config.dropout is not None and config.architecture in _NO_DROPOUT:
        raise ConfigError(f"dropout: {config.architecture.value} has no dropout to set; leave "
                          "dropout unset for it")
    size = list(config.input_size)
    if len(size) != spatial_dims:
        raise ConfigError(
            f"input_size {size} has {len(size)} sizes but the task is {spatial_dims}D; "
            f"give {spatial_dims} sizes"
        )
    rule = _size_rule(config)
    if any(side % rule.divisor for side in size):
        raise ConfigError(
            f"input_size {size} is not divisible by {rule.why}; "
            f"choose sides that are multiples of {rule.divisor}"
            + (" or a smaller depth" if _uses_depth(config) else " or another architecture")
        )
    if any(side < rule.min_side for side in size):
        raise ConfigError(
            f"input_size {size} is too small for {rule.why}: sides must be at least "
            f"{rule.min_side} so the deepest level keeps more than one pixel"
            + ("; lower depth" if _uses_depth(config) else "")
        )


def build_network(
    config: RunConfig, *, spatial_dims: int, in_channels: int, out_channels: int,
    plugin: TaskPlugin | None = None,
) -> torch.nn.Module:
    """The network of ``config.architecture``, outputting ``out_channels`` logits per voxel
    (per image for the classifiers of :data:`IMAGE_LEVEL_ARCHITECTURES`).

    Raises:
        ConfigError: see :func:`check_network_input`.
    """
    check_network_input(config, spatial_dims, plugin)
    build = _BUILDERS[config.architecture]
    return build(config, spatial_dims, in_channels, out_channels)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _uses_depth(config: RunConfig) -> bool:
    return config.architecture not in _FIXED_DEPTH


def _size_rule(config: RunConfig) -> _SizeRule:
    if config.architecture in _FIXED_DEPTH:
        return _FIXED_DEPTH[config.architecture]
    divisor = 2**config.depth
    why = f"2**depth={divisor} (architecture {config.architecture} halves it {config.depth} times)"
    return _SizeRule(divisor, 2 * divisor, why)


_FIXED_DEPTH = {
    Architecture.BASIC_UNET: _SizeRule(16, 32, "16 (basic_unet always halves it 4 times)"),
    Architecture.UNETR: _SizeRule(16, 16, "16 (unetr cuts it into 16-pixel patches)"),
    Architecture.SWIN_UNETR: _SizeRule(32, 64, "32 (swin_unetr always halves it 5 times)"),
    Architecture.DENSENET121: _SizeRule(32, 32, "32 (densenet121 always halves it 5 times)"),
    Architecture.RESNET18: _SizeRule(16, 16, "16 (resnet18 always halves it 4 times)"),
    Architecture.EFFICIENTNET_B0: _SizeRule(32, 32, "32 (efficientnet_b0 always halves it 5 "
                                                    "times)"),
}


_NO_DROPOUT = frozenset({Architecture.RESNET18, Architecture.EFFICIENTNET_B0})


def _dropout(config: RunConfig, name: str = "dropout") -> dict[str, float]:
    """``{name: p}`` for a network's dropout argument, or nothing (its default) when unset."""
    return {} if config.dropout is None else {name: config.dropout}


def _channels(config: RunConfig) -> list[int]:
    return [config.features * 2**level for level in range(config.depth + 1)]


def _unet(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    return nets.UNet(dims, cin, cout, channels=_channels(config), strides=[2] * config.depth,
                     num_res_units=2, **_dropout(config))


def _basic_unet(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    f = config.features
    return nets.BasicUNet(dims, cin, cout, features=(f, f, 2 * f, 4 * f, 8 * f, f),
                          **_dropout(config))


def _attention_unet(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    return nets.AttentionUnet(dims, cin, cout, channels=_channels(config),
                              strides=[2] * config.depth, **_dropout(config))


def _segresnet(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    # MONAI's default block layout (1, 2, 2, 4) for depth 3, stretched or cut to ``depth``.
    groups = math.gcd(8, config.features)
    return nets.SegResNet(
        dims, init_filters=config.features, in_channels=cin, out_channels=cout,
        norm=("GROUP", {"num_groups": groups}),
        blocks_down=(1, *[2] * (config.depth - 1), 4), blocks_up=(1,) * config.depth,
        **_dropout(config, "dropout_prob"),
    )


def _dynunet(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    strides = [1] + [2] * config.depth
    return nets.DynUNet(dims, cin, cout, kernel_size=[3] * (config.depth + 1), strides=strides,
                        upsample_kernel_size=strides[1:], filters=_channels(config),
                        **_dropout(config))


def _unetr(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    hidden = 8 * config.features
    return nets.UNETR(cin, cout, img_size=tuple(config.input_size), feature_size=config.features,
                      hidden_size=hidden, mlp_dim=4 * hidden, num_heads=4, spatial_dims=dims,
                      **_dropout(config, "dropout_rate"))


def _swin_unetr(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    feature_size = 12 * math.ceil(config.features / 12)
    return nets.SwinUNETR(cin, cout, feature_size=feature_size, spatial_dims=dims,
                          **_dropout(config, "drop_rate"))


def _densenet121(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    f = config.features
    return nets.DenseNet121(spatial_dims=dims, in_channels=cin, out_channels=cout,
                            init_features=2 * f, growth_rate=f,
                            **_dropout(config, "dropout_prob"))


def _resnet18(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    f = config.features
    return nets.ResNet("basic", [2, 2, 2, 2], [f, 2 * f, 4 * f, 8 * f], spatial_dims=dims,
                       n_input_channels=cin, num_classes=cout)


def _efficientnet_b0(config: RunConfig, dims: int, cin: int, cout: int) -> torch.nn.Module:
    # B0's widths are its definition: ``features`` and ``depth`` do not apply. Random
    # initialisation: pretrained weights would be a download (and are 2D ImageNet ones).
    return nets.EfficientNetBN("efficientnet-b0", pretrained=False, spatial_dims=dims,
                               in_channels=cin, num_classes=cout)


_BUILDERS: dict[Architecture, Callable[[RunConfig, int, int, int], torch.nn.Module]] = {
    Architecture.UNET: _unet,
    Architecture.BASIC_UNET: _basic_unet,
    Architecture.ATTENTION_UNET: _attention_unet,
    Architecture.SEGRESNET: _segresnet,
    Architecture.DYNUNET: _dynunet,
    Architecture.UNETR: _unetr,
    Architecture.SWIN_UNETR: _swin_unetr,
    Architecture.DENSENET121: _densenet121,
    Architecture.RESNET18: _resnet18,
    Architecture.EFFICIENTNET_B0: _efficientnet_b0,
}
