"""The Ray executor on a local Ray with 2 CPUs writes the same store as local runs."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medselect.store import Workspace, get_epoch_metrics, list_runs

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
from ray_nodes import RayNode, free_port, namespaces_available, two_node_cluster  # noqa: E402

# one Ray at a time on the test machine: each takes its cores
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def _listeners(root: psutil.Process) -> set[tuple[str, str]]:
    """(process name, address) of every TCP socket listening in ``root`` and its descendants."""
    found = set()
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            name = proc.name()
            found |= {(name, c.laddr.ip) for c in proc.net_connections(kind="inet")
                      if c.status == psutil.CONN_LISTEN}
    return found


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def test_ray_executor_trains_into_the_same_store_listening_on_loopback_only(
        experiment_file, tmp_path):
    """In a process of its own, so that what Ray writes to the terminal is seen: stdout holds
    the JSON and nothing else. While it runs, every server of the Ray it started (GCS, raylet,
    agents, workers, the driver) listens on 127.0.0.1 and nowhere else."""
    exp = experiment_file(space="architecture: [unet, segresnet], loss: [dice_ce], epochs: 3")
    ws_dir = tmp_path / "ws"
    cmd = [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w", str(ws_dir),
           "--executor", "ray", "--workers", "2", "--threads", "1", "--json"]
    with (tmp_path / "out").open("w+") as out, (tmp_path / "err").open("w+") as err:
        sweep = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        seen: set[tuple[str, str]] = set()
        while sweep.poll() is None:
            seen |= _listeners(psutil.Process(sweep.pid))
            time.sleep(0.3)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert sweep.returncode == 0, stderr
    assert json.loads(stdout)["counts"] == {"finished": 2}
    names = {name for name, _ in seen}
    assert {"gcs_server", "raylet"} <= names and any(n.startswith("ray::") for n in names), seen
    assert {ip for _, ip in seen if not _loopback(ip)} == set(), seen
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = list_runs(conn)
        assert all(get_epoch_metrics(conn, r["id"]) for r in runs)
    assert {r["status"] for r in runs} == {"finished"}


def test_unreachable_ray_address_fails_before_training(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: [unet], loss: [dice_ce], epochs: 1")
    result = run_cli("sweep", "run", exp, "-w", tmp_path / "ws", "--executor", "ray",
                     "--address", "127.0.0.1:1")
    assert result.code == 1
    assert "--address" in result.stderr and "127.0.0.1:1" in result.stderr
    ws = Workspace.open(tmp_path / "ws")
    with ws.connect() as conn:
        assert {r["status"] for r in list_runs(conn)} == {"pending"}


def test_a_local_sweep_starts_its_own_ray_beside_a_running_head(experiment_file, tmp_path):
    """A Ray head already running on the machine (another user's, or `ray start --head`) is
    left alone: without --address the sweep starts a Ray of its own, and the head still runs
    afterwards."""
    head = RayNode("--head", "--num-cpus", "1", "--port", str(free_port()),
                   "--include-dashboard", "false").start()  # found by ray.init("auto")
    try:
        exp = experiment_file(space="architecture: [unet], loss: [dice_ce], epochs: 1")
        result = subprocess.run(
            [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w",
             str(tmp_path / "ws"), "--executor", "ray", "--workers", "1", "--json"],
            capture_output=True, text=True, timeout=600, env={**os.environ, "RAY_ADDRESS": ""})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["counts"] == {"finished": 1}
        assert head.proc.poll() is None and "raylet" in {p.name() for p in head.processes()}
    finally:
        head.stop()


def _runs(ws_dir: Path) -> list[dict]:
    if not (ws_dir / "medselect.db").is_file():  # the sweep has not imported its data yet
        return []
    ws = Workspace.open(ws_dir)
    try:
        with ws.connect() as conn:
            return [{**r, "epochs": len({e["epoch"] for e in get_epoch_metrics(conn, r["id"])})}
                    for r in list_runs(conn)]
    finally:
        ws.dispose()


def _node(run: dict) -> str:
    return run["worker"].rpartition(":")[0].partition("/ray-")[2]


@pytest.mark.parametrize("mode", ["netns", "loopback"])
def test_a_sweep_spreads_over_two_nodes_and_survives_losing_one(experiment_file, tmp_path,
                                                               mode):
    """A two-node Ray cluster on this machine, each node in a network namespace of its own
    (``netns``) or on a loopback address of its own (``loopback``, the fallback where
    namespaces cannot be made): runs land on both nodes (the run row names its node); killing
    the second node mid-run leaves its run interrupted and the sweep exiting 1; the next sweep
    resumes it on the head, from its checkpoint, and no finished run is trained again."""
    if mode == "netns" and (why := namespaces_available()):
        pytest.skip(f"no network namespaces here ({why}); the loopback case runs instead")
    exp = experiment_file(space="architecture: [unet, segresnet], loss: [dice_ce], "
                                "epochs: 40")
    ws_dir = tmp_path / "ws"
    with two_node_cluster(mode) as cluster:
        cmd = [*cluster.prefix, sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp),
               "-w", str(ws_dir), "--executor", "ray", "--address", cluster.address,
               "--workers", "2", "--threads", "1", "--json"]
        second = _node_id(cluster.second)
        sweep = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=cluster.env)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                running = [r for r in _runs(ws_dir)
                           if r["status"] == "running" and r["epochs"] >= 2]
                if len({_node(r) for r in running}) == 2:
                    break
                assert sweep.poll() is None, sweep.communicate()
                time.sleep(0.5)
            else:
                raise AssertionError(f"runs never ran on both nodes ({cluster.how}): "
                                     f"{_runs(ws_dir)}")
            lost = next(r for r in running if _node(r) == second)
            cluster.second.kill()
            _, err = sweep.communicate(timeout=300)
        finally:
            if sweep.poll() is None:
                sweep.kill()
        assert sweep.returncode == 1 and "interrupted" in err, err
        after = {r["id"]: r for r in _runs(ws_dir)}
        assert after[lost["id"]]["status"] == "interrupted"
        finished = {i for i, r in after.items() if r["status"] == "finished"}
        resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                                 env=cluster.env)
        assert resumed.returncode == 0, resumed.stderr
    final = {r["id"]: r for r in _runs(ws_dir)}
    assert {r["status"] for r in final.values()} == {"finished"}
    assert all(final[i]["attempts"] == 1 for i in finished)  # not trained again
    assert final[lost["id"]]["attempts"] == 2
    assert final[lost["id"]]["epochs"] == 40  # resumed from its checkpoint, not restarted
    assert _node(final[lost["id"]]) != second


def _node_id(node: RayNode) -> str:
    """The first characters of the Ray node id of ``node`` (its raylet's ``--node_id``)."""
    raylet = next(p for p in node.processes() if p.name() == "raylet")
    flag = next(a for a in raylet.cmdline() if a.startswith("--node_id="))
    return flag.partition("=")[2][:8]
