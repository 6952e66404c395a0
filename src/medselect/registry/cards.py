"""The model card of a registered version: what it is for, how it was trained, how it does per
site, why it was promoted, where it fails.

Whoever signs off a model, and whoever later asks why it was used, needs one page that says
this without the workspace at hand. :func:`model_card` gathers it from the store, from figures
computed the way everything else in medselect computes them:

- intended use: the task, its classes, the sites it serves (its scope's site, or every site it
  trained on), the dataset version it was trained on;
- the training configuration (the run's), or that it was made elsewhere;
- per gate metric, its figure on the reference set the gate judged it on, overall and per site,
  with the bootstrap interval and the numbers of patients and cases
  (:func:`medselect.choose.confirm_figure`, as ``medselect rank`` confirms a choice; a version
  picked as the best of several models on the reference set gets the bias-corrected figure);
- the gate decision, the versions it beat, and a forced promotion's reason;
- its worst reference cases, with their overlay images and reviewers' verdicts;
- known limits: sites with few patients or none in training, cases it could not predict,
  predictions reviewers rejected (with their comments).

:mod:`~medselect.registry.card_render` writes it as Markdown and HTML; the promotion writes one
for every new champion (:func:`~medselect.registry.promotion.promote_through_gate`).

Example::

    with ws.connect() as conn:
        card = model_card(conn, "knee", "site:lyon")
    card.figures[0].value, card.limits
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from medselect.casetable import CASE_LABEL, MEAN_LABEL, SITE
from medselect.choose import KEY_METRICS, Confirmation, confirm_figure, ranking_inputs
from medselect.config import RankingSpec
from medselect.data.tasks import task_spec
from medselect.errors import RegistryError
from medselect.jsonsafe import json_number
from medselect.metrics import SET_METRICS, get_metric
from medselect.rank import MIN_RELIABLE_PATIENTS
from medselect.rank.selection import OVERALL
from medselect.registry.evidence import reference_case_set
from medselect.registry.routing import champion_of
from medselect.registry.scope import parse_scope, scope_site
from medselect.registry.versions import ModelVersion, history
from medselect.store import (
    acceptance_by_case,
    get_cases,
    get_predictions,
    get_run,
    latest_evaluations,
    list_reviews,
    utcnow,
)
from medselect.store.evaluations import EXTERNAL_PREFIX

__all__ = ["WORST_CASES", "BeatenVersion", "ModelCard", "WorstCase", "model_card"]

WORST_CASES = 5
"""Reference cases a card lists, worst first."""
_COMMENTS = 5  # reviewers' comments quoted among the limits


@dataclass(frozen=True)
class WorstCase:
    """One of the version's worst reference cases.

    Attributes:
        value: its value of the card's case metric; None when the version has no prediction
            for it (which the gate ranks worst).
        overlay_uri: its overlay image, relative to the workspace, if one was drawn.
        verdicts: ``(accepted, reviewed)`` over reviewers' current verdicts, if reviewed.
    """

    case_id: str
    patient_id: str
    site: str
    value: float | None
    overlay_uri: str | None
    verdicts: tuple[int, int] | None


@dataclass(frozen=True)
class BeatenVersion:
    """A version the gate compared this one with (and it beat, when accepted)."""

    version: int
    model_ref: str
    status: str


@dataclass(frozen=True)
class ModelCard:
    """Everything a model card says about one registered version.

    Attributes:
        outputs: the class names (segmentation, classification) or landmark names.
        reference_case_set: the reference set its figures are on; None for a version recorded
            while the task had none (then it has no figures, and its limits say so).
        sites: the sites it is meant for: its scope's site, or every site it trained on.
        training_sites: the sites of its training patients (empty when made elsewhere).
        training: the run's configuration; None for a model made elsewhere.
        figures: per gate metric, the figure overall and then per site of the reference set.
        case_metric: ``(metric, label)`` the worst cases are ordered by.
        decision: the gate decision stored with the version (``GateDecision.to_dict()``).
        beaten: the versions the decision compared it with.
        limits: what a user must know before relying on it, one sentence each.
    """

    task: str
    family: str
    version: ModelVersion
    outputs: tuple[str, ...]
    sites: tuple[str, ...]
    training_sites: tuple[str, ...]
    reference_case_set: str | None
    training: Mapping[str, Any] | None
    figures: tuple[Confirmation, ...]
    case_metric: tuple[str, str]
    worst_cases: tuple[WorstCase, ...]
    decision: Mapping[str, Any]
    beaten: tuple[BeatenVersion, ...]
    limits: tuple[str, ...]
    generated_at: datetime

    @property
    def scope(self) -> str:
        return self.version.scope

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the version without its evidence, which ``decision`` is)."""
        version = {k: v for k, v in self.version.to_dict().items() if k != "evidence"}
        return {"task": self.task, "family": self.family, "scope": self.scope,
                "version": version, "outputs": list(self.outputs), "sites": list(self.sites),
                "training_sites": list(self.training_sites),
                "reference_case_set": self.reference_case_set,
                "training": None if self.training is None else dict(self.training),
                "figures": [f.to_dict() for f in self.figures],
                "case_metric": list(self.case_metric),
                "worst_cases": [asdict(w) for w in self.worst_cases],
                "decision": dict(self.decision), "beaten": [asdict(b) for b in self.beaten],
                "limits": list(self.limits), "generated_at": self.generated_at.isoformat()}


def model_card(conn: sa.Connection, task: str, scope: str = "global",
               version: int | None = None) -> ModelCard:
    """The card of version ``version`` of ``task`` in ``scope`` (default: its champion).

    Raises:
        RegistryError: the scope has no champion, or no such version.
        NotFound: the task or its run is gone from the store.
    """
    scope = parse_scope(scope)
    chosen = champion_of(conn, task, scope) if version is None else _version(
        conn, task, scope, version)
    spec = task_spec(conn, task)
    decision = dict(chosen.evidence)
    reference = (decision.get("data") or {}).get("reference_case_set") or \
        _reference(conn, task)
    external = chosen.model_ref.startswith(EXTERNAL_PREFIX)
    run = None if external else get_run(conn, chosen.model_ref)
    trained = () if run is None else tuple(sorted(
        {c["site"] for c in get_cases(conn, run["dataset_version"], "train")}))
    site = scope_site(scope)
    case_metric = _case_metric(decision, str(spec.family))
    figures, worst = ((), ()) if reference is None else (
        _figures(conn, task, reference, chosen.model_ref, decision),
        _worst_cases(conn, task, reference, chosen.model_ref, case_metric, site))
    card = ModelCard(
        task=task, family=str(spec.family), version=chosen,
        outputs=tuple(spec.classes or spec.landmarks),
        sites=(site,) if site is not None else trained, training_sites=trained,
        reference_case_set=reference, training=None if run is None else run["config"],
        figures=figures, case_metric=case_metric, worst_cases=worst, decision=decision,
        beaten=_beaten(conn, chosen, decision), limits=(), generated_at=utcnow())
    return replace(card, limits=tuple(_limits(conn, card)))


def _version(conn: sa.Connection, task: str, scope: str, number: int) -> ModelVersion:
    found = [v for v in history(conn, task, scope) if v.version == number]
    if not found:
        raise RegistryError(f"scope {scope!r} of task {task!r} has no version {number}; "
                            "`medselect registry history` lists them")
    return found[0]


def _reference(conn: sa.Connection, task: str) -> str | None:
    """The task's reference set, or None where it has none (a version registered without a
    gate)."""
    try:
        return reference_case_set(conn, task)
    except RegistryError:
        return None


def _figures(conn: sa.Connection, task: str, reference: str, model: str,
             decision: Mapping[str, Any]) -> tuple[Confirmation, ...]:
    """Per gate metric (primary, then guards), the figure overall and per reference site."""
    criteria = decision.get("criteria") or {}
    items = [criteria.get("primary") or {}, *(criteria.get("guards") or [])]
    chosen_from = (decision.get("look") or {}).get("chosen_from") or 1
    figures: list[Confirmation] = []
    for item in items:
        if not item.get("metric"):
            continue
        spec = RankingSpec(metric=item["metric"], label=item.get("label") or MEAN_LABEL,
                           confidence=criteria.get("confidence", 0.95),
                           bootstrap_resamples=criteria.get("n_resamples", 1000),
                           seed=criteria.get("seed", 0))
        picked = chosen_from > 1  # picked on these cases: corrected among all their models
        inputs = ranking_inputs(conn, task, reference, models=None if picked else [model],
                                spec=spec)
        sites = sorted(inputs.table[SITE].dropna().astype(str).unique()) if not inputs.empty \
            else []
        figures += [confirm_figure(inputs, spec, model, spec.metric, group, picked)
                    for group in [None, *((SITE, s) for s in sites)]]
    return tuple(figures)


def _case_metric(decision: Mapping[str, Any], family: str) -> tuple[str, str]:
    """The per-case metric that orders the worst cases: the gate's primary metric, or for a
    set metric (AUC, ...) the family's first per-case key metric."""
    primary = (decision.get("criteria") or {}).get("primary") or {}
    metric = primary.get("metric")
    if metric and metric not in SET_METRICS:
        return metric, primary.get("label") or MEAN_LABEL
    per_case = [m for m in KEY_METRICS.get(family, ()) if m not in SET_METRICS]
    return (per_case[0], CASE_LABEL) if per_case else (metric or "", MEAN_LABEL)


def _worst_cases(conn: sa.Connection, task: str, reference: str, model: str,
                 case_metric: tuple[str, str], site: str | None) -> tuple[WorstCase, ...]:
    """The version's worst reference cases (of its scope's site, if it has one)."""
    metric, label = case_metric
    table = ranking_inputs(conn, task, reference, models=[model], site=site).table
    rows = table[(table["metric"] == metric) & (table["label"] == label)]
    if rows.empty:
        return ()
    lower = get_metric(metric).direction.value == "lower"
    ordered = rows.assign(_missing=rows["value"].isna()).sort_values(
        ["_missing", "value"], ascending=[False, not lower], kind="stable")
    evaluation = latest_evaluations(conn, reference, [model]).get(model)
    overlays = {} if evaluation is None else {
        p["case_id"]: p.get("overlay_uri") for p in get_predictions(conn, evaluation["id"])}
    verdicts = acceptance_by_case(conn, reference, model)
    return tuple(WorstCase(case_id=r.case_id, patient_id=str(r.patient_id), site=str(r.site),
                           value=json_number(float(r.value)), overlay_uri=overlays.get(r.case_id),
                           verdicts=verdicts.get((model, r.case_id)))
                 for r in ordered.head(WORST_CASES).itertuples())


def _beaten(conn: sa.Connection, version: ModelVersion,
            decision: Mapping[str, Any]) -> tuple[BeatenVersion, ...]:
    """The earlier versions of the scope whose model the decision compared it with."""
    compared = set(decision.get("incumbents") or ())
    return tuple(BeatenVersion(v.version, v.model_ref, v.status)
                 for v in history(conn, version.task, version.scope)
                 if v.model_ref in compared and v.version < version.version)


def _limits(conn: sa.Connection, card: ModelCard) -> list[str]:
    """What a user must know before relying on the version, one sentence each."""
    version, out = card.version, []
    if card.training is None:
        out.append(f"{version.model_ref} was made elsewhere: medselect holds its predictions "
                   "on the evaluated cases only, and cannot run it on new cases or export it")
    if version.reason:
        out.append(f"promoted past the gate by {version.created_by}: {version.reason}")
    rolled = version.evidence.get("rolled_back")
    if rolled:
        out.append(f"rolled back by {rolled.get('by')}: {rolled.get('reason')}")
    if card.reference_case_set is None:
        return [*out, f"task {card.task!r} has no reference case set, so no figure here "
                "speaks for this version; freeze one (a case set of kind 'reference') and "
                "promote through the gate", *_reviews(conn, version.model_ref)]
    primary = card.figures[0].metric if card.figures else None
    measured = {f.group: f for f in card.figures
                if f.metric == primary and f.group != OVERALL}
    for site in card.sites:
        if site not in measured:
            out.append(f"site {site!r} has no case in reference set {card.reference_case_set}: "
                       "no figure here speaks for it")
    if scope_site(version.scope) is not None:  # a site's card: the other sites are context
        measured = {site: f for site, f in measured.items() if site in card.sites}
    for site, figure in measured.items():
        if figure.n_patients < MIN_RELIABLE_PATIENTS:
            out.append(f"site {site!r}: {figure.n_patients} patient(s) on the reference set, "
                       f"fewer than {MIN_RELIABLE_PATIENTS}: its interval is wide and its "
                       "figure rests on few people")
        if card.training_sites and site not in card.training_sites:
            out.append(f"site {site!r} had no training patient: its figures measure transfer "
                       "to a site the model never saw")
    out += _failures(conn, card) + _reviews(conn, version.model_ref)
    return out


def _failures(conn: sa.Connection, card: ModelCard) -> list[str]:
    """Reference cases the version has no prediction for."""
    model = card.version.model_ref
    evaluation = latest_evaluations(conn, card.reference_case_set, [model]).get(model)
    if evaluation is None:
        return [f"{model} has no finished evaluation on reference set "
                f"{card.reference_case_set}; evaluate it there for figures"]
    failed = [p for p in get_predictions(conn, evaluation["id"]) if p["status"] != "ok"]
    if not failed:
        return []
    return [f"{len(failed)} reference case(s) have no prediction (the gate counts them as the "
            f"worst value), e.g. {failed[0]['case_id']}: {failed[0].get('error') or 'missing'}"]


def _reviews(conn: sa.Connection, model: str) -> list[str]:
    """Failure modes reviewers saw: how many predictions they rejected, and their words."""
    current: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for review in list_reviews(conn, model_ref=model):
        current[review["case_set"], review["case_id"], review["reviewer"]] = review
    if not current:
        return []
    rejected = [r for r in current.values() if r["verdict"] != "acceptable"]
    out = [f"reviewers judged {len(rejected)} of {len(current)} reviewed prediction(s) not "
           "acceptable"]
    out += [f"reviewer {r['reviewer']} on case {r['case_id']}: {r['comment']}"
            for r in rejected if r["comment"]][:_COMMENTS]
    return out
