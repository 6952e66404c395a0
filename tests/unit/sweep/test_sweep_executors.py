"""The executors the options ask for, with the experiment's resources."""

from __future__ import annotations

import pytest

from medselect.sweep.run import make_executor


def test_ray_runs_request_the_experiments_gpus():
    pytest.importorskip("ray")
    local = make_executor("ray", workers=2, threads=3, gpus_per_run=0.5)
    assert (local.gpus, local.threads, local.num_cpus, local.address) == (0.5, 3, 6, None)
    cluster = make_executor("ray", workers=2, threads=3, address="auto")
    assert (cluster.gpus, cluster.num_cpus, cluster.address) == (0, None, "auto")


def test_unknown_executor_names_the_choices():
    with pytest.raises(ValueError, match="unknown executor 'slurm'; choose one of: local"):
        make_executor("slurm")
