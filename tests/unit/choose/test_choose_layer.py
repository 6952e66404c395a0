"""medselect.choose is layer 2: it reads the store, the data layer and rank, nothing above."""

import subprocess
import sys

import medselect.choose as choose

PUBLIC = [
    "CV_PREFIX", "CVConfiguration", "Confirmation", "FOLD", "GroupRow", "GroupTable",
    "KEY_METRICS", "ModelChoice", "RankingInputs", "choose_model", "confirm_figure",
    "cv_configurations", "cv_model", "cv_model_info", "default_ranking", "final_model_ref",
    "fold_case_set_id", "fold_means", "group_table", "out_of_fold_table", "ranking_inputs",
    "task_ranking", "with_reviews",
]


def test_public_api_is_pinned():
    assert sorted(choose.__all__) == sorted(PUBLIC)


def test_choose_imports_no_torch_and_no_higher_layer():
    code = ("import sys, medselect.choose; print(sorted(m for m in sys.modules if m == 'torch' "
            "or m.startswith(('medselect.evaluate', 'medselect.sweep', 'medselect.registry', "
            "'medselect.dashboard', 'medselect.cli', 'medselect.train', 'medselect.tasks'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
