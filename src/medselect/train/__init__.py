"""Layer 2: MONAI networks, losses and augmentation, the training loop, checkpoints, inference.

A sweep worker trains one configuration with::

    result = train_model(config, plugin_for_task(task, config), task, train, val,
                         out_dir=run_folder, on_epoch=store_epoch)

and evaluation reloads it with :func:`load_model` (a fold ensemble with :func:`load_ensemble`)
and runs :func:`predict`.
"""

from medselect.train.augment import build_preset, describe_preset, offline_augment
from medselect.train.checkpoint import load_checkpoint, save_checkpoint
from medselect.train.dataset import (
    NORMALIZERS,
    CaseDataset,
    StoredCases,
    TrainingData,
    build_dataset,
    cache_folder,
    case_reader,
    normalize,
    preprocess_image,
    resize,
    resize_arguments,
)
from medselect.train.device import autocast, grad_scaler, seed_everything, select_device
from medselect.train.ensemble import EnsembleNetwork, load_ensemble
from medselect.train.loop import check_run, train_model
from medselect.train.optim import build_optimizer, build_scheduler
from medselect.train.predict import load_model, predict, predict_logits
from medselect.train.records import BestTracker, EpochRecord, TrainResult
from medselect.train.zoo import build_network, check_network_input, count_parameters

__all__ = [
    "NORMALIZERS",
    "BestTracker",
    "CaseDataset",
    "EnsembleNetwork",
    "EpochRecord",
    "StoredCases",
    "TrainResult",
    "TrainingData",
    "autocast",
    "build_dataset",
    "build_network",
    "build_optimizer",
    "build_preset",
    "build_scheduler",
    "cache_folder",
    "case_reader",
    "check_network_input",
    "check_run",
    "count_parameters",
    "describe_preset",
    "grad_scaler",
    "load_checkpoint",
    "load_ensemble",
    "load_model",
    "normalize",
    "offline_augment",
    "predict",
    "predict_logits",
    "preprocess_image",
    "resize",
    "resize_arguments",
    "save_checkpoint",
    "seed_everything",
    "select_device",
    "train_model",
]
