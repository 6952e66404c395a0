"""Named options of the experiment file, as string enums, and one way to resolve them.

Names live here (layer 0, no torch) so a typo is caught while the YAML is loaded, before any
training starts; ``medselect.train`` maps each name to its MONAI class.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class TaskKind(StrEnum):
    SEGMENTATION = "segmentation"
    LANDMARKS = "landmarks"
    CLASSIFICATION = "classification"


class Architecture(StrEnum):
    UNET = "unet"
    BASIC_UNET = "basic_unet"
    ATTENTION_UNET = "attention_unet"
    SEGRESNET = "segresnet"
    DYNUNET = "dynunet"
    UNETR = "unetr"
    SWIN_UNETR = "swin_unetr"
    DENSENET121 = "densenet121"  # image-level (classification)
    RESNET18 = "resnet18"  # image-level (classification)
    EFFICIENTNET_B0 = "efficientnet_b0"  # image-level (classification), B0's fixed width


class Loss(StrEnum):
    DICE = "dice"
    DICE_CE = "dice_ce"
    DICE_FOCAL = "dice_focal"
    FOCAL = "focal"
    TVERSKY = "tversky"
    GENERALIZED_DICE = "generalized_dice"
    MSE = "mse"  # heatmap regression (landmarks)
    SOFT_ARGMAX = "soft_argmax"  # coordinate L1 through a soft-argmax (landmarks)
    CE = "ce"  # cross-entropy of image-level class logits (classification)


class Optimizer(StrEnum):
    ADAM = "adam"
    ADAMW = "adamw"
    SGD = "sgd"


class Scheduler(StrEnum):
    NONE = "none"
    COSINE = "cosine"
    STEP = "step"
    POLY = "poly"
    ONE_CYCLE = "one_cycle"


class AugmentationPreset(StrEnum):
    NONE = "none"
    LIGHT = "light"
    STRONG = "strong"
    INTENSITY = "intensity"
    GEOMETRY = "geometry"
    CONTRAST = "contrast"


class Normalization(StrEnum):
    ZSCORE = "zscore"
    MINMAX = "minmax"
    PERCENTILE = "percentile"


def choice_error(enum: type[StrEnum], value: object) -> str:
    """The message for a value that is not one of ``enum``'s names, with a suggestion."""
    return unknown_choice(_label(enum), value, [m.value for m in enum])


def unknown_choice(what: str, value: object, names: Sequence[str]) -> str:
    """``unknown <what> 'x'; did you mean 'y'? choose one of: ...`` for a value not in names."""
    hint = did_you_mean(value, names)
    return f"unknown {what} {value!r}; {hint}choose one of: {', '.join(names)}"


def did_you_mean(value: object, names: Sequence[str]) -> str:
    """``"did you mean 'y'? "`` for the name closest to ``value``, or ``""`` if none is close."""
    close = difflib.get_close_matches(str(value), list(names), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def resolve(enum: type[E], value: object) -> E:
    """``enum(value)``, case-insensitive, raising ValueError with :func:`choice_error`'s text."""
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        raise ValueError(choice_error(enum, value)) from None


def _label(enum: type[StrEnum]) -> str:
    words = []
    for ch in enum.__name__:
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch.lower())
    return "".join(words)
