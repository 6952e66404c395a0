"""The executors the options ask for, with the experiment's resources."""

from __future__ import annotations

import os
from types import SimpleNamespace

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


def test_worker_slots_take_the_gpus_in_turn():
    from medselect.sweep.executors.local import slot_device

    assert [slot_device(s, 2) for s in range(5)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1",
                                                     "cuda:0"]
    assert slot_device(3, 0) == "cpu"


def _running_run(tmp_path, attempts: int, worker: str = "host:1"):
    from medselect.store import Workspace, add_dataset_version, put_task, upsert_run

    ws = Workspace.create(tmp_path / "ws")
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "dv", "task": "knee"}, [])
        upsert_run(conn, {"id": "r", "task": "knee", "dataset_version": "dv", "config": {},
                          "config_hash": "r", "status": "running", "worker": worker,
                          "attempts": attempts})
    return ws


@pytest.mark.parametrize(("attempts", "status"), [(1, "interrupted"), (2, "interrupted"),
                                                  (3, "failed"), (4, "failed")])
def test_a_lost_run_is_resumable_until_its_last_attempt(tmp_path, attempts, status):
    from medselect.store import get_run
    from medselect.sweep.executors.base import MAX_ATTEMPTS, settle_lost_run
    from medselect.sweep.jobs import RunJob

    ws = _running_run(tmp_path, attempts)
    outcome = settle_lost_run(RunJob("r", str(ws.root)), "killed", "host:1")
    with ws.connect() as conn:
        row = get_run(conn, "r")
    assert MAX_ATTEMPTS == 3 and outcome.status == row["status"] == status
    assert row["error"] == f"killed (attempt {attempts} of 3)"
    ws.dispose()


def test_a_run_another_worker_claimed_since_is_left_alone(tmp_path):
    from medselect.store import get_run
    from medselect.sweep.executors.base import settle_lost_run
    from medselect.sweep.jobs import RunJob

    ws = _running_run(tmp_path, 1, worker="host:2")
    outcome = settle_lost_run(RunJob("r", str(ws.root)), "killed", "host:1")
    with ws.connect() as conn:
        assert outcome.status == get_run(conn, "r")["status"] == "running"
    ws.dispose()


def test_retry_failed_plans_failed_runs_again(tmp_path, experiment_file):
    from medselect.config import load_experiment
    from medselect.data.importer import import_experiment_data
    from medselect.store import Workspace, set_run_status
    from medselect.sweep import plan_sweep

    exp = load_experiment(experiment_file(space="architecture: [unet, segresnet], epochs: 1"))
    ws = Workspace.create(tmp_path / "ws")
    version = import_experiment_data(ws, exp).version_id
    first = plan_sweep(ws, exp, version)
    failed, finished = (r.run_id for r in first.runs)
    with ws.begin() as conn:
        for run, status in ((failed, "failed"), (finished, "finished")):
            set_run_status(conn, run, "running")
            set_run_status(conn, run, status)
    assert plan_sweep(ws, exp, version).to_train == []
    again = plan_sweep(ws, exp, version, retry_failed=True)
    assert [r.run_id for r in again.to_train] == [failed]
    ws.dispose()


class _SlowRay:
    """Ray whose node misses its start-up deadline ``fails`` times, then takes ``address``."""

    __version__ = "2.x"

    def __init__(self, fails: int, address: str = "127.0.0.1") -> None:
        self.fails, self.inits, self.shutdowns = fails, 0, 0
        self.util = SimpleNamespace(get_node_ip_address=lambda: address)

    def init(self, **kwargs) -> None:
        from ray._private import ray_constants

        self.inits += 1
        assert kwargs["address"] == "local" and not ray_constants.ENABLE_RAY_CLUSTER
        assert os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] == "0"
        if self.inits <= self.fails:
            raise Exception("The current node timed out during startup. This could happen ...")

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.mark.parametrize(("fails", "started"), [(0, True), (2, True), (3, False)])
def test_a_local_ray_that_misses_its_start_up_deadline_is_started_again(fails, started):
    pytest.importorskip("ray")
    from medselect.errors import ConfigError
    from medselect.sweep.executors.ray import START_ATTEMPTS, RayExecutor

    ray = _SlowRay(fails)
    executor = RayExecutor(threads=1, num_cpus=2)
    if started:
        executor._connect(ray)
        assert (ray.inits, ray.shutdowns) == (fails + 1, fails)
    else:
        with pytest.raises(ConfigError, match="address: cannot start or reach a local Ray"):
            executor._connect(ray)
        assert ray.inits == START_ATTEMPTS


def test_runs_per_gpu_caps_the_runs_one_gpu_trains_at_once():
    from medselect.sweep.executors.local import LocalExecutor

    shared = LocalExecutor(workers=4, runs_per_gpu=2)
    assert (shared.slots(gpus=1), shared.slots(gpus=2), shared.slots(gpus=0)) == (2, 4, 4)
    assert LocalExecutor(workers=4).slots(gpus=1) == 1  # one run per GPU unless asked
    assert make_executor("local", workers=4, runs_per_gpu=3).runs_per_gpu == 3


def test_ray_runs_request_a_share_of_a_gpu_per_runs_per_gpu():
    pytest.importorskip("ray")
    assert make_executor("ray", runs_per_gpu=4).gpus == 0.25
    assert make_executor("ray", runs_per_gpu=1).gpus == 0


def test_runs_per_gpu_and_gpus_per_run_must_agree():
    from pydantic import ValidationError

    from medselect.config import SweepSpec

    assert SweepSpec(runs_per_gpu=2, gpus_per_run=0.5).runs_per_gpu == 2
    with pytest.raises(ValidationError, match=r"runs_per_gpu 2 asks for 0\.5 GPU per run but "
                                              "gpus_per_run is 1; give one of them"):
        SweepSpec(runs_per_gpu=2, gpus_per_run=1)


def test_a_local_ray_given_another_address_than_loopback_is_stopped():
    """The single-machine mode is Ray's only way to a loopback node: were a Ray release to
    drop it, the sweep stops instead of training on a Ray that listens on the network."""
    pytest.importorskip("ray")
    from ray._private import ray_constants

    from medselect.errors import ConfigError
    from medselect.sweep.executors.ray import RayExecutor

    ray = _SlowRay(0, address="192.0.2.2")
    with pytest.raises(ConfigError, match=r"address 192\.0\.2\.2, not a loopback"):
        RayExecutor(threads=1, num_cpus=2)._connect(ray)
    assert ray.shutdowns == 1
    assert ray_constants.ENABLE_RAY_CLUSTER  # the mode ends with the start
    assert ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR not in os.environ
