"""Model registry (Postgres model_registry), artifacts in the models bucket, and the promotion gate."""
from shared.engine.registry.gate import GateDecision, promotion_gate
from shared.engine.registry.store import (
    ALLOWED,
    STATUSES,
    GateBlocked,
    InvalidTransition,
    ModelNotFound,
    ModelRecord,
    RegistryConflict,
    RegistryError,
    get_model,
    get_production,
    list_models,
    promote,
    record_evaluation,
    register_candidate,
    transition,
)

__all__ = [
    "ALLOWED",
    "GateBlocked",
    "GateDecision",
    "InvalidTransition",
    "ModelNotFound",
    "ModelRecord",
    "RegistryConflict",
    "RegistryError",
    "STATUSES",
    "get_model",
    "get_production",
    "list_models",
    "promote",
    "promotion_gate",
    "record_evaluation",
    "register_candidate",
    "transition",
]
