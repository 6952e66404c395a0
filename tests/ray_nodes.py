"""Ray nodes for tests and benchmarks, each stopped on its own: a head beside a sweep, and a
cluster of two nodes on one machine.

Each node is one ``ray start --block`` process; stopping it (SIGTERM) stops the Ray processes
it started and nothing else, and losing it (SIGKILL to all of them) is a machine dying. ``ray
stop`` is never used: it kills every Ray process on the machine, another test's or user's too,
which made Rays on a shared CI machine die while starting.

The two nodes of :func:`two_node_cluster` each get a network namespace of their own, joined by
a virtual Ethernet pair (``10.211.0.1`` and ``.2``), so they talk over a network as two
machines do and nothing is reachable from outside them; the sweep runs in the head's. Where
namespaces cannot be made (not root, no ``ip``, a container without CAP_SYS_ADMIN) the nodes
take two loopback addresses, ``127.0.0.2`` and ``127.0.0.3`` (Ray replaces ``127.0.0.1`` by the
machine's network address, so it cannot name one of two nodes); Ray's servers then listen on
every interface, as on any cluster node, for the test's duration.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT = 180
HEAD_PORT = 6379


class RayNode:
    """``ray start --block ARGS`` (in network namespace ``netns`` when given), started by
    :meth:`start`, which waits until the node has joined."""

    def __init__(self, *args: str, netns: str | None = None, env: dict | None = None):
        self.command = [*(["ip", "netns", "exec", netns] if netns else []),
                        RAY, "start", "--block", *args]
        self.env = {**os.environ, "RAY_ADDRESS": "", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkdtemp(prefix="medselect-ray-node-")) / "ray-start.log"

    def start(self) -> RayNode:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while "Ray runtime started" not in (said := self.said()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{' '.join(self.command)} did not start:\n{said[-3000:]}")
            time.sleep(0.2)
        return self

    def said(self) -> str:
        """What ``ray start`` wrote so far."""
        return self.log.read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """The ``ray start`` process and every Ray process it started (raylet, workers, ...)."""
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """The node dies at once, as a machine losing power: SIGKILL to all its processes."""
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        """``ray start --block`` stops its processes on SIGTERM; what is left is killed."""
        left = self.processes()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=60)
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        shutil.rmtree(self.log.parent, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TwoNodeCluster:
    """A head and a second node of one CPU each; ``address`` is the head's ``HOST:PORT``;
    ``prefix`` runs a command where the head runs (its namespace), with ``env`` (the cluster's
    token, as a team's nodes and users share it); ``how`` says where the nodes are."""

    head: RayNode
    second: RayNode
    address: str
    prefix: list[str]
    env: dict[str, str]
    how: str


def namespaces_available() -> str | None:
    """None when network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "no `ip` command (iproute2)"
    name = f"medselect-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


@contextlib.contextmanager
def _namespaces() -> Iterator[tuple[str, str]]:
    """Two network namespaces joined by a veth pair: 10.211.0.1 in the first, .2 in the
    second, each with its loopback up."""
    tag = uuid.uuid4().hex[:6]
    names = (f"medselect-{tag}-a", f"medselect-{tag}-b")
    links = (f"msr{tag}a", f"msr{tag}b")  # interface names have at most 15 characters
    try:
        for ns in names:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        subprocess.run(["ip", "link", "add", links[0], "type", "veth", "peer", "name",
                        links[1]], check=True, capture_output=True)
        for i, (ns, link) in enumerate(zip(names, links, strict=True), start=1):
            for command in (["link", "set", link, "netns", ns],
                            ["-n", ns, "addr", "add", f"10.211.0.{i}/24", "dev", link],
                            ["-n", ns, "link", "set", link, "up"],
                            ["-n", ns, "link", "set", "lo", "up"]):
                subprocess.run(["ip", *command], check=True, capture_output=True)
        yield names
    finally:
        for ns in names:  # deleting a namespace deletes its end of the pair, and so both
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@contextlib.contextmanager
def two_node_cluster(mode: str = "auto") -> Iterator[TwoNodeCluster]:
    """A started two-node cluster, stopped on leaving; ``mode``: ``netns``, ``loopback`` or
    ``auto`` (namespaces where available)."""
    if mode == "auto":
        mode = "loopback" if namespaces_available() else "netns"
    with contextlib.ExitStack() as stack:
        if mode == "netns":
            ns_head, ns_second = stack.enter_context(_namespaces())
            head_ip, second_ip, port = "10.211.0.1", "10.211.0.2", HEAD_PORT
            prefix = ["ip", "netns", "exec", ns_head]
        else:
            ns_head = ns_second = None
            head_ip, second_ip, port = "127.0.0.2", "127.0.0.3", free_port()
            prefix = []
        address = f"{head_ip}:{port}"
        token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex + uuid.uuid4().hex}
        head = RayNode("--head", "--node-ip-address", head_ip, "--port", str(port),
                       "--num-cpus", "1", "--include-dashboard", "false", netns=ns_head,
                       env=token)
        second = RayNode("--address", address, "--node-ip-address", second_ip,
                         "--num-cpus", "1", netns=ns_second, env=token)
        stack.callback(head.stop)
        head.start()
        stack.callback(second.stop)
        second.start()
        yield TwoNodeCluster(head, second, address, prefix, {**os.environ, **token},
                             f"{mode}: head {head_ip}, second node {second_ip}")
