"""``medselect upgrade`` refuses a bad executor before touching the workspace."""

from __future__ import annotations


def test_upgrade_refuses_an_unknown_executor_first(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: unet, epochs: 1")
    cases = tmp_path / "new.csv"
    cases.write_text("case_id,image\n")
    result = run_cli("upgrade", exp, "--data", cases, "-w", tmp_path / "ws",
                     "--executor", "slurm", "--address", "10.0.0.1:6379")
    assert result.code == 1
    assert "--executor" in result.stderr and "slurm" in result.stderr
    assert not (tmp_path / "ws").exists()


def test_new_reference_with_too_few_new_patients_is_refused_before_training(
        run_cli, experiment_file, tmp_path):
    from medselect.config import load_experiment
    from medselect.data.importer import import_experiment_data
    from medselect.data.phantom import synth_knee_dataset
    from medselect.data.phantom_sites import DEFAULT_SITES
    from medselect.store import Workspace, list_audit_events, list_runs

    exp = experiment_file(space="architecture: unet, epochs: 1")
    ws = Workspace.create(tmp_path / "ws")
    import_experiment_data(ws, load_experiment(exp))
    ws.dispose()
    synth_knee_dataset(tmp_path / "new", cases_per_site=6, sites=[DEFAULT_SITES[3]], size=32,
                       seed=0)
    result = run_cli("upgrade", exp, "--data", tmp_path / "new" / "manifest.csv", "-w",
                     tmp_path / "ws", "--executor", "inprocess", "--new-reference")
    assert result.code == 1
    assert "never-seen patient(s)" in result.stderr
    assert "fewer than promotion.min_patients = 10" in result.stderr
    assert "upgrade without --new-reference" in result.stderr
    ws = Workspace.open(tmp_path / "ws")
    with ws.connect() as conn:
        assert list_runs(conn) == [] and list_audit_events(conn) == []
    ws.dispose()
