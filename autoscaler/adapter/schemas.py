"""The JSON documents of ``external.metrics.k8s.io/v1beta1``, byte for byte as Go emits them.

Plain dictionaries serialized once: the shapes are fixed by the Kubernetes API (field
order, ``"metadata": {}`` on lists, no ``kind`` on list items, quantities as canonical
strings, whole-second RFC 3339 UTC timestamps), and a value body is built once per
refresh, not per request, so a cached answer is a lookup plus a socket write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from autoscaler import __version__
from autoscaler.core.quantity import format_milli

GROUP: Final = "external.metrics.k8s.io"
VERSION: Final = "v1beta1"
GROUP_VERSION: Final = f"{GROUP}/{VERSION}"
PREFIX: Final = f"/apis/{GROUP_VERSION}"
JSON_TYPE: Final = "application/json"

_REASONS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    413: "RequestEntityTooLarge",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def dumps(document: Mapping[str, Any]) -> bytes:
    """Compact JSON, as the Go encoder writes it (no spaces, UTF-8)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(seconds: float) -> str:
    """``metav1.Time``: UTC, whole seconds, ``Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def status(code: int, message: str, *, details: Mapping[str, Any] | None = None) -> bytes:
    """A ``metav1.Status`` failure body for HTTP ``code``."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": _one_line(message),
        "reason": _REASONS.get(code, "InternalError" if code >= 500 else "BadRequest"),
    }
    if details:
        body["details"] = dict(details)
    body["code"] = code
    return dumps(body)


def _one_line(text: str) -> str:
    """``text`` with control characters escaped: a message echoing a URL stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def value_list(
    metric: str, series: Iterable[tuple[Mapping[str, str], int]], *, timestamp: float
) -> bytes:
    """An ``ExternalMetricValueList``: one item per (labels, milli-value) series."""
    stamp = rfc3339(timestamp)
    items = [
        {
            "metricName": metric,
            "metricLabels": dict(labels),
            "timestamp": stamp,
            "value": format_milli(milli),
        }
        for labels, milli in series
    ]
    return dumps(
        {
            "kind": "ExternalMetricValueList",
            "apiVersion": GROUP_VERSION,
            "metadata": {},
            "items": items,
        }
    )


def resource_list(names: Iterable[str]) -> bytes:
    """The ``APIResourceList`` of the group version: one resource per metric name."""
    resources = [
        {
            "name": name,
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }
        for name in names
    ]
    if not resources:  # an empty list makes kubectl warn on every call (reference §0.6)
        resources = [
            {
                "name": "externalmetrics",
                "singularName": "",
                "namespaced": True,
                "kind": "ExternalMetricValueList",
                "verbs": ["get"],
            }
        ]
    return dumps(
        {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": GROUP_VERSION,
            "resources": resources,
        }
    )


def _group() -> dict[str, Any]:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def api_group() -> bytes:
    return dumps({"kind": "APIGroup", "apiVersion": "v1", **_group()})


def api_group_list() -> bytes:
    return dumps({"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]})


def version_info() -> bytes:
    """``version.Info``, what ``kubectl version`` and client-go's pre-flight read."""
    return dumps(
        {
            "major": "0",
            "minor": "1",
            "gitVersion": f"v{__version__}",
            "gitCommit": "",
            "gitTreeState": "",
            "buildDate": "",
            "goVersion": "",
            "compiler": "cpython",
            "platform": "linux/amd64",
        }
    )
