import json

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from medselect.config.ranking import RankingSpec, parse_constraint, parse_tie_break
from medselect.rank import RankingError, preference_from_spec, rank_table, statistics_from_spec
from medselect.rank.paired import PairedTest

DIRECTIONS = {"dice": "higher", "hd95": "lower"}


def test_defaults():
    spec = RankingSpec()
    assert spec.metric is None and spec.label == "mean" and spec.aggregate == "mean"
    assert spec.by == [] and spec.bootstrap_resamples == 1000 and spec.confidence == 0.95
    assert spec.alpha == 0.05 and spec.seed == 0 and spec.metrics() == {}


def test_yaml_section_round_trip():
    text = """
    ranking:
      metric: dice
      aggregate: p10
      by: [site]
      tie_break: [fewer_parameters, "metric:hd95"]
      constraints: ["hd95 <= 5", "dice:tibia >= 0.8 on p10"]
      pareto: [dice, hd95]
    """
    spec = RankingSpec(**yaml.safe_load(text)["ranking"])
    assert spec.metrics() == {"dice": 1.0}
    assert RankingSpec(**spec.model_dump()) == spec
    pref = preference_from_spec(spec)
    assert pref.constraints[1].label == "tibia" and pref.constraints[1].aggregate == "p10"
    assert [t.text for t in pref.tie_break] == ["fewer_parameters", "metric:hd95"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("colour", "red", "Extra inputs are not permitted"),
    ("constraints", ["hd95 is small"], "is not of the form"),
    ("tie_break", ["smallest"], "unknown tie-break 'smallest'"),
    ("pareto", ["dice"], "at least 2 metrics"),
    ("weights", {"dice": -1}, "weights must be positive"),
    ("confidence", 95, "less than 1"),
    ("test", "ttest", "'bootstrap' or 'wilcoxon'"),
])
def test_invalid_fields_name_the_problem(field, value, message):
    with pytest.raises(ValidationError, match=message):
        RankingSpec(**{field: value})


def test_metric_must_be_weighted_when_weights_are_given():
    with pytest.raises(ValidationError, match="not among weights"):
        RankingSpec(metric="nsd", weights={"dice": 1, "hd95": 1})
    assert RankingSpec(metric="dice", weights={"dice": 2, "hd95": 1}).metrics() == {
        "dice": 2, "hd95": 1}


def test_parsers():
    c = parse_constraint("hd95<=5")
    assert (c.metric, c.op, c.threshold, c.aggregate, c.label) == ("hd95", "<=", 5, "mean", None)
    assert c.holds(5.0) and not c.holds(5.1) and not c.holds(float("nan"))
    assert str(parse_constraint("dice >= .8 on p10")) == "dice >= 0.8 on p10"
    assert parse_tie_break("max:throughput").column == "throughput"
    assert not parse_tie_break("max:throughput").lower_is_better


def test_conversion_and_missing_metric():
    spec = RankingSpec(metric="dice", bootstrap_resamples=50, test="bootstrap", seed=3)
    stats = statistics_from_spec(spec)
    assert (stats.n_resamples, stats.seed, stats.test) == (50, 3, PairedTest.BOOTSTRAP)
    with pytest.raises(RankingError, match=r"ranking\.metric is not set"):
        preference_from_spec(RankingSpec())


def test_rank_table_end_to_end(noisy_table):
    hd95 = noisy_table.assign(metric="hd95", value=lambda t: 10 * (1 - t["value"]))
    table = pd.concat([noisy_table, hd95])
    spec = RankingSpec(weights={"dice": 1, "hd95": 1}, by=["site"], bootstrap_resamples=100,
                       constraints=["hd95 <= 2.4"], pareto=["dice", "hd95"])
    report = rank_table(table, spec, DIRECTIONS)
    assert report.leaderboard.best == "good"
    assert set(report.ranking.excluded) == {"poor"}
    assert report.significance.models == ("fair", "good")
    assert report.selections["site"].models() == {"A": "good", "B": "good"}
    assert list(report.to_frame().index) == ["good", "fair"]
    json.dumps(report.to_dict(), allow_nan=False)
