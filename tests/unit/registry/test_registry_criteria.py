"""GateCriteria: checked values, and the conversion from the experiment file's section."""

from __future__ import annotations

import pytest

from medselect.config.promotion import PromotionSpec
from medselect.errors import ConfigError
from medselect.rank import PairedTest
from medselect.registry import CompareWith, GateCriteria, MetricMargin


def test_from_spec_reads_every_field():
    spec = PromotionSpec.model_validate({
        "primary": {"metric": "dice", "margin": 0.01}, "test": "wilcoxon", "alpha": 0.01,
        "guards": [{"metric": "hd95", "label": "femur", "margin": 1.5}], "site_margin": 0.02,
        "min_patients": 30, "compare_with": "champion"})
    crit = GateCriteria.from_spec(spec, seed=7)
    assert crit.primary == MetricMargin("dice", "mean", 0.01)
    assert crit.guards == (MetricMargin("hd95", "femur", 1.5),)
    assert crit.test is PairedTest.WILCOXON and crit.compare_with is CompareWith.CHAMPION
    assert (crit.alpha, crit.site_margin, crit.min_patients, crit.seed) == (0.01, 0.02, 30, 7)
    assert crit.metrics == ("dice", "hd95")


def test_from_spec_takes_the_ranking_metric_when_the_section_names_none():
    spec = PromotionSpec()
    assert GateCriteria.from_spec(spec, metric="nsd").primary.metric == "nsd"
    with pytest.raises(ConfigError, match=r"promotion\.primary\.metric is not set"):
        GateCriteria.from_spec(spec)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"primary": MetricMargin("dice", margin=-0.1)}, r"primary\.margin must be zero or positive"),
    ({"guards": [MetricMargin("hd95", margin=float("nan"))]}, r"guards\[0\]\.margin"),
    ({"alpha": 0.6}, r"promotion\.alpha: Input should be less than or equal to 0\.5, got 0\.6"),
    ({"confidence": 1.0}, r"promotion\.confidence: Input should be less than 1"),
    ({"min_patients": 0}, r"promotion\.min_patients: Input should be greater than or equal to 1"),
    ({"test": "t-test"}, r"promotion\.test: unknown .* 't-test'"),
    ({"compare_with": "al_versions"}, "did you mean 'all_versions'"),
])
def test_out_of_range_values_are_refused_naming_the_field(kwargs, message):
    kwargs.setdefault("primary", MetricMargin("dice"))
    with pytest.raises(ConfigError, match=message):
        GateCriteria(**kwargs)


def test_to_dict_is_plain_json():
    crit = GateCriteria(MetricMargin("dice"), guards=[MetricMargin("hd95", margin=1.0)])
    assert crit.to_dict()["guards"] == [{"metric": "hd95", "label": "mean", "margin": 1.0}]
    assert crit.to_dict()["test"] == "bootstrap"
    assert crit.guards == (MetricMargin("hd95", margin=1.0),)


def test_the_experiment_file_and_the_gate_share_their_bounds(tmp_path, experiment_file):
    """alpha 0.6 is refused where it is written, with the file, field and line."""
    from medselect.config import load_experiment

    path = experiment_file(space="architecture: unet", extra="promotion: {alpha: 0.6}")
    with pytest.raises(ConfigError, match=r"promotion\.alpha: .*0\.5.*\(line \d+\)") as err:
        load_experiment(path)
    assert str(path) in str(err.value)
