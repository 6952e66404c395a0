"""Choosing a model in a workspace: the one ranking workflow the CLI, the dashboard and the
registry share, so all three choose the same model for the same question.

Layer 2: reads the store and the data layer's named case sets, hands the per-case tables to
:mod:`medselect.rank` with every metric's direction, default equivalence margin and the set
metrics, and follows the task's stored ranking section (the experiment's ``ranking:``).

- :func:`ranking_inputs`: the per-case table of a case set and everything ranking reads with it.
- :func:`task_ranking`: the ranking section a task was imported with (or its family's default).
- :func:`choose_model`: rank on the selection set, report the chosen model on the confirmation
  set; a choice made on the reporting set itself is bias-corrected and labelled so.
- :func:`group_table`: the best model per site (or other ``by`` attribute) with its runner-up,
  margin, standing and confirmed figure, and where the evidence is too thin to tell.
- :func:`out_of_fold_table`: the selection set of a K-fold cross-validation, configurations
  ranked on the train + val cases each fold run held out (:mod:`~medselect.choose.crossval`).
"""

from medselect.choose.choice import Confirmation, ModelChoice, choose_model, confirm_figure
from medselect.choose.crossval import (
    CV_PREFIX,
    FOLD,
    CVConfiguration,
    cv_configurations,
    cv_model,
    cv_model_info,
    final_model_ref,
    fold_case_set_id,
    fold_means,
    out_of_fold_table,
)
from medselect.choose.groups import GroupRow, GroupTable, group_table
from medselect.choose.inputs import (
    KEY_METRICS,
    RankingInputs,
    default_ranking,
    ranking_inputs,
    task_ranking,
    with_reviews,
)

__all__ = [
    "CV_PREFIX",
    "FOLD",
    "KEY_METRICS",
    "CVConfiguration",
    "Confirmation",
    "GroupRow",
    "GroupTable",
    "ModelChoice",
    "RankingInputs",
    "choose_model",
    "confirm_figure",
    "cv_configurations",
    "cv_model",
    "cv_model_info",
    "default_ranking",
    "final_model_ref",
    "fold_case_set_id",
    "fold_means",
    "group_table",
    "out_of_fold_table",
    "ranking_inputs",
    "task_ranking",
    "with_reviews",
]
