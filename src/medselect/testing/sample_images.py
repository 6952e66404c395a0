"""The overlays of the sample workspace (:mod:`.sample`): a knee-like slice, drawn per task kind
as evaluation draws real ones (reference green, prediction red), without any model or phantom.

Each function returns the slices of one overlay (one for 2D, several for a 3D case); the
sample writes them side by side with the first slice as the thumbnail, as evaluation does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

OVERLAY_SIDE, THUMB_SIDE = 128, 64
GREEN, RED, YELLOW, WHITE = (0, 210, 0), (230, 0, 0), (240, 200, 0), (255, 255, 255)
PIXELS_PER_MM = 2.0
"""Display scale of the sample's slices: a landmark error of 1 mm moves a point 2 pixels."""
SEG3D_SLICES = 3


def segmentation_slices(case: int, model: int, blob: bool, *, slices: int = 1
                        ) -> list[Image.Image]:
    """Femur and tibia outlined in green, the prediction in red shifted more the worse the
    model, plus a stray red blob when ``blob``; ``slices`` > 1 draws a 3D case's slices."""
    out = []
    for z in range(slices):
        img, bones = knee_slice(case + z)
        draw = ImageDraw.Draw(img)
        shift = 1 + 2 * model + (case + z) % 3
        for x0, y0, x1, y1 in bones:
            draw.ellipse((x0, y0, x1, y1), outline=GREEN, width=2)
            draw.ellipse((x0 + shift, y0 + shift // 2, x1 + shift, y1 - shift // 2),
                         outline=RED, width=2)
        if blob:
            side = OVERLAY_SIDE
            draw.ellipse((side * 0.72, side * 0.1, side * 0.86, side * 0.22), outline=RED,
                         width=2)
        out.append(img)
    return out


def landmark_slices(case: int, errors_mm: Mapping[str, float]) -> list[Image.Image]:
    """Reference points green, predicted points red at each landmark's radial error (NaN: no
    predicted point), joined by yellow error lines."""
    img, (femur, tibia) = knee_slice(case)
    draw = ImageDraw.Draw(img)
    anchors = _landmark_anchors(femur, tibia, len(errors_mm))
    for k, (error, (x, y)) in enumerate(zip(errors_mm.values(), anchors, strict=True)):
        _point(draw, x, y, GREEN)
        if not np.isfinite(error):
            continue
        angle = 0.7 + 1.9 * k + case
        px = x + PIXELS_PER_MM * error * np.cos(angle)
        py = y + PIXELS_PER_MM * error * np.sin(angle)
        draw.line((x, y, px, py), fill=YELLOW, width=1)
        _point(draw, px, py, RED)
    return [img]


def classification_slices(case: int, classes: Sequence[str], reference: int,
                          probabilities: Sequence[float]) -> list[Image.Image]:
    """The slice with a caption: the true class, the predicted one (green when right, red when
    wrong) and its probability; "no prediction" when the probabilities are NaN."""
    img, _ = knee_slice(case)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, OVERLAY_SIDE - 26, OVERLAY_SIDE, OVERLAY_SIDE), fill=(0, 0, 0))
    draw.text((4, OVERLAY_SIDE - 25), f"true: {classes[reference]}", fill=GREEN)
    p = np.asarray(probabilities, dtype=float)
    if np.isfinite(p).all():
        predicted = int(np.argmax(p))
        draw.text((4, OVERLAY_SIDE - 13), f"pred: {classes[predicted]} {p[predicted]:.2f}",
                  fill=GREEN if predicted == reference else RED)
    else:
        draw.text((4, OVERLAY_SIDE - 13), "no prediction", fill=RED)
    return [img]


def side_by_side(slices: Sequence[Image.Image]) -> Image.Image:
    """The slices of one case in one picture, left to right, on white."""
    if len(slices) == 1:
        return slices[0]
    out = Image.new("RGB", (sum(s.width for s in slices), max(s.height for s in slices)), WHITE)
    left = 0
    for img in slices:
        out.paste(img, (left, 0))
        left += img.width
    return out


def knee_slice(case: int) -> tuple[Image.Image, tuple[tuple[float, ...], tuple[float, ...]]]:
    """A grey knee-like slice (femur above, tibia below, varying by ``case``) and the
    bounding boxes of its femur and tibia."""
    side = OVERLAY_SIDE
    grey = np.full((side, side), 35, dtype=np.uint8)
    yy, xx = np.mgrid[:side, :side]
    grey[((xx - side / 2) / (0.42 * side)) ** 2 + ((yy - side / 2) / (0.48 * side)) ** 2 < 1] = 80
    bones = _bones(side, case)
    for (x0, y0, x1, y1), value in zip(bones, (170, 150), strict=True):
        inside = (((xx - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2
                  + ((yy - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2) < 1
        grey[inside] = value
    noise = np.random.default_rng(case).integers(0, 18, grey.shape, dtype=np.uint8)
    return Image.fromarray(grey + noise).convert("RGB"), bones


def _bones(side: int, case: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Bounding boxes of the femur (top) and tibia (bottom) ellipses, varying by case."""
    wobble = (case % 5) * side / 80
    femur = (0.25 * side + wobble, 0.08 * side, 0.75 * side - wobble, 0.47 * side)
    tibia = (0.28 * side, 0.53 * side + wobble, 0.72 * side, 0.92 * side)
    return femur, tibia


def _landmark_anchors(femur: Sequence[float], tibia: Sequence[float], n: int
                      ) -> list[tuple[float, float]]:
    """Where the reference landmarks sit: the femur's lowest point, the tibial plateau's
    centre, then points along the front of the joint."""
    centre = (femur[0] + femur[2]) / 2
    points = [(centre, femur[3]), ((tibia[0] + tibia[2]) / 2, tibia[1])]
    points += [(femur[0] - 4.0, femur[3] - 12.0 * (k + 1)) for k in range(max(0, n - 2))]
    return points[:n]


def _point(draw: ImageDraw.ImageDraw, x: float, y: float, colour: tuple[int, int, int]) -> None:
    draw.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), outline=colour, width=2)
