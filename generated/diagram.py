"""The entity-relationship diagram of the schema, as Mermaid text.

Generated from schema/*.yaml (codegen/docs.py); ``synthorg-persistence
diagram`` prints it, docs/entities.md embeds it.
"""

from typing import Final

MERMAID: Final = """\
erDiagram
    agent_states {
        str agent_id PK
    }
    api_keys {
        str id PK
        str key_hash UK
        str user_id FK
    }
    artifacts {
        str id PK
    }
    audit_entries {
        str id PK
    }
    budget_config_versions {
        str entity_id PK
        int version PK
    }
    ceremony_scheduler_state {
        str sprint_id PK
    }
    checkpoints {
        str id PK
    }
    circuit_breaker_state {
        str pair_key_a PK
        str pair_key_b PK
    }
    collaboration_metrics {
        str id PK
    }
    company_versions {
        str entity_id PK
        int version PK
    }
    connection_secrets {
        str secret_id PK
    }
    connections {
        str name PK
    }
    cost_records {
        str id PK
    }
    custom_presets {
        str name PK
    }
    custom_rules {
        str id PK
        str name UK
    }
    decision_records {
        str id PK
    }
    escalations {
        str id PK
    }
    evaluation_config_versions {
        str entity_id PK
        int version PK
    }
    fine_tune_checkpoints {
        str id PK
        str run_id FK
    }
    fine_tune_runs {
        str id PK
    }
    heartbeats {
        str execution_id PK
    }
    idempotency_keys {
        str scope PK
        str key PK
    }
    identity_versions {
        str entity_id PK
        int version PK
    }
    lifecycle_events {
        str id PK
    }
    lockouts {
        str username PK
    }
    login_failures {
        str id PK
    }
    meeting_cooldown {
        str meeting_type PK
    }
    messages {
        str id PK
    }
    oauth_states {
        str state_token PK
    }
    ontology_versions {
        str entity_id PK
        int version PK
    }
    parked_contexts {
        str id PK
        str approval_id UK
    }
    preset_overrides {
        str preset_name PK
    }
    principle_overrides {
        str scope PK
    }
    project_cost_aggregates {
        str project_id PK
    }
    projects {
        str id PK
    }
    provider_audit_events {
        str id PK
    }
    risk_overrides {
        str id PK
    }
    role_versions {
        str entity_id PK
        int version PK
    }
    settings {
        str namespace PK
        str key PK
    }
    ssrf_violations {
        str id PK
    }
    task_metrics {
        str id PK
    }
    tasks {
        str id PK
    }
    tracked_containers {
        str container_id PK
    }
    training_plans {
        str id PK
    }
    training_results {
        str id PK
        str plan_id FK
    }
    users {
        str id PK
        str username UK
    }
    webhook_receipts {
        str receipt_id PK
    }
    workflow_definitions {
        str id PK
    }
    workflow_executions {
        str id PK
        str definition_id FK
    }
    workflow_versions {
        str entity_id PK
        int version PK
    }
    users ||--o{ api_keys : "user_id"
    fine_tune_runs ||--o{ fine_tune_checkpoints : "run_id"
    training_plans ||--o{ training_results : "plan_id"
    workflow_definitions ||--o{ workflow_executions : "definition_id"
"""
