"""Saliency maps of image-level networks, and how an overlay draws them.

A linear "network" whose class-1 logit reads one pixel and whose class-0 logit reads another
has a gradient that is checked by hand: the map of a case predicted as class 1 peaks at the
pixel class 1 reads, and is zero where only class 0 looks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from medselect.config import RunConfig
from medselect.errors import DataError
from medselect.evaluate.overlay import VIEW_BOX, render_overlay, render_volume_overlays
from medselect.evaluate.saliency import saliency_maps
from medselect.train import build_network

N = 16
CONFIG = RunConfig(architecture="resnet18", input_size=(N, N), features=2, normalization="minmax")


class TwoPixels(torch.nn.Module):
    """Logit 0 reads pixel (12, 12), logit 1 reads pixel (3, 4), of a (1, 1, N, N) input."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([1.0, 5.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0, 12, 12], x[:, 0, 3, 4]], dim=1) * self.scale


def centre(heat: np.ndarray) -> tuple[float, float]:
    x, y = np.meshgrid(np.arange(heat.shape[0]), np.arange(heat.shape[1]), indexing="ij")
    return float((x * heat).sum() / heat.sum()), float((y * heat).sum() / heat.sum())


def test_the_map_shows_the_pixels_of_the_predicted_class():
    image = np.zeros((1, N, N), np.float32)
    image[0, 3, 4] = image[0, 12, 12] = 1.0  # logits 1 and 5: class 1 is predicted
    (heat,) = saliency_maps(TwoPixels(), CONFIG, [image])
    assert heat.shape == (N, N) and heat.dtype == np.float32
    assert centre(heat) == pytest.approx((3, 4), abs=0.01)
    assert heat[3, 4] == 1.0 and heat[12, 12] == 0.0  # class 0's pixel did not move class 1
    assert 0.0 < heat[3, 6] < heat[3, 5] <= heat[3, 4]  # smoothed over about a pixel


def test_maps_come_back_at_each_images_size_in_unit_range_even_under_no_grad():
    torch.manual_seed(0)
    network = build_network(CONFIG, spatial_dims=2, in_channels=1, out_channels=2).eval()
    rng = np.random.default_rng(0)
    images = [rng.normal(size=shape).astype(np.float32) for shape in ((1, 16, 16), (1, 24, 20))]
    with torch.no_grad():  # the caller's context: the maps still get their gradients
        maps = saliency_maps(network, CONFIG, images)
    assert [m.shape for m in maps] == [(16, 16), (24, 20)]
    for heat in maps:
        assert heat.min() >= 0.0 and heat.max() == 1.0 and np.isfinite(heat).all()


def test_the_inputs_prediction_cached_are_reused():
    image = np.zeros((1, N, N), np.float32)
    image[0, 3, 4] = 1.0
    marker = torch.zeros((1, 1, N, N))
    marker[0, 0, 12, 12] = 1.0  # the cache says pixel (12, 12), not the image's (3, 4)
    key = ("inputs", CONFIG.normalization, (N, N), "cpu", (0,))
    (heat,) = saliency_maps(TwoPixels(), CONFIG, [image], shared={key: marker})
    assert centre(heat) == pytest.approx((12, 12), abs=0.01)


def heat_pixels(img: Image.Image) -> np.ndarray:
    """Where the view is tinted towards red-yellow: red well above blue."""
    rgb = np.asarray(img.crop(img.info[VIEW_BOX]), dtype=int)
    return rgb[..., 0] - rgb[..., 2] > 60


def test_an_overlay_blends_the_heat_where_the_map_is_high():
    image = np.full((32, 32), 100.0, np.float32)
    heat = np.zeros((32, 32), np.float32)
    heat[20:28, 4:10] = 1.0  # x 20..27, y 4..9: shown at columns 80..111, rows 16..39
    plain = render_overlay(image, reference=None, prediction=None, spacing=1.0, classes=[],
                           scale=4)
    shown = render_overlay(image, reference=None, prediction=None, spacing=1.0, classes=[],
                           scale=4, saliency=heat)
    tinted = heat_pixels(shown)
    assert tinted[24, 96] and not tinted[100, 20] and not heat_pixels(plain).any()
    rows, columns = np.nonzero(tinted)
    assert rows.min() >= 12 and rows.max() <= 43 and columns.min() >= 76 and columns.max() <= 115
    assert shown.size[1] >= plain.size[1]  # the legend names the heat map, not missing contours


def test_a_saliency_map_of_another_shape_is_refused():
    with pytest.raises(DataError, match=r"saliency map has shape \(8, 8\).*image has \(32, 32\)"):
        render_overlay(np.zeros((32, 32)), reference=None, prediction=None, spacing=1.0,
                       classes=[], saliency=np.zeros((8, 8)))


def test_a_volume_without_masks_shows_its_most_salient_slice():
    volume = np.full((16, 16, 6), 100.0, np.float32)
    heat = np.zeros((16, 16, 6), np.float32)
    heat[4:8, 4:8, 4] = 1.0
    (name, img), = render_volume_overlays(volume, None, None, (1.0, 1.0, 2.0), [], saliency=heat)
    assert name == "z=4 (most salient)" and heat_pixels(img).any()
    (plain_name, _), = render_volume_overlays(volume, None, None, (1.0, 1.0, 2.0), [])
    assert plain_name == "z=3 (middle)"
