"""The OpenAPI documents the aggregator fetches: Swagger 2.0 at ``/openapi/v2`` and
OpenAPI 3.0 at ``/openapi/v3`` (a root listing the group's document).

Written by hand rather than taken from FastAPI: FastAPI emits OpenAPI 3.1, which the
aggregator's v2 controller cannot parse, and it would describe Python parameter models
instead of the Kubernetes kinds. Only the group's paths are listed, because the
aggregator merges this document into the cluster's; the same document drives the fuzz
tests, so every status it documents is one the adapter really sends.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any, Final

from autoscaler import __version__
from autoscaler.adapter import schemas

V3_PATH: Final = f"/openapi/v3/apis/{schemas.GROUP_VERSION}"
_STATUS_CODES: Final = {
    "400": "the label selector does not parse",
    "401": "no valid credentials",
    "403": "not allowed to read the metric",
    "404": "no such metric in this namespace",
    "503": "the metric source is down or the value is stale",
}


def _definitions() -> dict[str, Any]:
    string_map = {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        "ExternalMetricValue": {
            "type": "object",
            "required": ["metricName", "metricLabels", "timestamp", "value"],
            "properties": {
                "metricName": {"type": "string"},
                "metricLabels": string_map,
                "timestamp": {"type": "string", "format": "date-time"},
                "window": {"type": "integer", "format": "int64"},
                "value": {"type": "string"},
            },
        },
        "ExternalMetricValueList": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "kind": {"type": "string"},
                "apiVersion": {"type": "string"},
                "metadata": {"type": "object"},
                "items": {"type": "array", "items": {"$ref": "#/R/ExternalMetricValue"}},
            },
        },
        "Status": {
            "type": "object",
            "required": ["kind", "apiVersion", "status", "code"],
            "properties": {
                "kind": {"type": "string"},
                "apiVersion": {"type": "string"},
                "metadata": {"type": "object"},
                "status": {"type": "string"},
                "message": {"type": "string"},
                "reason": {"type": "string"},
                "details": {"type": "object"},
                "code": {"type": "integer", "format": "int32"},
            },
        },
        "APIResourceList": {
            "type": "object",
            "required": ["groupVersion", "resources"],
            "properties": {
                "kind": {"type": "string"},
                "apiVersion": {"type": "string"},
                "groupVersion": {"type": "string"},
                "resources": {"type": "array", "items": {"type": "object"}},
            },
        },
    }


def _operation(operation_id: str, ok: str, *, v3: bool, errors: tuple[str, ...]) -> dict[str, Any]:
    def body(name: str) -> dict[str, Any]:
        ref = {"$ref": f"#/R/{name}"}
        return {"content": {schemas.JSON_TYPE: {"schema": ref}}} if v3 else {"schema": ref}

    responses = {"200": {"description": "OK", **body(ok)}}
    for code in errors:
        responses[code] = {"description": _STATUS_CODES[code], **body("Status")}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [f"externalMetrics_{schemas.VERSION}"],
        "responses": responses,
    }
    if not v3:
        operation["produces"] = [schemas.JSON_TYPE]
        operation["schemes"] = ["https"]
    return operation


def _parameters(*, v3: bool) -> list[dict[str, Any]]:
    def param(name: str, where: str, required: bool, description: str) -> dict[str, Any]:
        schema = {"type": "string", "minLength": 1} if where == "path" else {"type": "string"}
        spec: dict[str, Any] = {"name": name, "in": where, "required": required}
        spec["description"] = description
        spec.update({"schema": schema} if v3 else schema)
        return spec

    return [
        param("namespace", "path", True, "the HPA's namespace"),
        param("metric", "path", True, "the External metric's name"),
        param("labelSelector", "query", False, "selects the metric's series"),
    ]


def document(*, v3: bool) -> dict[str, Any]:
    """The Swagger 2.0 (``v3=False``) or OpenAPI 3.0 document of the group version."""
    auth_errors = ("401", "403")
    paths = {
        schemas.PREFIX: {
            "get": _operation(
                "getExternalMetricsAPIResources", "APIResourceList", v3=v3, errors=auth_errors
            )
        },
        schemas.PREFIX + "/namespaces/{namespace}/{metric}": {
            "parameters": _parameters(v3=v3),
            "get": _operation(
                "listNamespacedExternalMetricValue",
                "ExternalMetricValueList",
                v3=v3,
                errors=("400", *auth_errors, "404", "503"),
            ),
        },
    }
    info = {"title": "Podscale external metrics", "version": __version__}
    definitions = _definitions()
    where = "#/components/schemas/" if v3 else "#/definitions/"
    paths, definitions = _refs(paths, where), _refs(definitions, where)
    if v3:
        return {
            "openapi": "3.0.0",
            "info": info,
            "paths": paths,
            "components": {"schemas": definitions},
        }
    return {"swagger": "2.0", "info": info, "paths": paths, "definitions": definitions}


def _refs(node: Any, where: str) -> Any:
    """``node`` with every ``#/R/Name`` reference pointed at ``where`` + ``Name``."""
    if isinstance(node, dict):
        return {k: _refs(v, where) for k, v in node.items()}
    if isinstance(node, list):
        return [_refs(v, where) for v in node]
    if isinstance(node, str) and node.startswith("#/R/"):
        return where + node.removeprefix("#/R/")
    return node


@cache
def v2_body() -> bytes:
    return schemas.dumps(document(v3=False))


@cache
def v3_body() -> bytes:
    return schemas.dumps(document(v3=True))


@cache
def v3_root() -> bytes:
    digest = hashlib.sha512(v3_body()).hexdigest().upper()
    relative = f"{V3_PATH}?hash={digest}"
    return schemas.dumps(
        {"paths": {V3_PATH.removeprefix("/openapi/v3/"): {"serverRelativeURL": relative}}}
    )
