"""Time medselect's segmentation metric engine against MONAI, DeepMind surface-distance and medpy.

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--quick] [--repeat N]``

Cases (spacing 1 x 1 x 2 mm): a sphere against a shifted, slightly smaller sphere, and a
5-class case of ellipsoids whose predictions are shifted, grown or shrunk. For HD95, ASSD and
NSD (tolerance 2 mm) each tool computes the metric alone, for every class; times are the median
of ``--repeat`` runs after a warm-up (ours and MONAI's interleaved, so a shared machine's load
falls on both; the load is printed), "x MONAI" is time / MONAI's time (target <= 0.5 for one
class), and max|Δ| is the largest absolute
difference from MONAI's value over the classes. "Δ def" compares with MONAI's definition in
float64 (its own boundary distances, untimed), which is what medselect promises to equal; MONAI
itself computes the HD95 percentile position in float32, so Δ to its output can be larger.
DeepMind (corner-grid surfels, area-weighted) and medpy's HD95 (one percentile of both
directions pooled) use other definitions, so their Δ is expected; medpy 0.5's ASSD pools the
distances of both directions like MONAI, but its distance transform spans the whole image.
Finally the full metric set (10 metrics) of the 5-class case is timed against MONAI called once
per metric for all classes. Inputs for the peers (one-hot tensors, binary masks) are built
outside the timed region. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable
from typing import TypeVar

import medpy.metric.binary as medpy
import numpy as np
import surface_distance as deepmind
import torch
from monai.metrics import (
    compute_absolute_volume_difference,
    compute_average_surface_distance,
    compute_confusion_matrix_metric,
    compute_dice,
    compute_hausdorff_distance,
    compute_iou,
    compute_surface_dice,
    get_confusion_matrix,
)
from monai.metrics.utils import get_edge_surface_distance

from medselect.metrics import SEGMENTATION_METRICS, segmentation_metrics

T = TypeVar("T")
SPACING = (1.0, 1.0, 2.0)
TOLERANCE_MM = 2.0
SURFACE = ("hd95", "assd", "nsd")


def ellipsoid(shape, centre_mm, radii_mm) -> np.ndarray:
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g * s - c) / r) ** 2
               for g, s, c, r in zip(grid, SPACING, centre_mm, radii_mm, strict=True)) <= 1


def sphere_case(shape):
    size = np.array(shape) * SPACING
    r = 0.3 * size.min()
    ref = ellipsoid(shape, size / 2, (r, r, r)).astype(np.uint8)
    pred = ellipsoid(shape, size / 2 + (3.0, -2.0, 4.0), (0.95 * r,) * 3).astype(np.uint8)
    return pred, ref, ["sphere"]


def multiclass_case(shape):
    size = np.array(shape) * SPACING
    ref, pred = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    organs = [  # centre (fraction of size), radii (fraction), prediction shift (mm), scale
        ((0.30, 0.35, 0.50), (0.18, 0.12, 0.20), (2.0, 1.0, 0.0), 1.00),
        ((0.70, 0.35, 0.45), (0.12, 0.15, 0.15), (-1.0, 2.0, 2.0), 1.05),
        ((0.50, 0.70, 0.50), (0.20, 0.10, 0.25), (0.0, -3.0, 2.0), 0.95),
        ((0.25, 0.75, 0.30), (0.06, 0.06, 0.10), (1.0, 1.0, 4.0), 1.10),
        ((0.75, 0.75, 0.70), (0.08, 0.05, 0.08), (-2.0, 0.0, -2.0), 0.90),
    ]
    for label, (centre, radii, shift, scale) in enumerate(organs, start=1):
        c, r = np.array(centre) * size, np.array(radii) * size
        ref[ellipsoid(shape, c, r)] = label
        pred[ellipsoid(shape, c + shift, r * scale)] = label
    return pred, ref, [f"organ{i}" for i in range(1, 6)]


def median_time(fn: Callable[[], T], repeat: int, warm_up: bool = True) -> tuple[float, T]:
    values = fn() if warm_up else None  # imports, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        values = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), values


class Peers:
    """Each tool's per-class values of one metric, on inputs prepared once."""

    def __init__(self, pred: np.ndarray, ref: np.ndarray, classes: list[str]):
        self.pred, self.ref, self.classes = pred, ref, classes
        n = len(classes) + 1
        self.p = torch.nn.functional.one_hot(torch.as_tensor(pred, dtype=torch.long), n)
        self.r = torch.nn.functional.one_hot(torch.as_tensor(ref, dtype=torch.long), n)
        self.p = self.p.movedim(-1, 0)[None].float()
        self.r = self.r.movedim(-1, 0)[None].float()
        self.masks = [(pred == i, ref == i) for i in range(1, n)]

    def ours(self, metrics: list[str]) -> dict[str, list[float]]:
        rows = segmentation_metrics(self.pred, self.ref, SPACING, self.classes, metrics=metrics,
                                    nsd_tolerance_mm=TOLERANCE_MM)
        out: dict[str, list[float]] = {m: [] for m in metrics}
        for row in rows:
            if row.label in self.classes:
                out[row.metric].append(row.value)
        return out

    def monai(self, metric: str) -> list[float]:
        kw = {"include_background": False, "spacing": list(SPACING)}
        p, r = self.p, self.r
        if metric in ("hd", "hd95"):
            t = compute_hausdorff_distance(p, r, percentile=95 if metric == "hd95" else None, **kw)
        elif metric == "assd":
            t = compute_average_surface_distance(p, r, symmetric=True, **kw)
        elif metric == "nsd":
            t = compute_surface_dice(p, r, [TOLERANCE_MM] * len(self.classes), **kw)
        elif metric in ("dice", "iou"):
            t = (compute_dice if metric == "dice" else compute_iou)(p, r, include_background=False)
        elif metric in ("precision", "sensitivity"):
            t = compute_confusion_matrix_metric(metric, get_confusion_matrix(p, r, False))
        else:
            avd = compute_absolute_volume_difference(p, r, include_background=False)
            if metric == "volume_diff":
                t = avd * float(np.prod(SPACING))
            else:
                t = 100 * avd / r[:, 1:].sum(dim=(2, 3, 4))
        return t[0].tolist()

    def monai_definition(self, metric: str) -> list[float]:
        """MONAI's own boundary distances, reduced in float64 (untimed)."""
        out = []
        for pred, ref in self.masks:
            _, (a, b), _ = get_edge_surface_distance(
                torch.as_tensor(pred), torch.as_tensor(ref), spacing=list(SPACING),
                symmetric=True, warn_empty=False)
            a, b = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
            if metric == "hd95":
                out.append(max(np.percentile(a, 95), np.percentile(b, 95)))
            elif metric == "assd":
                out.append(np.concatenate([a, b]).mean())
            else:
                out.append(((a <= TOLERANCE_MM).sum() + (b <= TOLERANCE_MM).sum())
                           / (a.size + b.size))
        return out

    def deepmind(self, metric: str) -> list[float]:
        out = []
        for pred, ref in self.masks:
            d = deepmind.compute_surface_distances(ref, pred, SPACING)
            if metric == "hd95":
                out.append(deepmind.compute_robust_hausdorff(d, 95))
            elif metric == "assd":
                out.append(float(np.mean(deepmind.compute_average_surface_distance(d))))
            else:
                out.append(deepmind.compute_surface_dice_at_tolerance(d, TOLERANCE_MM))
        return out

    def medpy(self, metric: str) -> list[float]:
        fn = medpy.hd95 if metric == "hd95" else medpy.assd
        return [fn(pred, ref, voxelspacing=SPACING) for pred, ref in self.masks]


def max_diff(a: list[float], b: list[float]) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def per_metric_table(peers: Peers, repeat: int, medpy_too: bool = True) -> None:
    print(f"{'metric':7} {'ours s':>8} {'MONAI s':>8} {'DeepMind s':>10} {'medpy s':>8} | "
          f"{'ours xMONAI':>11} {'DM xMONAI':>9} {'medpy xMONAI':>12} | "
          f"{'max|Δ| ours':>11} {'Δ def':>8} {'DM':>7} {'medpy':>7}")
    for metric in SURFACE:
        ours, theirs = [], []
        peers.ours([metric]), peers.monai(metric)  # warm-up
        for _ in range(repeat):  # interleaved, so that a burst of load falls on both
            t, v_ours = median_time(lambda m=metric: peers.ours([m])[m], 1, warm_up=False)
            ours.append(t)
            t, v_monai = median_time(lambda m=metric: peers.monai(m), 1, warm_up=False)
            theirs.append(t)
        t_ours, t_monai = float(np.median(ours)), float(np.median(theirs))
        t_dm, v_dm = median_time(lambda m=metric: peers.deepmind(m), repeat)
        if metric == "nsd" or not medpy_too:  # medpy has no NSD
            t_mp, d_mp, r_mp = "-", "-", "-"
        else:
            t, v_mp = median_time(lambda m=metric: peers.medpy(m), 1, warm_up=False)
            t_mp, d_mp, r_mp = f"{t:.3f}", f"{max_diff(v_mp, v_monai):.3f}", f"{t / t_monai:.2f}"
        d_def = max_diff(v_ours, peers.monai_definition(metric))
        print(f"{metric:7} {t_ours:8.3f} {t_monai:8.3f} {t_dm:10.3f} {t_mp:>8} | "
              f"{t_ours / t_monai:11.2f} {t_dm / t_monai:9.2f} {r_mp:>12} | "
              f"{max_diff(v_ours, v_monai):11.1e} {d_def:8.1e} "
              f"{max_diff(v_dm, v_monai):7.3f} {d_mp:>7}")


def full_set(peers: Peers, repeat: int) -> None:
    names = list(SEGMENTATION_METRICS)
    t_ours, v_ours = median_time(lambda: peers.ours(names), repeat)
    t_monai, v_monai = median_time(lambda: {m: peers.monai(m) for m in names}, repeat)
    worst = max(names, key=lambda m: max_diff(v_ours[m], v_monai[m]))
    print(f"full set ({len(names)} metrics x {len(peers.classes)} classes): ours {t_ours:.3f} s, "
          f"MONAI per metric {t_monai:.3f} s, speed-up {t_monai / t_ours:.1f}x; "
          f"largest max|Δ| {max_diff(v_ours[worst], v_monai[worst]):.1e} ({worst})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small 64x64x32 volume")
    parser.add_argument("--no-medpy", action="store_true", help="skip medpy (minutes)")
    parser.add_argument("--repeat", type=int, default=3, help="median of N runs (medpy: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # like medselect, numpy and scipy: one core per case
    warnings.filterwarnings("ignore")  # MONAI and surface-distance deprecation chatter
    shapes = [(64, 64, 32)] if args.quick else [(128, 128, 64), (256, 256, 128)]
    print(f"spacing {SPACING} mm, NSD tolerance {TOLERANCE_MM} mm, median of {args.repeat}, "
          f"torch threads 1, load {os.getloadavg()[0]:.1f}")
    for shape in shapes:
        for build in (sphere_case, multiclass_case):
            pred, ref, classes = build(shape)
            print(f"\n== {build.__name__.removesuffix('_case')} {'x'.join(map(str, shape))}, "
                  f"{len(classes)} class(es) ==")
            peers = Peers(pred, ref, classes)
            per_metric_table(peers, args.repeat, not args.no_medpy)
            if len(classes) > 1:
                full_set(peers, args.repeat)


if __name__ == "__main__":
    main()
