"""Layer 3: every model on every case of a case set, per-case metric rows, prediction files and
overlay images.

    >>> from medselect.evaluate import evaluate_external, evaluate_runs, evaluate_runs_on_sets
    >>> report = evaluate_runs(ws, top=3, case_set="reference")
    >>> reports = evaluate_runs_on_sets(ws, spec=experiment.evaluation)  # val, then test
    >>> report = evaluate_external(ws, "nnunet_out/", "nnunet-2d", case_set="reference")
    >>> report = evaluate_runs(ws, case_set=NewCases(Path("Dataset9_Lyon/imagesTs"),
    ...                        info=CaseInfo.of(site="lyon")))  # new cases, labelsTs/ beside
    >>> [(o.model_ref, o.status, o.key_value) for o in report.outcomes]
    >>> evaluate_folds(ws, experiment.task, experiment.ranking.selection)  # K-fold selection

Results go to the store (``evaluation``, ``case_metric``, ``prediction``) and files under
``evaluations/<evaluation_id>/`` (:mod:`~medselect.evaluate.artifacts`). torch is imported only
when a trained network is loaded, so reading results and drawing overlays stay light.
"""

from medselect.evaluate.artifacts import EVALUATIONS_DIR, EvaluationFiles
from medselect.evaluate.casesets import (
    NewCases,
    folder_records,
    read_new_cases,
    resolve_case_set,
)
from medselect.evaluate.engine import DEFAULT_CASES_PER_BATCH, ProgressFn, evaluate_models
from medselect.evaluate.external import ExternalPredictions, check_external_name
from medselect.evaluate.ids import evaluation_id
from medselect.evaluate.outoffold import evaluate_folds
from medselect.evaluate.overlay import (
    render_overlay,
    render_volume_overlays,
    save_png,
    thumbnail,
)
from medselect.evaluate.policy import MetricPolicy
from medselect.evaluate.predictors import CaseFailure, Prediction, Predictor
from medselect.evaluate.results import EvaluationReport, ModelOutcome
from medselect.evaluate.scoring import CaseScore, null_rows, score_case
from medselect.evaluate.trained import TrainedPredictor, models_to_evaluate, select_runs
from medselect.evaluate.workflow import (
    CaseSetReports,
    SkippedCaseSet,
    evaluate_external,
    evaluate_external_on_sets,
    evaluate_runs,
    evaluate_runs_on_sets,
    load_task,
)

__all__ = [
    "DEFAULT_CASES_PER_BATCH",
    "EVALUATIONS_DIR",
    "CaseFailure",
    "CaseScore",
    "CaseSetReports",
    "EvaluationFiles",
    "EvaluationReport",
    "ExternalPredictions",
    "MetricPolicy",
    "ModelOutcome",
    "NewCases",
    "Prediction",
    "Predictor",
    "ProgressFn",
    "SkippedCaseSet",
    "TrainedPredictor",
    "check_external_name",
    "evaluate_external",
    "evaluate_external_on_sets",
    "evaluate_folds",
    "evaluate_models",
    "evaluate_runs",
    "evaluate_runs_on_sets",
    "evaluation_id",
    "folder_records",
    "load_task",
    "models_to_evaluate",
    "null_rows",
    "read_new_cases",
    "render_overlay",
    "render_volume_overlays",
    "resolve_case_set",
    "save_png",
    "score_case",
    "select_runs",
    "thumbnail",
]
