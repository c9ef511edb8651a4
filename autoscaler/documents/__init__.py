"""Wire formats: snapshot and decision documents, HPA specs (camelCase names)."""

from autoscaler.documents.read import DocumentError
from autoscaler.documents.snapshot import (
    decision_to_document,
    history_from_document,
    history_to_document,
    snapshot_from_document,
)
from autoscaler.documents.spec import policy_from_spec
from autoscaler.documents.write import policy_to_spec, snapshot_to_document

__all__ = [
    "DocumentError",
    "decision_to_document",
    "history_from_document",
    "history_to_document",
    "policy_from_spec",
    "policy_to_spec",
    "snapshot_from_document",
    "snapshot_to_document",
]
