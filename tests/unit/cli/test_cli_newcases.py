"""``medselect cases drift | review-queue | reviewed`` and ``upgrade --reviewed`` on a real
workspace of new cases (:mod:`newcase_data`); no training."""

from __future__ import annotations

import json

import pytest

from medselect.store import add_review
from newcase_data import DISAGREE, MODELS, build_new_case_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_phantom):
    ws, case_set = build_new_case_workspace(tmp_path_factory.mktemp("cli-new") / "ws",
                                            tiny_phantom)
    ws.dispose()
    return ws.root, case_set


def test_review_queue_lists_disagreement_first(run_cli, workspace):
    root, case_set = workspace
    result = run_cli("cases", "review-queue", "--case-set", "lyon", "-w", root, "--json")
    assert result.code == 0, result.stderr
    queue = json.loads(result.stdout)
    assert queue["case_set"] == case_set and sorted(queue["top_models"]) == sorted(MODELS)
    scores = [c["score"] for c in queue["cases"]]
    assert scores == sorted(scores, reverse=True) and scores[DISAGREE - 1] > scores[DISAGREE]
    text = run_cli("cases", "review-queue", "--case-set", case_set, "-w", root, "--limit", "2")
    assert text.code == 0 and queue["cases"][0]["case_id"] in text.stdout
    assert queue["cases"][DISAGREE]["case_id"] not in text.stdout
    assert "1 - mean pairwise Dice" in text.stdout


def test_drift_flags_the_shifted_intensities(run_cli, workspace):
    root, case_set = workspace
    result = run_cli("cases", "drift", "--case-set", case_set, "-w", root, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    drifting = report["input_drift"]["drifting"]
    assert all("fg_mean" in features and "spacing_x" not in features
               for features in drifting.values())
    assert report["output_signals"]["signals"] and "not that a model fails" in report["not_shown"]
    text = run_cli("cases", "drift", "--case-set", case_set, "-w", root)
    assert text.code == 0 and "fg_mean" in text.stdout and "std diff" in text.stdout


def test_unknown_case_set_is_a_one_line_error(run_cli, workspace):
    root, _ = workspace
    result = run_cli("cases", "review-queue", "--case-set", "nowhere", "-w", root)
    assert result.code == 1 and "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_reviewed_previews_what_the_upgrade_adds(run_cli, workspace):
    from medselect.store import Workspace

    root, case_set = workspace
    queue = json.loads(run_cli("cases", "review-queue", "--case-set", case_set, "-w", root,
                               "--json").stdout)
    first = queue["cases"][0]["case_id"]
    ws = Workspace.open(root)
    with ws.begin() as conn:
        add_review(conn, model_ref=MODELS[0], case_set=case_set, case_id=first,
                   reviewer="dr. ann", verdict="acceptable")
    ws.dispose()
    result = run_cli("cases", "reviewed", "--case-set", case_set, "-w", root, "--json")
    assert result.code == 0, result.stderr
    preview = json.loads(result.stdout)
    assert preview["joining"] == 1 and preview["refused"] is None
    [joins] = [c for c in preview["cases"] if c["joins"]]
    assert joins["case_id"] == first
    assert joins["label_source"] == f"accepted prediction of {MODELS[0]}"
    text = run_cli("cases", "reviewed", "--case-set", case_set, "-w", root)
    assert f"--reviewed {case_set}" in text.stdout


def test_upgrade_needs_data_or_reviewed_cases(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: unet, epochs: 1")
    result = run_cli("upgrade", exp, "-w", tmp_path / "ws")
    assert result.code == 1 and "--reviewed" in result.stderr
