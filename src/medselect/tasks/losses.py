"""Every :class:`~medselect.config.choices.Loss` as the MONAI loss that implements it.

The losses here take raw logits ``(B, C, ...)`` and label-map targets ``(B, 1, ...)`` holding
class indices: softmax is applied to the logits and the target is one-hot encoded inside the
loss (``softmax=True, to_onehot_y=True``), so networks output plain logits.

    >>> loss = label_map_loss("dice_ce")
    >>> loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4)).item() > 0
    True
"""

from __future__ import annotations

from typing import Any

import torch
from monai import losses

from medselect.config.choices import Loss, resolve
from medselect.errors import ConfigError

#: MONAI class and its options per loss name; every one one-hot encodes the label map.
_LABEL_MAP_LOSSES: dict[Loss, tuple[type[torch.nn.Module], dict[str, Any]]] = {
    Loss.DICE: (losses.DiceLoss, {"softmax": True}),
    Loss.DICE_CE: (losses.DiceCELoss, {"softmax": True}),
    # MONAI's DiceFocalLoss applies softmax to its Dice term; its focal term is sigmoid-based.
    Loss.DICE_FOCAL: (losses.DiceFocalLoss, {"softmax": True}),
    Loss.FOCAL: (losses.FocalLoss, {"use_softmax": True}),
    Loss.TVERSKY: (losses.TverskyLoss, {"softmax": True}),
    Loss.GENERALIZED_DICE: (losses.GeneralizedDiceLoss, {"softmax": True}),
}

#: The loss names that compare logits with a label map (segmentation's losses).
LABEL_MAP_LOSSES: tuple[str, ...] = tuple(loss.value for loss in _LABEL_MAP_LOSSES)


def label_map_loss(name: Loss | str) -> torch.nn.Module:
    """The MONAI loss ``name`` for logits against an integer label map.

    Raises:
        ConfigError: ``name`` is not a known loss (the message names the ``loss`` field).
    """
    try:
        loss = resolve(Loss, name)
    except ValueError as exc:
        raise ConfigError(f"loss: {exc}") from None
    if loss not in _LABEL_MAP_LOSSES:
        raise ConfigError(
            f"loss: {loss.value!r} does not take a label map; use one of "
            f"{', '.join(LABEL_MAP_LOSSES)}"
        )
    cls, options = _LABEL_MAP_LOSSES[loss]
    return cls(to_onehot_y=True, **options)
