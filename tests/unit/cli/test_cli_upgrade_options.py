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
