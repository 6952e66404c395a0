"""What the JSON API returns and the pages show: one pydantic model per resource.

Views build these; routes return them as JSON and templates render them, so a page never shows
anything the API does not also give. File locations (``*_uri``) are workspace-relative and
served under ``/artifacts/<uri>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from medselect.store import VersionStatus
from medselect.store.reviews import MAX_COMMENT_LENGTH, MAX_REVIEWER_LENGTH

Number = float | None
"""A metric value; None where it is undefined or missing (NaN is not valid JSON)."""
NEW_CASES = "new"
"""The kind of a case set of new cases (an upload, ``medselect evaluate --cases PATH``)."""


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CaseSetInfo(Out):
    id: str
    name: str
    kind: str
    task: str
    dataset_version: str
    n_evaluations: int = Field(description="models with a finished evaluation on this set")
    created_at: datetime
    labelled: bool = Field(description="some case has a reference (label, landmarks, class): "
                                       "there are metrics to rank; an unlabelled set has "
                                       "predictions only")

    @property
    def new_cases(self) -> bool:
        """An upload or other new cases (kind ``new``), listed apart from the task's sets."""
        return self.kind == NEW_CASES


class MetricInfo(Out):
    name: str
    labels: list[str] = Field(description="mean or case first, then classes or landmarks in "
                                           "the task's order")
    default_label: str = Field(description="the label shown when none is asked for: mean or "
                                           "case, or a one-vs-rest metric's last class (the "
                                           "positive class of a binary task)")
    direction: Literal["higher", "lower"]
    unit: str
    definition: str = ""
    per_case: bool = Field(True, description="False for a set metric (AUC, ...): it has no "
                                             "value per case, only over a set of cases")
    source: str | None = Field(None, description="the per-case metric a set metric is "
                                                 "computed from")


class Acceptance(Out):
    accepted: int = 0
    reviewed: int = 0

    @computed_field
    @property
    def rate(self) -> float | None:
        """Share of current verdicts that are acceptable; None before any review."""
        return self.accepted / self.reviewed if self.reviewed else None


class AggregateChoice(Out):
    """An aggregate offered on a leaderboard."""

    name: str = Field(description="what the aggregate parameter takes: p90, trimmed10, ...")
    text: str = Field(description="its label: a percentile by its tail, e.g. 'worst 10% (p90)'")
    title: str = Field(description="what it computes, in a sentence")


class ModelInfo(Out):
    ref: str = Field(description="run id, or 'external:<name>'")
    kind: Literal["run", "external"]
    status: str
    summary: dict[str, str] = Field(description="short configuration: architecture, loss, ...")
    config: dict[str, Any] = {}
    details: dict[str, Any] = Field({}, description="what the config names, spelled out")
    error: str | None = None
    n_parameters: int | None = None
    duration_s: float | None = None
    champion: list[str] = Field([], description="registry scopes where this model is champion")


Standing = Literal["best", "tied", "equivalent", "unresolved", "worse"]
"""Where a model stands against the top one (:class:`medselect.rank.Standing`)."""


class LeaderboardEntry(Out):
    model: str
    rank: int
    aggregate: Number
    ci_low: Number
    ci_high: Number
    n_cases: int
    n_patients: int = Field(description="patients of those cases: the unit every interval and "
                                        "test resamples")
    n_imputed: int = Field(description="missing values counted as the worst value")
    p_best: float = Field(description="share of bootstrap resamples on which it is the best")
    p_vs_best: Number = Field(description="Holm-adjusted p-value of 'worse than the top model'")
    p_equivalent: Number = Field(
        description="Holm-adjusted p-value of 'equivalent to the top model within the margin' "
                    "(two one-sided tests); None for the top model or without a margin")
    standing: Standing = Field(
        description="best; tied (equal on every case); equivalent (shown within the margin); "
                    "unresolved (neither shown worse nor shown equivalent: not enough evidence "
                    "to separate it from the top model); worse (significantly worse)")
    in_best_group: bool = Field(description="best, tied or shown equivalent: the models the "
                                            "tie-break chooses among (never an unresolved one)")
    chosen: bool
    median_rank: float
    rank_low: float
    rank_high: float
    others: dict[str, Number] = Field(
        description="the other metrics at the same label (on a board of a whole-case value, "
                    "their mean over classes: see 'other_labels'): per-case ones under "
                    "'per_case_aggregate', set metrics computed over the cases")
    acceptance: Acceptance
    info: ModelInfo


class FailedRun(Out):
    id: str
    error: str | None
    summary: dict[str, str]


class PrunedRun(Out):
    """A run the search stopped early because it was losing (``sweep.pruner``): its curve is
    kept, and it is left out of evaluation and ranking unless asked for."""

    id: str
    epochs: int | None = Field(description="epochs trained before it was stopped")
    best_metric: Number = Field(description="its best validation score when stopped")
    summary: dict[str, str]


class BiasCorrected(Out):
    """A figure reported on the cases that chose the model, corrected for the choice."""

    method: str
    model: str = Field(description="the model the correction is for: the top point estimate")
    value: Number
    ci_low: Number
    ci_high: Number
    bias: Number = Field(description="how much the raw figure flatters the choice")


class ConfirmedFigure(Out):
    """A chosen model's figure on the confirmation set (all cases, or one site's)."""

    site: str | None = Field(description="None: every case of the set")
    model: str
    metric: str
    label: str
    aggregate: str
    case_set: str
    value: Number
    ci_low: Number
    ci_high: Number
    n_cases: int
    n_patients: int
    corrected: BiasCorrected | None = Field(
        description="the bias-corrected figure when the choice was made on these same cases")
    note: str | None = Field(description="why the figure is missing or not to be trusted")


class ChoiceSummary(Out):
    """The task's model choice under its ranking rules, as ``medselect rank`` makes it: ranked
    on the selection set, reported on the confirmation set."""

    model: str = Field(description="the model chosen on the selection set")
    metric: str
    label: str
    aggregate: str
    reason: str
    selection_set: str = Field(description="id of the case set the model was chosen on, or "
                                           "the out-of-fold table of a cross-validation")
    selection_name: str = Field(description="what the page calls it: val, test, ...")
    confirmation_set: str
    confirmation_name: str
    selection_n_cases: int
    selection_n_patients: int
    same_set: bool = Field(description="chosen on the cases that report it: the figure is "
                                       "biased upwards by the choice (see 'corrected')")
    role: Literal["selection", "confirmation", "both", "other"] = Field(
        description="what the shown leaderboard's case set is to this choice")
    this_board: bool = Field(description="the shown leaderboard is the ranking that made "
                                         "this choice (same case set, metric, label, aggregate)")
    figures: list[ConfirmedFigure] = Field(
        description="the chosen model's figure on the confirmation set; on a site's "
                    "leaderboard also that site's choice and its figure")
    notes: list[str]


class SiteChoice(Out):
    """One site's best model on the selection set, its runner-up and the evidence, and its
    figure on the site's confirmation cases (``medselect rank --by site``'s row)."""

    site: str = Field(description="the site, or '(all)' for the overall choice")
    model: str | None = Field(description="None: no model could be chosen there (see reason)")
    reason: str
    aggregate: Number
    ci_low: Number
    ci_high: Number
    ci_reliable: bool
    n_cases: int
    n_patients: int
    runner_up: str | None
    runner_up_standing: Standing | None = Field(
        description="the runner-up against the chosen model: equivalent, unresolved (the "
                    "data cannot separate them) or worse")
    margin: Number = Field(description="chosen minus runner-up in the metric's unit, "
                                       "positive when the chosen model is better")
    margin_ci_low: Number
    margin_ci_high: Number
    p_vs_runner_up: Number = Field(description="paired test of the chosen model against the "
                                               "runner-up on the site's patients, uncorrected")
    win_significant: bool | None
    decided_by_tie_break: bool
    gain_over_overall: Number = Field(description="how much better than the overall choice "
                                                  "on the site's cases")
    p_vs_overall: Number
    confirmed: ConfirmedFigure | None = Field(
        description="the chosen model's figure on the site's confirmation cases")
    thin: str | None = Field(description="why the evidence is too thin to trust this choice "
                                         "(few patients, an unresolved runner-up), if it is")


class SitesPage(Out):
    """The best model per site, as ``medselect rank --by site`` chooses it."""

    task: str
    metric: str
    label: str
    aggregate: str
    direction: Literal["higher", "lower"]
    unit: str
    value_name: str = Field(description="what the figures are: 'mean dice', 'auc', ...")
    selection_set: str
    selection_name: str
    confirmation_set: str
    confirmation_name: str
    same_set: bool = Field(description="chosen on the cases that report it: the confirmed "
                                       "figures are biased upwards by the choice")
    board_set: str = Field(description="the stored case set the site links open on: the "
                                       "selection set (the confirmation set after a "
                                       "cross-validation, whose selection is no stored set)")
    board_metric: str | None = Field(description="the metric the site links rank by; None "
                                                 "for a weighted ranking (the default board)")
    rows: list[SiteChoice]
    overall: SiteChoice
    same_model: str | None = Field(description="the model best at every site, if one is")
    differs: bool
    verdict: str = Field(description="in plain words: one model best everywhere or not, "
                                     "and where the evidence is too thin to tell")
    thin: list[str] = Field(description="sites whose choice the data cannot back")
    min_patients: int = Field(description="a site with fewer patients is too small to choose "
                                          "for")
    alpha: float
    confidence: float
    notes: list[str]
    metrics: list[MetricInfo]
    aggregates: list[AggregateChoice]
    aggregate_fixed: bool = Field(description="ranked by a set metric (its own aggregate)")
    rules: Literal["experiment", "default"]


class Leaderboard(Out):
    case_set: CaseSetInfo
    case_sets: list[CaseSetInfo]
    metric: str
    label: str
    aggregate: str
    direction: Literal["higher", "lower"]
    unit: str
    site: str | None
    sites: list[str]
    aggregates: list[AggregateChoice] = Field(
        description="the aggregates offered: mean, median, trimmed mean, the worst 10% of "
                    "cases (p10 or p90 by the metric's direction), the rules' own and the "
                    "one shown; any other name medselect rank --agg takes works too")
    metrics: list[MetricInfo]
    other_metrics: list[str]
    other_labels: dict[str, str] = Field(description="the label each other metric is shown "
                                                     "at: the board's, or 'mean' beside a "
                                                     "board of 'case' values")
    metric_aggregates: dict[str, str | None] = Field(
        description="per metric, the aggregate its board is linked with: the same tail of "
                    "cases (the worst 10% of dice, p10, is p90 of hd95); None for a set metric")
    rows: list[LeaderboardEntry]
    n_cases: int
    n_patients: int
    patients_assumed: bool = Field(description="no two cases share a patient id, so each case "
                                               "was counted as its own patient")
    weighting: str = Field(description="what the aggregate weighs equally, in words")
    analysis_unit: Literal["case", "patient"] = Field(
        description="ranking.unit: what the aggregate weighs equally")
    best: str
    best_group: list[str] = Field(description="best, tied and shown-equivalent models")
    unresolved: list[str] = Field(description="models the data could not separate from the "
                                              "top one: not in the best group, not worse")
    unresolved_note: str | None = Field(description="that, in a sentence")
    margin: Number = Field(description="equivalence margin in the metric's unit; None: none")
    margin_source: Literal["experiment", "default"] | None = Field(
        description="the experiment's ranking.equivalence, or the metric's default margin")
    decided_by_tie_break: bool
    reason: str
    tie_break: list[str] = Field(description="the ranking rules' tie-breaks, in order")
    constraints: list[str]
    excluded: dict[str, str] = Field(description="models failing a constraint, with why")
    rules: Literal["experiment", "default"] = Field(
        description="the ranking rules are the experiment's ranking section stored with the "
                    "task, or the task family's default")
    n_resamples: int
    confidence: float
    alpha: float
    ci_reliable: bool
    ci_note: str | None
    notes: list[str]
    choice: ChoiceSummary | None = Field(
        description="the task's model choice (selection set) and its confirmation")
    choice_note: str | None = Field(description="why there is no choice to show, if none")
    missing_values: str = Field(description="how a missing value enters the ranking")
    failed: list[FailedRun]
    pruned: list[PrunedRun] = Field(default_factory=list)
    config_columns: list[str] = Field(
        description="configuration fields of the models' summaries, in display order")
    test: str = Field(description="the paired test behind p_vs_best and the best group")
    aggregate_fixed: bool = Field(
        description="the metric is a set metric: it is its own aggregate ('aggregate' is its "
                    "name) and the requested aggregate applies to per-case metrics only")
    per_case_aggregate: str = Field(
        description="the aggregate of the per-case metrics among 'others'")

    @property
    def value_name(self) -> str:
        """What the ranked values are: 'mean dice', or 'auc' for a set metric."""
        return self.metric if self.aggregate_fixed else f"{self.aggregate} {self.metric}"


class UnlabelledCaseSet(Out):
    """A case set without reference labels: nothing to rank, each model's predictions to see."""

    case_set: CaseSetInfo
    case_sets: list[CaseSetInfo]
    n_cases: int
    models: list[ModelInfo] = Field(description="the models evaluated on it; each model's page "
                                                "on it is its prediction gallery")


class Significance(Out):
    models: list[str] = Field(description="in leaderboard order")
    test: str
    alpha: float
    adjusted: list[list[Number]] = Field(description="Holm-adjusted p-values, row vs column")
    better: list[list[bool]] = Field(description="row significantly better than column")


class Curve(Out):
    name: str
    epochs: list[int]
    values: list[Number]


class Distribution(Out):
    """Box-plot statistics of one metric over one site's cases (``site`` None: all cases)."""

    metric: str
    site: str | None
    n: int
    q1: Number
    median: Number
    q3: Number
    low: Number
    high: Number
    mean: Number


class GalleryRow(Out):
    case_id: str
    site: str
    status: str
    error: str | None = None
    overlay_uri: str | None = None
    thumbnail_uri: str | None = None
    values: dict[str, Number]
    acceptance: Acceptance


class Gallery(Out):
    model: str
    case_set: str
    label: str
    columns: list[str]
    sort: str
    descending: bool
    site: str | None
    sites: list[str]
    page: int
    page_size: int
    total: int
    rows: list[GalleryRow]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


class AugmentationStep(Out):
    transform: str = Field(description="MONAI transform name, e.g. RandFlipd")
    description: str = Field("", description="what it does, in plain words")
    keys: list[str] = Field([], description="what it applies to: image, label")
    prob: float | None = Field(None, description="probability it is applied to a sample")
    params: dict[str, Any] = {}


class Augmentation(Out):
    preset: str | None
    steps: list[AugmentationStep] | None = Field(
        description="the preset's transforms in order; None when the run did not record them")


class MetricSummary(Out):
    """One metric of one model over the case set, at one label (class, landmark, their mean),
    with the same bootstrap interval as on the leaderboard."""

    metric: str
    label: str
    aggregate: str = Field(description="the ranking rules' aggregate of a per-case metric, or "
                                       "the set metric's own name")
    per_case: bool
    value: Number
    ci_low: Number
    ci_high: Number
    n_cases: int
    n_patients: int = Field(description="patients of those cases, the bootstrap's unit")
    n_imputed: int = Field(description="cases without a value, counted as the worst")


class RegisteredVersion(Out):
    """A registry version of a model: where its model card is."""

    task: str
    scope: str
    version: int
    status: VersionStatus


class ModelPage(Out):
    info: ModelInfo
    case_set: CaseSetInfo
    label: str
    labels: list[str]
    metrics: list[MetricInfo]
    augmentation: Augmentation | None = Field(description="what the augmentation preset does")
    curves: list[Curve]
    distributions: list[Distribution] = Field(description="per-case metrics only")
    summaries: list[MetricSummary] = Field(
        description="every metric over the whole case set with its interval, per label: "
                    "per-case metrics under the ranking rules' aggregate, set metrics (AUC, "
                    "...) computed over the cases")
    ci_note: str | None = Field(None, description="why the intervals are unreliable (too few "
                                                  "patients), if they are")
    confidence: float = Field(description="the intervals' confidence level")
    gallery: Gallery
    versions: list[RegisteredVersion] = Field(
        [], description="the model's registry versions, each with a model card "
                        "(/registry/cards/{task}/{scope}/{version})")

    @property
    def summary_labels(self) -> list[str]:
        """The labels of :attr:`summaries` as table columns, in order of first appearance."""
        return list(dict.fromkeys(v.label for v in self.summaries))

    @property
    def summary_rows(self) -> list[tuple[MetricSummary, dict[str, MetricSummary]]]:
        """One row per metric: its first summary (name, aggregate) and its summaries by label."""
        rows: dict[str, dict[str, MetricSummary]] = {}
        for v in self.summaries:
            rows.setdefault(v.metric, {})[v.label] = v
        return [(next(iter(cells.values())), cells) for cells in rows.values()]


class Review(Out):
    id: int
    model_ref: str
    case_set: str
    case_id: str
    reviewer: str
    verdict: Literal["acceptable", "not_acceptable"]
    comment: str
    created_at: datetime


class ReviewIn(BaseModel):
    """A verdict on one model's prediction for one case."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model_ref: str = Field(min_length=1, max_length=200)
    case_set: str = Field(min_length=1, max_length=200)
    case_id: str = Field(min_length=1, max_length=200)
    reviewer: str = Field(min_length=1, max_length=MAX_REVIEWER_LENGTH)
    verdict: Literal["acceptable", "not_acceptable"]
    comment: str = Field("", max_length=MAX_COMMENT_LENGTH)


class CaseEntry(Out):
    model: str
    status: str
    error: str | None = None
    overlay_uri: str | None = None
    thumbnail_uri: str | None = None
    values: dict[str, Number]
    reviews: list[Review]
    acceptance: Acceptance


Points = dict[str, list[float]]
"""Landmarks: name -> voxel coordinates [x, y(, z)] in the case image's grid."""


class ViewerClass(Out):
    value: int = Field(description="the class's label value in the label maps")
    name: str


class ViewerModel(Out):
    model: str
    labels: bool = Field(description="whether its prediction is a label map the viewer loads")
    points: Points | None = Field(None, description="its predicted landmarks, if any")


class Viewer(Out):
    """What the case viewer can show: the layers and where each comes from. The volumes are
    served as NIfTI at ``/api/cases/<case_id>/volumes/<name>``, name ``image.nii``,
    ``label.nii.gz`` or ``prediction.nii.gz`` (query: ``case_set``, ``channel``, ``model``)."""

    ndim: Literal[2, 3]
    image: bool = Field(description="whether the case's image files are in the workspace (no "
                                    "viewer without them)")
    channels: int = Field(description="image channels (MR sequences); each is its own volume")
    reference: bool = Field(description="whether the case has a reference label map")
    classes: list[ViewerClass] = Field(description="the foreground classes of the label maps")
    reference_points: Points | None = None
    models: list[ViewerModel] = Field(description="every model, in the page's order")


class CasePage(Out):
    case_id: str
    site: str
    case_set: CaseSetInfo
    metric: str | None = Field(description="the metric models are ordered by; null for a case "
                                           "without a reference label (no metric)")
    label: str | None
    direction: Literal["higher", "lower"] | None
    columns: list[str]
    metrics: list[MetricInfo]
    entries: list[CaseEntry] = Field(description="every model, best first by the metric (by "
                                                 "name without one)")
    viewer: Viewer


class CompareRow(Out):
    case_id: str
    site: str
    values: list[Number] = Field(description="one per model, in the order of 'models'")
    deltas: list[Number] = Field(description="each model minus the first one")
    spread: Number = Field(description="largest minus smallest value")
    thumbnail_uris: list[str | None]
    overlay_uris: list[str | None]


class Compare(Out):
    case_set: CaseSetInfo
    models: list[str]
    choices: list[str]
    metric: str
    label: str
    direction: Literal["higher", "lower"]
    metrics: list[MetricInfo]
    aggregates: list[Number] = Field(description="mean of the metric per model")
    total: int
    rows: list[CompareRow] = Field(description="cases by the largest difference first")


class ApiRoute(Out):
    """One operation of the JSON API, as the ``/api`` page lists it."""

    method: str
    path: str
    tag: str
    summary: str
    parameters: list[str]


class RegistryBudget(Out):
    """A scope's error budget on its reference set (``medselect registry show``'s figures)."""

    reference_case_set: str
    reference_hash: str
    alpha: float = Field(description="the scope's overall false-promotion rate")
    rule: Literal["geometric", "bonferroni", "none"] = Field(
        description="how alpha is split across the looks at one reference set")
    max_looks: int = Field(description="looks a bonferroni budget allows")
    protocol: str = Field(description="where the spending rule was read: the newest gate "
                                      "decision in this scope, or the promotion defaults")
    looks: int = Field(description="gates already run on this reference set in this scope")
    spent: float = Field(description="alpha spent by those looks")
    spent_share: float = Field(description="spent / alpha")
    next_alpha: float = Field(description="the one-sided level of the next look (0: spent)")
    exhausted: bool
    advice: str | None = Field(description="refresh the reference set: from 75% of alpha "
                                           "spent, or when the budget is exhausted")
    state: Literal["ok", "low", "exhausted"] = Field(
        description="ok; low (refresh advised); exhausted (the gate refuses until refreshed)")


class RolledBack(Out):
    by: str
    at: str
    reason: str


class RegistryVersion(Out):
    """One version of a scope with the gate decision it was recorded with."""

    version: int
    model_ref: str
    status: VersionStatus
    dataset_version: str | None
    created_at: datetime
    created_by: str
    summary: str | None = Field(description="the gate decision's one line; None when the "
                                            "version was recorded without a decision")
    accepted: bool | None = Field(description="the gate's verdict; None without a decision")
    forced: bool = Field(description="promoted past the gate with a written reason")
    reason: str = Field(description="why it was forced past the gate, if it was")
    rolled_back: RolledBack | None
    look: int | None = Field(description="its look at the reference set in this scope; None "
                                         "for a first version (no incumbent, no alpha spent)")
    level: float | None = Field(description="the one-sided level every test of its look ran at")
    chosen_from: int | None = Field(description="K: the level was divided by K when the "
                                                "candidate was the best of K on the reference set")
    chosen_on: str | None = Field(description="where the candidate was chosen, in words")
    reference_case_set: str | None
    report_uri: str | None = Field(description="its decision report (HTML), served at "
                                               "/artifacts/<uri>; None when none was written")
    model_case_set: str | None = Field(description="the case set its model page opens on; None "
                                                   "when it has no evaluation to show")


class RegistryScope(Out):
    scope: str = Field(description="global or site:<name>")
    champion: RegistryVersion | None
    champion_since: datetime | None = Field(description="when it became champion (promoted or "
                                                        "restored by a rollback)")
    champion_by: str | None = Field(description="who promoted or restored it")
    champion_how: Literal["promote", "rollback", "recorded"] | None = Field(
        description="recorded: no audit event names it (the version's own date and author)")
    budget: RegistryBudget | None
    budget_note: str | None = Field(description="why there is no budget (no reference set)")
    versions: list[RegistryVersion] = Field(description="newest first")


class RegistryEvent(Out):
    """A rollback or a refresh of the reference set, from the audit log."""

    seq: int
    at: datetime
    actor: str
    action: Literal["rollback", "reference_refreshed"]
    scope: str | None = Field(description="the scope a rollback changed; None for a refresh "
                                          "(every scope of the task)")
    reason: str
    summary: str = Field(description="what changed, in one line")


class RegistryTask(Out):
    task: str
    reference_case_set: str | None = Field(description="the frozen set every gate runs on")
    scopes: list[RegistryScope] = Field(description="global first, then the sites")
    events: list[RegistryEvent] = Field(description="rollbacks and refreshes, newest first")


class AuditState(Out):
    """The audit log's hash chain as ``medselect audit verify`` checks it, on every view."""

    ok: bool = Field(description="every event intact and linked, ending at the recorded head")
    n_events: int
    first_bad_seq: int | None = Field(description="the first event where the chain breaks")
    problem: str | None = Field(description="what is wrong there, in a sentence")
    head_seq: int | None = Field(description="the newest event")
    head_hash: str | None = Field(description="its hash: write it down elsewhere to anchor "
                                              "the whole log")


class RegistryPage(Out):
    """Every task's registry: champions, error budgets, histories, rollbacks and refreshes,
    and the state of the audit log they are recorded in."""

    tasks: list[RegistryTask] = Field(description="empty: nothing was promoted yet")
    audit: AuditState
    advise_refresh_at: float = Field(description="share of alpha spent from which a refresh "
                                                 "of the reference set is advised")
