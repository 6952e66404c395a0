"""`medselect demo --no-serve` end to end: wall and CPU time per step, and what it chose.

Runs the real command in a subprocess on a fresh workspace, timestamps each step's heading as
it is printed, and samples the CPU time of the command and every process under it (training
workers included) every 0.2 s with psutil, so each step gets its wall time and the CPU
seconds it used; CPU / cores is the step's floor on this machine however well it ran in
parallel. Then `medselect rank --by site --json` on the workspace prints the quality the
time bought: each site's chosen model confirmed on the test set.

Target (issue 19): the whole demo in <= 300 s with the same models and quality. The demo has
grown since that target was set (a held-out T1 site, 138 cases at 96x96, 8 configurations x
30 epochs): the quality bar now is each seen site's champion confirmed at test Dice >= 0.92.

Run: .venv/bin/python benchmarks/bench_demo.py [--quick] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from medselect.config import default_demo_experiment

MEDSELECT = [sys.executable, "-m", "medselect.cli"]
HEADING = re.compile(r"─ (\d+\. .+?) ─")
"""A step's heading as the demo prints it (a rule), wherever a progress bar left the line."""
TARGET_S = 300.0
SITE_DICE = 0.92


class TreeCPU:
    """CPU seconds used so far by a process and its descendants, sampled in a thread (a
    process that ends between two samples loses at most its last 0.2 s)."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    self.seen[proc.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    continue

    def total(self) -> float:
        return sum(self.seen.values())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_demo(workspace: Path, *, quick: bool, workers: int) -> list[tuple[str, float, float]]:
    """(step heading, wall s, CPU s) per step of the demo, in order."""
    command = [*MEDSELECT, "demo", "--no-serve", "-w", str(workspace), "--workers",
               str(workers), *(["--quick"] if quick else [])]
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    cpu = TreeCPU(proc.pid)
    steps: list[tuple[str, float, float]] = []
    heading, since, cpu_since = "start-up", time.perf_counter(), 0.0
    assert proc.stdout is not None
    for line in proc.stdout:
        if (match := HEADING.search(line)) is not None:
            title = match.group(1)
            now, used = time.perf_counter(), cpu.total()
            steps.append((heading, now - since, used - cpu_since))
            heading, since, cpu_since = title, now, used
    if proc.wait() != 0:
        raise SystemExit(f"the demo failed (exit {proc.returncode})")
    cpu.stop()
    steps.append((heading, time.perf_counter() - since, cpu.total() - cpu_since))
    return steps


def site_quality(workspace: Path) -> list[dict]:
    """Each site's chosen model as the demo's ranking confirms it on the test set."""
    out = subprocess.run([*MEDSELECT, "rank", "-w", str(workspace), "--by", "site", "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["groups"]["site"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the one-minute demo")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        started = time.perf_counter()
        steps = run_demo(workspace, quick=args.quick, workers=args.workers)
        wall = time.perf_counter() - started
        sites = site_quality(workspace)
    load = os.getloadavg()[0]
    print(f"\nmedselect demo --no-serve{' --quick' if args.quick else ''} on {cores} cores "
          f"(load {load:.1f} at the end)")
    print(f"{'step':<58} {'wall s':>8} {'CPU s':>8} {'CPU/cores':>10}")
    for name, seconds, used in steps:
        print(f"{name[:58]:<58} {seconds:>8.1f} {used:>8.1f} {used / cores:>10.1f}")
    used = sum(s[2] for s in steps)
    print(f"{'total':<58} {wall:>8.1f} {used:>8.1f} {used / cores:>10.1f}")
    verdict = ("not judged: the target is the full demo's" if args.quick else
               "met" if wall <= TARGET_S else "not met")
    print(f"target {TARGET_S:.0f} s: {verdict} "
          f"({wall:.0f} s; the CPU it used needs at least {used / cores:.0f} s on {cores} "
          "cores, however well it ran in parallel)")
    held_out = set(default_demo_experiment().data.split.held_out_sites)
    print("\neach site's champion, confirmed on the test set (mean Dice, patients):")
    for site in sites:
        if site["value"] is None:
            print(f"  {site['group']:<10} no model chosen: {site['note']}")
            continue
        seen = site["group"] not in held_out
        verdict = ("" if args.quick else
                   f"target {SITE_DICE}: {'met' if site['value'] >= SITE_DICE else 'not met'}"
                   if seen else "held out of training: no target")
        interval = ("" if site["ci_low"] is None else
                    f"[{site['ci_low']:.3f}, {site['ci_high']:.3f}]")
        print(f"  {site['group']:<10} {site['model']}  {site['value']:.3f} {interval}  "
              f"{site['n_patients']} patients  {verdict}")


if __name__ == "__main__":
    main()
