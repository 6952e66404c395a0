"""The best model per site as one table (``group_table``): what ``medselect rank --by site``
prints and the dashboard's sites page shows, with the evidence and where it is too thin."""

import json

import pytest

from medselect import rank
from medselect.choose import choose_model, confirm_figure, group_table, ranking_inputs
from medselect.errors import RankingError
from medselect.metrics import SET_METRICS

OFFSETS = {"r-good": 0.05, "r-twin": 0.05, "r-fair": 0.0, "r-poor": -0.3}


def test_each_site_has_its_choice_runner_up_margin_and_confirmation(knee):
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS, seed=1)
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.connect() as conn:
        choice = choose_model(conn, "knee")
    table = group_table(choice, "site")
    assert [r.group for r in table.rows] == ["a", "b"] and table.overall.group == "(all)"
    for row in table.rows:
        c = row.choice
        assert c.model in {"r-good", "r-twin"} and c.runner_up in {"r-good", "r-twin"}
        assert c.margin_ci_low <= c.margin <= c.margin_ci_high
        assert c.runner_up_standing == "equivalent"  # shown within the default 0.02 margin
        assert row.confirmation.group == row.group and row.confirmation.case_set == "v1-test"
        assert row.confirmation.model == c.model and row.thin is None
    assert table.overall.confirmation is choice.confirmations[0]
    assert table.same_model == "r-twin"  # the tie-break (fewer parameters) at every site
    assert table.verdict.startswith("the same model, r-twin, is best at every site")
    assert table.thin == ()


def test_too_few_patients_and_an_unresolved_runner_up_are_thin(knee):
    ws, evaluate = knee
    # r-good and r-twin equal in truth: without an equivalence margin the data cannot
    # separate them (neither shown worse nor shown equivalent)
    evaluate("v1-val", OFFSETS, seed=1)
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.connect() as conn:
        spec = choose_model(conn, "knee").spec.model_copy(update={"equivalence": {"dice": 0}})
        choice = choose_model(conn, "knee", spec)
    table = group_table(choice, "site")
    thin = {r.group: r.thin for r in table.rows}
    assert all("cannot be told apart from it" in why for why in thin.values())
    assert table.thin == ("a", "b")
    assert table.verdict.endswith("but at no site is the evidence enough to tell")


def test_a_choice_not_made_by_site_is_refused(knee):
    ws, evaluate = knee
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.connect() as conn:
        spec = choose_model(conn, "knee").spec.model_copy(update={"by": []})
        choice = choose_model(conn, "knee", spec)
    with pytest.raises(RankingError, match=r"not made per site.*by: \[site\]"):
        group_table(choice, "site")


def test_site_choices_are_computed_when_read_and_equal_the_eager_ones(knee):
    """The per-site selection and its confirmations wait until read (a board of all cases
    does not show them), then hold what ranking and confirming every site at once gives."""
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS, seed=1)
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.connect() as conn:
        choice = choose_model(conn, "knee")
        spec = choice.spec
        select_inputs = ranking_inputs(conn, "knee", "v1-val", spec=spec)
        confirm_inputs = ranking_inputs(conn, "knee", "v1-test", spec=spec)
    assert not choice.report.selections.computed("site") and not choice.groups.computed("site")
    assert list(choice.report.selections) == ["site"] and list(choice.groups) == ["site"]
    eager = rank.select(select_inputs.table, rank.preference_from_spec(spec),
                        select_inputs.directions, by="site",
                        statistics=rank.statistics_from_spec(spec),
                        model_info=select_inputs.model_info, set_metrics=SET_METRICS,
                        margins={**select_inputs.margins, **spec.equivalence})
    assert json.dumps(choice.report.selections["site"].to_dict()) == json.dumps(eager.to_dict())
    confirmed = [confirm_figure(confirm_inputs, spec, c.model, "dice", ("site", c.group), False)
                 for c in eager.choices if c.model is not None]
    assert [c.to_dict() for c in choice.groups["site"]] == [c.to_dict() for c in confirmed]
    assert choice.groups.computed("site")
    assert choice.report.selections["site"] is choice.report.selections["site"]  # kept


def test_one_site_is_ranked_and_confirmed_alone_with_the_values_it_has_among_all(knee):
    """A site's board reads its own site's figure: that site alone is ranked and confirmed,
    and holds what the whole selection by site gives it."""
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS, seed=1)
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.connect() as conn:
        alone, whole = choose_model(conn, "knee"), choose_model(conn, "knee")
    sites = list(alone.report.groups["site"])
    figure = alone.confirmation_in("site", sites[0])
    assert not alone.report.selections.computed("site") and not alone.groups.computed("site")
    assert [alone.report.groups["site"].computed(s) for s in sites] == [
        True, *[False] * (len(sites) - 1)]
    expected = {c.group: c for c in whole.groups["site"]}
    assert figure is not None and figure.to_dict() == expected[sites[0]].to_dict()
    assert alone.report.choice_in("site", sites[0]) == next(
        c for c in whole.report.selections["site"].choices if c.group == sites[0])
    assert alone.confirmation_in("site", "nowhere") is None
    assert alone.confirmation_in("scanner", sites[0]) is None
