"""``medselect sweep finalize`` refuses an experiment that does not cross-validate."""


def test_finalize_names_the_missing_field(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: [unet]")
    result = run_cli("sweep", "finalize", exp, "-w", tmp_path / "ws")
    assert result.code == 1
    assert "ranking.selection.folds is not set" in result.stderr
    assert not (tmp_path / "ws").exists()  # refused before anything was written
