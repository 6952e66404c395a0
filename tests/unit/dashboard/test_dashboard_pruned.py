"""Runs a search stopped early are listed on the leaderboard page apart from the ranked ones."""

from __future__ import annotations

from medselect.store import add_epoch_metrics, set_run_status, upsert_run


def test_pruned_runs_are_listed_with_their_epochs_and_best_score(fresh_ws, fresh_client):
    assert "Pruned runs" not in fresh_client.get("/").text  # none: no section
    with fresh_ws.begin() as conn:
        upsert_run(conn, {"id": "run-pruned", "task": "knee", "dataset_version": "dv-sample",
                          "config": {"architecture": "unet", "learning_rate": 0.1},
                          "config_hash": "pruned"})
        set_run_status(conn, "run-pruned", "running")
        for epoch, dice in ((1, 0.21), (2, 0.24), (3, 0.22)):
            add_epoch_metrics(conn, "run-pruned", epoch, {"val_dice": dice})
        set_run_status(conn, "run-pruned", "pruned", best_metric=0.24)
    html = fresh_client.get("/").text
    section = html[html.index('<section id="pruned">'):]
    assert "Pruned runs (1)" in section and "run-pruned" in section
    assert '<td class="num">3</td><td class="num">0.2400</td>' in section
    assert "run-pruned" not in html[:html.index('<section id="pruned">')]  # not ranked
    api = fresh_client.get("/api/leaderboard").json()
    assert api["pruned"] == [{"id": "run-pruned", "epochs": 3, "best_metric": 0.24,
                              "summary": {"architecture": "unet", "learning_rate": "0.1"}}]
