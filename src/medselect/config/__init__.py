"""Layer 0: the experiment file as pydantic models, and loading it with located errors.

One YAML file describes a whole experiment (``examples/knee-segmentation.yaml``)::

    >>> from medselect.config import load_experiment
    >>> experiment = load_experiment("examples/knee-segmentation.yaml")
    >>> experiment.sweep.strategy
    'list'

Nothing here imports torch or any other medselect layer (only ``medselect.errors``).
"""

from medselect.config.choices import (
    Architecture,
    AugmentationPreset,
    Loss,
    Normalization,
    Optimizer,
    Scheduler,
    TaskKind,
    resolve,
)
from medselect.config.data import (
    DatalistSource,
    DataSource,
    DataSpec,
    ManifestSource,
    NnunetSource,
    PhantomSource,
    SplitFractions,
    SplitSpec,
)
from medselect.config.demo import (
    default_classification_experiment,
    default_demo_experiment,
    default_landmarks_experiment,
    default_seg3d_experiment,
)
from medselect.config.evaluation import DEFAULT_METRICS, EvaluationSpec, NsdTolerance
from medselect.config.experiment import Experiment
from medselect.config.loading import dump_experiment, load_experiment, parse_experiment
from medselect.config.promotion import Criterion, Guard, PromotionSpec
from medselect.config.ranking import RankingSpec, SelectionSpec
from medselect.config.run import (
    CrossValidation,
    FinalModel,
    RunConfig,
    config_hash,
    final_config,
    fold_configs,
    fold_run_ids,
    run_id,
    stored_cv,
)
from medselect.config.sweep import EarlyStopping, RunOverrides, SearchSpace, SweepSpec
from medselect.config.task import TaskSpec
from medselect.config.upgrade import UpgradeSpec

__all__ = [
    "DEFAULT_METRICS",
    "Architecture",
    "AugmentationPreset",
    "Criterion",
    "CrossValidation",
    "DataSource",
    "DataSpec",
    "DatalistSource",
    "EarlyStopping",
    "EvaluationSpec",
    "Experiment",
    "FinalModel",
    "Guard",
    "Loss",
    "ManifestSource",
    "NnunetSource",
    "Normalization",
    "NsdTolerance",
    "Optimizer",
    "PhantomSource",
    "PromotionSpec",
    "RankingSpec",
    "RunConfig",
    "RunOverrides",
    "Scheduler",
    "SearchSpace",
    "SelectionSpec",
    "SplitFractions",
    "SplitSpec",
    "SweepSpec",
    "TaskKind",
    "TaskSpec",
    "UpgradeSpec",
    "config_hash",
    "default_classification_experiment",
    "default_demo_experiment",
    "default_landmarks_experiment",
    "default_seg3d_experiment",
    "dump_experiment",
    "final_config",
    "fold_configs",
    "fold_run_ids",
    "load_experiment",
    "parse_experiment",
    "resolve",
    "run_id",
    "stored_cv",
]
