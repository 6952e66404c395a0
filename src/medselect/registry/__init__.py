"""The model registry: versions per task and scope, the promotion gate, the audit log.

- :func:`evaluate_gate` judges a candidate against the versions it must beat on the per-case
  table (pure: a DataFrame in, a :class:`GateDecision` out); :func:`gate_for` runs it on what
  the workspace holds (incumbents, reference set, evaluations).
- :func:`promote` applies a decision in one transaction (champion, retired, rejected);
  :func:`rollback` restores the previous champion; :func:`history`, :func:`current_champion`.
- :func:`append_event` / :func:`verify_chain`: the append-only, hash-chained audit log that
  every registry change writes to.
- :func:`write_decision_report`: the decision as JSON and a standalone HTML page.
- :func:`model_card`: what a version is for, how it does per site, why it was promoted and
  where it fails; :func:`write_model_card` writes it as Markdown and HTML (at every promotion),
  :func:`card_context` is its display text (the files' and the dashboard page's).
- :func:`champion_routes`: which champion predicts the cases of each site.
- :func:`promote_through_gate`: the whole promotion of one model in one scope (evaluate what
  is missing on the reference set, gate, apply, write the report).
- :func:`upgrade`: new data, retrain, evaluate, gate per scope, report;
  :func:`backfill` re-scores every registered version on a case set (the newest test set).

Example::

    criteria = GateCriteria.from_spec(experiment.promotion, metric="dice")
    with ws.connect() as conn:
        decision = gate_for(conn, "knee", "global", "run-b", criteria)
    version = promote(ws, "knee", "global", "run-b", decision=decision, actor="alice",
                      dataset_version=None)
"""

from medselect.errors import RegistryError
from medselect.registry.audit import (
    AuditReport,
    append_event,
    canonical_json,
    event_hash,
    verify_chain,
    verify_registry,
)
from medselect.registry.backfill import BackfillResult, backfill, ensure_evaluated
from medselect.registry.card_render import (
    card_context,
    render_card_html,
    render_card_markdown,
    write_model_card,
)
from medselect.registry.cards import ModelCard, model_card
from medselect.registry.criteria import CompareWith, GateCriteria, MetricMargin
from medselect.registry.decision import CriterionResult, GateDecision
from medselect.registry.evidence import gate_for, reference_case_set
from medselect.registry.gate import evaluate_gate
from medselect.registry.newdata import NewData, import_new_cases
from medselect.registry.promotion import (
    DECISIONS_DIR,
    PromotionOutcome,
    promote_through_gate,
    promotion_inputs,
)
from medselect.registry.report import decision_report, render_html, write_decision_report
from medselect.registry.retrain import RetrainChoice
from medselect.registry.routing import AUTO_SCOPE, Route, champion_routes
from medselect.registry.scope import GLOBAL_SCOPE, expand_scopes, parse_scope, scope_site
from medselect.registry.upgrade import ScopeOutcome, UpgradeResult, upgrade
from medselect.registry.versions import (
    ModelVersion,
    apply_promotion,
    current_champion,
    history,
    incumbents,
    promote,
    register_version,
    rollback,
)

__all__ = [
    "AUTO_SCOPE",
    "DECISIONS_DIR",
    "GLOBAL_SCOPE",
    "AuditReport",
    "BackfillResult",
    "CompareWith",
    "CriterionResult",
    "GateCriteria",
    "GateDecision",
    "MetricMargin",
    "ModelCard",
    "ModelVersion",
    "NewData",
    "PromotionOutcome",
    "RegistryError",
    "RetrainChoice",
    "Route",
    "ScopeOutcome",
    "UpgradeResult",
    "append_event",
    "apply_promotion",
    "backfill",
    "canonical_json",
    "card_context",
    "champion_routes",
    "current_champion",
    "decision_report",
    "ensure_evaluated",
    "evaluate_gate",
    "event_hash",
    "expand_scopes",
    "gate_for",
    "history",
    "import_new_cases",
    "incumbents",
    "model_card",
    "parse_scope",
    "promote",
    "promote_through_gate",
    "promotion_inputs",
    "reference_case_set",
    "register_version",
    "render_card_html",
    "render_card_markdown",
    "render_html",
    "rollback",
    "scope_site",
    "upgrade",
    "verify_chain",
    "verify_registry",
    "write_decision_report",
    "write_model_card",
]
