"""The registry's public face: what callers (the CLI, the upgrade flow) may import."""

from __future__ import annotations

import medselect.registry as registry

PUBLIC = [
    "GLOBAL_SCOPE", "AuditReport", "CompareWith", "CriterionResult", "GateCriteria",
    "GateDecision", "MetricMargin", "ModelVersion", "RegistryError", "append_event",
    "apply_promotion", "canonical_json", "current_champion", "decision_report",
    "evaluate_gate", "event_hash", "gate_for", "history", "incumbents", "parse_scope",
    "promote", "reference_case_set", "register_version", "render_html", "rollback",
    "scope_site", "verify_chain", "verify_registry", "write_decision_report",
    # the promotion and upgrade flows
    "DECISIONS_DIR", "BackfillResult", "NewData", "PromotionOutcome", "RetrainChoice",
    "ScopeOutcome", "UpgradeResult", "backfill", "ensure_evaluated", "expand_scopes",
    "import_new_cases", "promote_through_gate", "promotion_inputs", "upgrade",
    # champions at work: routing new cases, model cards
    "AUTO_SCOPE", "ModelCard", "Route", "card_context", "champion_routes", "model_card",
    "render_card_html", "render_card_markdown", "write_model_card",
]


def test_public_api_is_pinned():
    assert sorted(registry.__all__) == sorted(PUBLIC)
    assert all(hasattr(registry, name) for name in registry.__all__)

