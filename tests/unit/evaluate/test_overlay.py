"""Overlays: sizes, where green and red land, landmarks, 3D slice choice, thumbnails, PNG files.

Positions are checked by hand: with ``scale=4`` and 1 mm pixels, voxel (x, y) is shown at
column ``4x + 1.5`` and row ``top + 4y + 1.5`` (voxel centres at integers, pixel centres at
half-integers), and a disc's 0.5 iso-contour lies half a voxel outside its last voxel.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from medselect.errors import DataError
from medselect.evaluate import overlay_style as style
from medselect.evaluate.overlay import (
    VIEW_BOX,
    format_metric,
    render_overlay,
    render_volume_overlays,
    save_png,
    thumbnail,
)

N = 64
SCALE = 4


def disc(centre_x: float, centre_y: float, radius: float, shape=(N, N)) -> np.ndarray:
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return ((x - centre_x) ** 2 + (y - centre_y) ** 2 < radius**2).astype(np.uint8)


def grey_image(shape=(N, N)) -> np.ndarray:
    return np.random.default_rng(0).normal(100.0, 10.0, shape).astype(np.float32)


def view(img: Image.Image) -> np.ndarray:
    """The image part of an overlay as an (rows, columns, 3) int array."""
    return np.asarray(img.crop(img.info[VIEW_BOX]), dtype=int)


def green(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 1] > 200) & (rgb[..., 0] < 80) & (rgb[..., 2] < 80)


def red(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 200) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)


def near(mask: np.ndarray, column: float, row: float, radius: int = 2) -> bool:
    c, r = round(column), round(row)
    return bool(mask[r - radius:r + radius + 1, c - radius:c + radius + 1].any())


def shown_at(voxel: float) -> float:
    return SCALE * voxel + 1.5


REF = disc(32, 32, 12)  # boundary iso-lines at x = 20.5 and x = 43.5 on row y = 32
PRED = disc(38, 32, 12)  # the same disc 6 voxels to the right: x = 26.5 and x = 49.5


def render(**kwargs) -> Image.Image:
    args = dict(reference=REF, prediction=PRED, spacing=(1.0, 1.0), classes=["disc"],
                scale=SCALE)
    return render_overlay(grey_image(), **{**args, **kwargs})


def test_output_is_an_rgb_image_with_margin_and_view_of_expected_size():
    img = render(metrics={"dice": 0.5, "hd95": 6.0}, title="case-1 / model-a")
    box = img.info[VIEW_BOX]
    assert img.mode == "RGB"
    assert (box[2] - box[0], box[3] - box[1]) == (N * SCALE, N * SCALE)
    assert box[1] > 0  # a title bar above the image
    assert img.width > N * SCALE  # a legend and metrics panel beside it
    assert img.height >= box[3]


def test_default_scale_makes_a_small_case_at_least_512_pixels_wide():
    img = render(scale=None)
    assert img.info[VIEW_BOX][2] == 512


def test_reference_is_green_and_prediction_red_along_their_boundaries():
    rgb = view(render())
    row = shown_at(32)
    assert near(green(rgb), shown_at(20.5), row)
    assert near(green(rgb), shown_at(43.5), row)
    assert near(red(rgb), shown_at(26.5), row)
    assert near(red(rgb), shown_at(49.5), row)
    # Far from every boundary there is neither colour: the disc centre and an empty corner.
    for column, row_ in ((shown_at(35), shown_at(32)), (shown_at(5), shown_at(5))):
        assert not near(green(rgb) | red(rgb), column, row_, radius=4)


def test_image_is_transposed_for_display_rows_are_y():
    ref = disc(10, 40, 5)  # left (small x), low (large y)
    rgb = view(render(reference=ref, prediction=None))
    assert near(green(rgb), shown_at(10), shown_at(40 - 5 + 0.5))
    assert not green(rgb)[: int(shown_at(30))].any()  # nothing in the upper part


def test_no_prediction_draws_no_red_anywhere():
    img = render(prediction=None)
    assert not red(np.asarray(img, dtype=int)).any()
    assert green(view(img)).any()


def test_no_reference_shows_the_prediction_alone():
    img = render(reference=None)
    assert not green(np.asarray(img, dtype=int)).any()
    assert near(red(view(img)), shown_at(26.5), shown_at(32))


def test_landmarks_are_green_and_red_markers_joined_by_an_error_line():
    img = render(reference=None, prediction=None, landmarks_ref={"a": (10.0, 10.0)},
                 landmarks_pred={"a": (30.0, 12.0), "b": None})
    rgb = view(img)
    assert near(green(rgb), shown_at(10), shown_at(10), radius=1)
    assert near(red(rgb), shown_at(30), shown_at(12), radius=1)
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 80)
    assert near(yellow, shown_at(20), shown_at(11), radius=1)
    assert not near(green(rgb) | red(rgb), shown_at(20), shown_at(11), radius=1)


def test_landmarks_are_in_mm_and_follow_the_spacing():
    rgb = view(render(reference=None, prediction=None, spacing=(0.5, 0.5),
                      landmarks_ref={"a": (5.0, 5.0)}))  # voxel (10, 10)
    assert near(green(rgb), shown_at(10), shown_at(10), radius=1)


@pytest.mark.parametrize(("spacing", "shape"), [((1.0, 2.0), (64, 128)), ((2.0, 1.0), (128, 64)),
                                                 ((0.5, 0.5), (64, 64))])
def test_physical_aspect_ratio_is_kept(spacing, shape):
    box = render(spacing=spacing, scale=1).info[VIEW_BOX]
    assert (box[2] - box[0], box[3] - box[1]) == shape


def test_non_square_array_is_shown_x_across():
    ref = np.zeros((40, 20), np.uint8)
    img = render_overlay(grey_image((40, 20)), reference=ref, prediction=None, spacing=1.0,
                         classes=["a"], scale=2)
    box = img.info[VIEW_BOX]
    assert (box[2] - box[0], box[3] - box[1]) == (80, 40)


def test_several_classes_each_get_their_contour():
    labels = disc(16, 16, 8) + 2 * disc(46, 46, 8)
    rgb = view(render(reference=labels, prediction=None, classes=["a", "b"]))
    assert near(green(rgb), shown_at(16 - 8 + 0.5), shown_at(16))
    # Class "b" is dashed: its contour shows somewhere near the left end of the disc.
    assert green(rgb)[round(shown_at(38)):round(shown_at(54)),
                      round(shown_at(37)):round(shown_at(39))].any()


def test_dashed_line_has_gaps_and_solid_has_none():
    def covered(line_style: style.LineStyle) -> int:
        canvas = Image.new("RGB", (120, 10))
        style.draw_polyline(ImageDraw.Draw(canvas), np.array([[10.0, 5.0], [110.0, 5.0]]),
                            (255, 0, 0), 2, line_style, unit=3.0)
        return int(red(np.asarray(canvas, dtype=int)).any(axis=0).sum())

    solid, dashed, dotted = (covered(style.LINE_STYLES[i]) for i in range(3))
    assert solid >= 100
    assert 50 < dashed < 80  # on 12 px, off 7.5 px
    assert 25 < dotted < 50  # on 3 px, off 6 px


@pytest.mark.parametrize("index", [0, 1, 3])
def test_polylines_drawn_together_look_as_drawn_one_by_one(index):
    """Each polyline restarts its pattern; a one-point polyline between them draws nothing."""
    pieces = [np.array([[10.0, 5.0], [60.0, 5.0], [60.0, 30.0]]),  # an L: 75 px long
              np.array([[70.0, 20.0]]),
              np.array([[15.5, 40.0], [90.0, 44.0], [20.0, 50.0], [15.5, 40.0]])]  # closed
    line_style = style.LINE_STYLES[index]

    def drawn(one_by_one: bool) -> np.ndarray:
        canvas = Image.new("RGB", (100, 60))
        draw = ImageDraw.Draw(canvas)
        if one_by_one:
            for piece in pieces:
                style.draw_polyline(draw, piece, (255, 0, 0), 2, line_style, unit=3.0)
        else:
            style.draw_polylines(draw, np.concatenate(pieces), [len(p) for p in pieces],
                                 (255, 0, 0), 2, line_style, unit=3.0)
        return red(np.asarray(canvas, dtype=int))

    together = drawn(one_by_one=False)
    assert np.array_equal(together, drawn(one_by_one=True))
    assert together[4:7, 10:13].any()  # every pattern starts with a dash at its first point
    assert together[39:42, 15:18].any()
    assert not together[18:23, 68:73].any()


def test_legend_follows_the_classes_and_repeats_identically():
    def panel(classes: list[str]) -> np.ndarray:
        img = render(reference=np.minimum(REF, len(classes)), classes=classes)
        return np.asarray(img, dtype=int)[:, img.info[VIEW_BOX][2]:]

    assert np.array_equal(panel(["disc"]), panel(["disc"]))
    assert not np.array_equal(panel(["disc"]), panel(["ring"]))  # the cache keys on the rows


def test_label_map_of_wrong_shape_or_labels_is_refused():
    with pytest.raises(DataError, match="prediction label map has shape"):
        render(prediction=np.zeros((N, N + 1), np.uint8))
    with pytest.raises(DataError, match=r"labels 0 to 2, but classes \['disc'\] allow only 0"):
        render(reference=2 * REF)
    with pytest.raises(DataError, match="2D image"):
        render_overlay(np.zeros((4, 4, 4)), reference=None, prediction=None, spacing=1.0,
                       classes=["a"])


def test_float_label_maps_with_integer_values_are_accepted():
    rgb = view(render(reference=REF.astype(np.float64), prediction=None))
    assert near(green(rgb), shown_at(20.5), shown_at(32))


def test_format_metric_uses_the_metric_unit():
    assert format_metric("dice", 0.91234) == "0.912"
    assert format_metric("hd95", 1.8) == "1.8 mm"
    assert format_metric("hd95 femur", 12.345) == "12.3 mm"
    assert format_metric("volume_diff", 1234.4, ndim=3) == "1234 mm^3"
    assert format_metric("volume_diff", 12.0, ndim=2) == "12 mm^2"
    assert format_metric("assd", float("nan")) == "n/a"
    assert format_metric("custom", 0.5) == "0.5"


def volume_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference discs growing to z=6 then shrinking; the prediction misses slice z=2."""
    radii = [3, 4, 5, 6, 7, 8, 9, 7, 5, 3]
    ref = np.stack([disc(16, 16, r, (32, 32)) for r in radii], axis=-1)
    pred = ref.copy()
    pred[:, :, 2] = 0  # 5-voxel disc missed: 69 voxels disagree, more than any other slice
    pred[:, :, 6] = disc(16, 16, 8.6, (32, 32))  # a thin ring of disagreement only
    return grey_image((32, 32, 10)), ref, pred


def test_volume_overlays_pick_largest_reference_and_largest_disagreement():
    image, ref, pred = volume_case()
    overlays = render_volume_overlays(image, ref, pred, (1.0, 1.0, 3.0), ["disc"], scale=4,
                                      title="case-3")
    assert [name for name, _ in overlays] == ["z=6 (largest reference)",
                                              "z=2 (largest disagreement)"]
    for _, img in overlays:
        box = img.info[VIEW_BOX]
        assert (box[2] - box[0], box[3] - box[1]) == (128, 128)  # in-plane spacing only
    # On z=2 the prediction is empty: green only.
    rgb = view(overlays[1][1])
    assert green(rgb).any() and not red(rgb).any()


def test_volume_slice_that_is_both_is_rendered_once():
    image, ref, _ = volume_case()
    pred = ref.copy()
    pred[:, :, 6] = 0
    overlays = render_volume_overlays(image, ref, pred, 1.0, ["disc"], scale=2)
    assert [name for name, _ in overlays] == ["z=6 (largest reference, largest disagreement)"]


def test_volume_without_reference_shows_the_largest_prediction():
    image, _, pred = volume_case()
    overlays = render_volume_overlays(image, None, pred, 1.0, ["disc"], scale=2)
    assert [name for name, _ in overlays] == ["z=6 (largest prediction)"]
    assert not green(np.asarray(overlays[0][1], dtype=int)).any()


def test_volume_without_any_mask_shows_the_middle_slice():
    image, _, _ = volume_case()
    names = [name for name, _ in render_volume_overlays(image, None, None, 1.0, ["disc"])]
    assert names == ["z=5 (middle)"]


def test_thumbnail_keeps_the_image_part_and_never_enlarges():
    img = render(metrics={"dice": 0.5}, title="case")
    small = thumbnail(img)
    assert small.size == (160, 160)  # the square view, without title and legend
    assert thumbnail(img, max_side=40).size == (40, 40)
    tiny = Image.new("RGB", (30, 20))
    assert thumbnail(tiny).size == (30, 20)
    with pytest.raises(ValueError, match="max_side"):
        thumbnail(tiny, max_side=0)


def test_save_png_round_trips_and_leaves_no_temp_files(tmp_path):
    img = render(title="case")
    path = save_png(img, tmp_path / "overlays" / "case.png")
    save_png(img, path)  # overwriting is fine
    assert [p.name for p in (tmp_path / "overlays").iterdir()] == ["case.png"]
    with Image.open(path) as back:
        assert back.format == "PNG"
        assert np.array_equal(np.asarray(back.convert("RGB")), np.asarray(img))


def test_save_png_removes_its_temp_file_when_writing_fails(tmp_path):
    with pytest.raises(OSError):
        save_png(Image.new("I;16", (4, 4)).convert("CMYK"), tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []
