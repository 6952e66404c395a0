"""The legend of a landmarks overlay names what it draws: green reference points, red
predicted points, yellow error lines (no contour rows, no "no reference" for label maps)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from medselect.evaluate import overlay_style as style
from medselect.evaluate.overlay import VIEW_BOX, render_overlay
from medselect.evaluate.overlay_margin import compose, legend_rows

IMAGE = np.random.default_rng(0).normal(100.0, 10.0, (32, 32)).astype(np.float32)


def texts(rows) -> list[str]:
    return [row.text for row in rows]


def test_points_alone_list_markers_and_error_lines_only():
    assert texts(legend_rows((), False, False, (True, True))) == [
        "reference points (green)", "predicted points (red)", "error lines (yellow)"]
    assert texts(legend_rows((), False, False, (False, True))) == [
        "no reference points", "predicted points (red)"]


def test_label_maps_keep_their_rows_and_add_points_after_them():
    assert texts(legend_rows(["femur"], True, False)) == ["reference", "no prediction", "femur"]
    assert texts(legend_rows(["femur"], True, True, (True, True)))[:3] == [
        "reference", "prediction", "femur"]
    # no label maps and no points (a classification overlay): unchanged
    assert texts(legend_rows((), False, False)) == ["no reference", "no prediction"]


def panel(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=int)[:, img.info[VIEW_BOX][2]:]


def test_a_landmarks_overlay_draws_the_points_legend():
    def drawn(ref, pred) -> np.ndarray:
        return panel(render_overlay(IMAGE, reference=None, prediction=None, spacing=1.0,
                                    classes=(), scale=4, landmarks_ref=ref,
                                    landmarks_pred=pred))

    def expected(points: tuple[bool, bool]) -> np.ndarray:
        view = Image.new("RGB", (128, 128))  # 32 pixels at scale 4
        return panel(compose(view, "", legend_rows((), False, False, points), [],
                             style.Pen.for_display(128)))

    point = {"a": (12.0, 11.0)}
    assert np.array_equal(drawn({"a": (10.0, 10.0)}, point), expected((True, True)))
    assert np.array_equal(drawn(None, point), expected((False, True)))
