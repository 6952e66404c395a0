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
    ({"alpha": 0.6}, r"alpha must be in \(0, 0\.5\]"),
    ({"confidence": 1.0}, "confidence must be in"),
    ({"min_patients": 0}, "min_patients must be at least 1"),
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
