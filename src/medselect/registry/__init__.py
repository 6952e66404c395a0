"""The model registry: versions per task and scope, the promotion gate, the audit log.

- :func:`evaluate_gate` judges a candidate against the versions it must beat on the per-case
  table (pure: a DataFrame in, a :class:`GateDecision` out); :func:`gate_for` runs it on what
  the workspace holds (incumbents, reference set, evaluations).
- :func:`promote` applies a decision in one transaction (champion, retired, rejected);
  :func:`rollback` restores the previous champion; :func:`history`, :func:`current_champion`.
- :func:`append_event` / :func:`verify_chain`: the append-only, hash-chained audit log that
  every registry change writes to.
- :func:`write_decision_report`: the decision as JSON and a standalone HTML page.

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
)
from medselect.registry.criteria import CompareWith, GateCriteria, MetricMargin
from medselect.registry.decision import CriterionResult, GateDecision
from medselect.registry.evidence import gate_for, reference_case_set
from medselect.registry.gate import evaluate_gate
from medselect.registry.report import decision_report, render_html, write_decision_report
from medselect.registry.scope import GLOBAL_SCOPE, parse_scope, scope_site
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
    "GLOBAL_SCOPE",
    "AuditReport",
    "CompareWith",
    "CriterionResult",
    "GateCriteria",
    "GateDecision",
    "MetricMargin",
    "ModelVersion",
    "RegistryError",
    "append_event",
    "apply_promotion",
    "canonical_json",
    "current_champion",
    "decision_report",
    "evaluate_gate",
    "event_hash",
    "gate_for",
    "history",
    "incumbents",
    "parse_scope",
    "promote",
    "reference_case_set",
    "register_version",
    "render_html",
    "rollback",
    "scope_site",
    "verify_chain",
    "write_decision_report",
]
