"""The contract every executor keeps, tested on each (local processes, in-process, Ray): one
outcome per job in the jobs' order, a failing run recorded as failed without stopping the
others, finished runs recorded in the store, and the poll callback called while it works."""

from __future__ import annotations

import pytest

from medselect.config import load_experiment
from medselect.data.importer import import_experiment_data
from medselect.store import RunStatus, Workspace, get_run
from medselect.sweep import plan_sweep
from medselect.sweep.jobs import RunJob

pytestmark = pytest.mark.slow


def _executor(name: str):
    if name == "local":
        from medselect.sweep.executors.local import LocalExecutor

        return LocalExecutor(workers=2, threads=1)
    if name == "inprocess":
        from medselect.sweep.executors.inprocess import InProcessExecutor

        return InProcessExecutor()
    pytest.importorskip("ray")
    from medselect.sweep.executors.ray import RayExecutor

    return RayExecutor(threads=1, num_cpus=2)


@pytest.mark.parametrize("name", [
    "local", "inprocess", pytest.param("ray", marks=pytest.mark.xdist_group("ray"))])
def test_every_executor_keeps_the_contract(name, experiment_file, tmp_path):
    exp = load_experiment(experiment_file(
        space="architecture: [unet], loss: [dice_ce], epochs: 1, "
              "learning_rate: [0.001, 1.0e+30]"))  # the second diverges: NaN loss, failed
    ws = Workspace.create(tmp_path / "ws")
    plan = plan_sweep(ws, exp, import_experiment_data(ws, exp).version_id)
    by_rate = {r.config.learning_rate: r.run_id for r in plan.runs}
    jobs = [RunJob(by_rate[1e30], str(ws.root)), RunJob(by_rate[0.001], str(ws.root))]
    polls = []
    outcomes = _executor(name).run(jobs, poll=lambda: polls.append(1))
    assert [o.run_id for o in outcomes] == [j.run_id for j in jobs]
    assert [o.status for o in outcomes] == [RunStatus.FAILED, RunStatus.FINISHED]
    assert "NaN" in outcomes[0].error
    with ws.connect() as conn:
        stored = [get_run(conn, j.run_id) for j in jobs]
    assert [r["status"] for r in stored] == [RunStatus.FAILED, RunStatus.FINISHED]
    assert stored[1]["checkpoint_uri"] and stored[1]["attempts"] == 1
    assert polls  # called while it works (in-process: after each run)
    ws.dispose()
