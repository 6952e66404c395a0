"""Surface metrics against MONAI 1.6.1 and DeepMind's ``surface-distance``.

MONAI shares our definitions, so values must agree to float32 precision. Two float32 effects
are the only expected differences: MONAI stores distances as float32 (relative rounding
6e-8; we allow rtol 1e-6), and ``torch.quantile`` computes the HD95 interpolation position
0.95·(n-1) in float32, which moves HD95 by at most |Δposition| x the largest gap between
consecutive sorted distances; :func:`float32_quantile_slack` computes that bound exactly.
HD95 is also checked at rtol 1e-6 against the float64 percentile of MONAI's own distances.

DeepMind defines the surface differently (voxel-corner grid, area-weighted); the expected
differences are stated with each comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import surface_distance as deepmind
import torch
from metric_shapes import Shapes
from monai.metrics import (
    compute_average_surface_distance,
    compute_hausdorff_distance,
    compute_surface_dice,
)
from monai.metrics.utils import get_edge_surface_distance

from medselect.metrics.surface import assd, hd, hd95, nsd, surface_distances

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:surface_distance"),
    pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning"),
]

S = Shapes
RTOL = 1e-6
TOLERANCES_MM = (1.0, 2.0)


def _outliers(shape, count, seed):
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(np.random.default_rng(seed).integers(0, min(shape), (count, len(shape))).T)] = True
    return mask


BALL = S.ball((40,) * 3, (1, 1, 1), (20, 20, 20), 10)
CASES = {  # name: (pred, ref, spacing)
    "sphere-shifted": (S.ball((40,) * 3, (1, 1, 1), (23, 20, 20), 10), BALL, (1, 1, 1)),
    "sphere-anisotropic": (S.ball((40, 40, 16), (0.8, 0.8, 2.5), (18, 15, 22), 9),
                           S.ball((40, 40, 16), (0.8, 0.8, 2.5), (16, 16, 19), 11),
                           (0.8, 0.8, 2.5)),
    "cubes": (S.box((32,) * 3, (8, 9, 10), (22, 24, 20)),
              S.box((32,) * 3, (10, 8, 10), (24, 22, 22)), (1, 1, 1)),
    "box-rotated-30deg": (S.rotated_box((40, 40, 24), (1, 1, 1.5), (20, 20, 18), (12, 6, 9), 30),
                          S.rotated_box((40, 40, 24), (1, 1, 1.5), (20, 20, 18), (12, 6, 9), 0),
                          (1, 1, 1.5)),
    "2d-box-rotated": (S.rotated_box((48, 48), (0.5, 0.7), (12, 16), (8, 4), 20),
                       S.rotated_box((48, 48), (0.5, 0.7), (12, 16), (8, 4), 35), (0.5, 0.7)),
    "2d-disk-shifted": (S.ball((48, 48), (1, 1), (25, 22), 12),
                        S.ball((48, 48), (1, 1), (22, 24), 12), (1, 1)),
    "touching-border": (S.box((32,) * 3, (0, 0, 0), (16, 32, 20)),
                        S.ball((32,) * 3, (1, 1, 1), (12, 16, 12), 10), (1, 1, 1)),
    "outliers": (BALL | _outliers(BALL.shape, 6, seed=1), BALL, (1, 1, 1)),
    "disjoint": (S.ball((48,) * 3, (1, 1, 1), (10, 10, 10), 5),
                 S.ball((48,) * 3, (1, 1, 1), (36, 36, 30), 6), (1, 1, 1)),
    "nested": (S.ball((40,) * 3, (1, 1, 1), (20, 20, 20), 6), BALL, (1, 1, 1)),
    "thin-line": (S.box((24,) * 3, (4, 10, 10), (20, 11, 11)),
                  S.box((24,) * 3, (4, 11, 12), (20, 12, 13)), (1, 1, 1)),
    "thin-plane": (S.box((24,) * 3, (4, 4, 10), (20, 20, 11)),
                   S.box((24,) * 3, (4, 4, 11), (20, 20, 13)), (1, 1, 2)),
    "2d-thin-curve": (S.ball((32, 32), (1, 1), (16, 16), 9) & ~S.ball((32, 32), (1, 1),
                                                                       (16, 16), 8),
                      S.ball((32, 32), (1, 1), (17, 15), 8), (0.9, 1.2)),
    "random-2d": (np.random.default_rng(2).random((16, 16)) > 0.6,
                  np.random.default_rng(3).random((16, 16)) > 0.5, (1.0, 0.6)),
    "random-3d": (np.random.default_rng(4).random((12, 12, 12)) > 0.7,
                  np.random.default_rng(5).random((12, 12, 12)) > 0.6, (1.3, 0.9, 2.0)),
}
THIN = {"thin-line", "thin-plane", "2d-thin-curve", "random-2d", "random-3d"}
"""Cases whose structures are one voxel thick somewhere, where MONAI's boundary (voxel centres)
and DeepMind's surface (voxel faces) are far apart relative to the structure."""


def _tensor(mask: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(mask[None, None].astype(np.float32))


def monai_values(pred, ref, spacing) -> dict[str, float]:
    p, r = _tensor(pred), _tensor(ref)
    common = {"include_background": True, "spacing": [float(s) for s in spacing]}
    values = {
        "hd": compute_hausdorff_distance(p, r, **common).item(),
        "hd95": compute_hausdorff_distance(p, r, percentile=95, **common).item(),
        "assd": compute_average_surface_distance(p, r, symmetric=True, **common).item(),
    }
    for tol in TOLERANCES_MM:
        values[f"nsd@{tol}"] = compute_surface_dice(p, r, [tol], **common).item()
    return values


def ours(pred, ref, spacing) -> dict[str, float]:
    d = surface_distances(pred, ref, spacing)
    values = {"hd": hd(d), "hd95": hd95(d), "assd": assd(d)}
    values.update({f"nsd@{tol}": nsd(d, tol) for tol in TOLERANCES_MM})
    return values


def monai_distances(pred, ref, spacing) -> tuple[np.ndarray, np.ndarray]:
    _, (pred_to_ref, ref_to_pred), _ = get_edge_surface_distance(
        _tensor(pred)[0, 0], _tensor(ref)[0, 0], spacing=[float(s) for s in spacing],
        symmetric=True)
    return pred_to_ref.numpy().astype(np.float64), ref_to_pred.numpy().astype(np.float64)


def float32_quantile_slack(*directions: np.ndarray) -> float:
    """Largest HD95 change caused by torch computing 0.95·(n-1) in float32."""
    slack = 0.0
    for d in directions:
        n = len(d)
        shift = abs(float(np.float32(0.95) * np.float32(n - 1)) - 0.95 * (n - 1))
        slack = max(slack, shift * (np.diff(np.sort(d)).max() if n > 1 else 0.0))
    return slack


@pytest.mark.parametrize("name", list(CASES))
def test_equal_to_monai(name):
    pred, ref, spacing = CASES[name]
    got, expected = ours(pred, ref, spacing), monai_values(pred, ref, spacing)
    slack = float32_quantile_slack(*monai_distances(pred, ref, spacing))
    for key, value in expected.items():
        extra = slack if key == "hd95" else 0.0
        assert got[key] == pytest.approx(value, rel=RTOL, abs=1e-6 + extra), key


@pytest.mark.parametrize("name", list(CASES))
def test_same_distances_as_monai(name):
    """Same boundary voxels and distances as MONAI, so HD95 matches its definition in float64."""
    pred, ref, spacing = CASES[name]
    d = surface_distances(pred, ref, spacing)
    pred_to_ref, ref_to_pred = monai_distances(pred, ref, spacing)
    np.testing.assert_allclose(np.sort(d.pred_to_ref), np.sort(pred_to_ref), rtol=RTOL)
    np.testing.assert_allclose(np.sort(d.ref_to_pred), np.sort(ref_to_pred), rtol=RTOL)
    expected = max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95))
    assert hd95(d) == pytest.approx(expected, rel=RTOL)


@pytest.mark.filterwarnings("ignore:the (ground truth|prediction) of class")
@pytest.mark.parametrize("empty", ["both", "pred", "ref"])
def test_empty_masks_against_monai(empty):
    """MONAI gives NaN when both are empty; when one is, inf for HD and ASSD, NaN for HD95
    (torch.quantile of infinities) and 0 for NSD. We apply the documented policy instead."""
    full = S.ball((20, 20, 20), (1, 1, 2), (10, 10, 20), 6)
    nothing = np.zeros_like(full)
    pred = nothing if empty in ("both", "pred") else full
    ref = nothing if empty in ("both", "ref") else full
    expected = monai_values(pred, ref, (1, 1, 2))
    got = ours(pred, ref, (1, 1, 2))
    diagonal = math.hypot(20, 20, 40)
    if empty == "both":
        assert all(math.isnan(v) for v in expected.values())
        assert got == {"hd": 0.0, "hd95": 0.0, "assd": 0.0, "nsd@1.0": 1.0, "nsd@2.0": 1.0}
    else:
        assert math.isnan(expected.pop("hd95"))
        assert expected == {"hd": math.inf, "assd": math.inf, "nsd@1.0": 0.0, "nsd@2.0": 0.0}
        assert got == pytest.approx({"hd": diagonal, "hd95": diagonal, "assd": diagonal,
                                     "nsd@1.0": 0.0, "nsd@2.0": 0.0})


def deepmind_values(pred, ref, spacing) -> dict[str, float]:
    d = deepmind.compute_surface_distances(ref, pred, spacing)
    values = {
        "hd": deepmind.compute_robust_hausdorff(d, 100),
        "hd95": deepmind.compute_robust_hausdorff(d, 95),
        # DeepMind returns the two directed area-weighted means; we pool the distances
        "assd": float(np.mean(deepmind.compute_average_surface_distance(d))),
    }
    for tol in TOLERANCES_MM:
        values[f"nsd@{tol}"] = deepmind.compute_surface_dice_at_tolerance(d, tol)
    return values


@pytest.mark.parametrize("name", list(CASES))
def test_distances_close_to_deepmind(name):
    """DeepMind's surface points lie on the voxel-corner grid, within half a voxel diagonal of
    MONAI's boundary voxel centres on each side, so HD, HD95 and ASSD differ by at most one
    voxel diagonal (area weighting moves percentiles and means inside the same bound)."""
    pred, ref, spacing = CASES[name]
    got, expected = ours(pred, ref, spacing), deepmind_values(pred, ref, spacing)
    voxel_diagonal = math.hypot(*spacing)
    for key in ("hd", "hd95", "assd"):
        assert abs(got[key] - expected[key]) <= voxel_diagonal, key


@pytest.mark.parametrize("name", [n for n in CASES if n not in THIN])
def test_nsd_close_to_deepmind_on_solid_shapes(name):
    """Counting boundary voxels instead of weighting surface elements by area, and the half-voxel
    offset of the surfaces, move NSD by at most 0.2 on solid shapes at tolerances >= 1 mm."""
    pred, ref, spacing = CASES[name]
    got, expected = ours(pred, ref, spacing), deepmind_values(pred, ref, spacing)
    for tol in TOLERANCES_MM:
        assert abs(got[f"nsd@{tol}"] - expected[f"nsd@{tol}"]) <= 0.2, tol


@pytest.mark.parametrize("name", sorted(THIN))
def test_nsd_agrees_with_deepmind_beyond_thin_offsets(name):
    """On one-voxel structures DeepMind's surfaces wrap each voxel half a voxel out, so NSD only
    agrees once the tolerance exceeds the largest distance of both by a voxel diagonal: 1."""
    pred, ref, spacing = CASES[name]
    d = surface_distances(pred, ref, spacing)
    tol = hd(d) + math.hypot(*spacing)
    dm = deepmind.compute_surface_distances(ref, pred, spacing)
    assert nsd(d, tol) == deepmind.compute_surface_dice_at_tolerance(dm, tol) == 1.0


@pytest.mark.parametrize("empty", ["both", "pred", "ref"])
def test_empty_masks_against_deepmind(empty, monkeypatch):
    """DeepMind gives NaN when both are empty and inf distances / NSD 0 when one is."""
    # surface-distance 0.1 still spells np.Inf, which NumPy 2 removed
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)
    full = S.box((12, 12, 12), (3, 3, 3), (8, 9, 7))
    nothing = np.zeros_like(full)
    pred = nothing if empty in ("both", "pred") else full
    ref = nothing if empty in ("both", "ref") else full
    dm = deepmind.compute_surface_distances(ref, pred, (1, 1, 1))
    d = surface_distances(pred, ref, (1, 1, 1))
    if empty == "both":
        with np.errstate(invalid="ignore"):
            assert math.isnan(deepmind.compute_surface_dice_at_tolerance(dm, 1.0))
        assert nsd(d, 1.0) == 1.0 and hd(d) == 0.0
    else:
        assert deepmind.compute_robust_hausdorff(dm, 95) == math.inf
        assert hd95(d) == pytest.approx(math.hypot(12, 12, 12))
