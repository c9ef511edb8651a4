"""The HTTP routes: discovery, metric values, OpenAPI, health and version.

Every answer is JSON with ``Content-Type: application/json`` whatever ``Accept`` says
(client-go decodes by the response type), and every error is a ``metav1.Status``.
Discovery comes from memory, so the aggregator's availability probe answers in
microseconds even when Prometheus is down.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response

from autoscaler.adapter import openapi, schemas
from autoscaler.adapter.cache import Answer, Key, MetricCache
from autoscaler.adapter.settings import AdapterSettings
from autoscaler.adapter.upstream import Upstream
from autoscaler.metrics import promql
from autoscaler.selectors import Requirement, SelectorError, canonical, parse_selector

_NAMESPACE: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


def get_settings(request: Request) -> AdapterSettings:
    settings: AdapterSettings = request.app.state.settings
    return settings


def get_cache(request: Request) -> MetricCache:
    cache: MetricCache = request.app.state.cache
    return cache


def get_upstream(request: Request) -> Upstream | None:
    upstream: Upstream | None = request.app.state.upstream
    return upstream


SettingsDep = Annotated[AdapterSettings, Depends(get_settings)]
CacheDep = Annotated[MetricCache, Depends(get_cache)]
UpstreamDep = Annotated["Upstream | None", Depends(get_upstream)]

router = APIRouter()


def json_response(body: bytes, code: int = 200) -> Response:
    return Response(content=body, status_code=code, media_type=schemas.JSON_TYPE)


@router.get("/healthz", include_in_schema=False)
@router.get("/livez", include_in_schema=False)
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> PlainTextResponse:
    """Ready once the lifespan started the refresher (and the certificates loaded)."""
    if not getattr(request.app.state, "started", False):
        return PlainTextResponse("not ready: starting", status_code=503)
    return PlainTextResponse("ok")


@router.get("/version", include_in_schema=False)
def version() -> Response:
    return json_response(schemas.version_info())


@router.get("/apis", include_in_schema=False)
def api_group_list() -> Response:
    return json_response(schemas.api_group_list())


@router.get(f"/apis/{schemas.GROUP}", include_in_schema=False)
def api_group() -> Response:
    return json_response(schemas.api_group())


@router.get(schemas.PREFIX, include_in_schema=False)
def resource_list(settings: SettingsDep, upstream: UpstreamDep) -> Response:
    names = list(settings.external)
    if upstream is not None:
        names += [n for n in upstream.resource_names() if n not in settings.external]
    return json_response(schemas.resource_list(names))


@router.get("/openapi/v2", include_in_schema=False)
def openapi_v2() -> Response:
    return json_response(openapi.v2_body())


@router.get("/openapi/v3", include_in_schema=False)
def openapi_v3_root() -> Response:
    return json_response(openapi.v3_root())


@router.get(openapi.V3_PATH, include_in_schema=False)
def openapi_v3() -> Response:
    return json_response(openapi.v3_body())


@router.get(schemas.PREFIX + "/namespaces/{namespace}/{metric}", include_in_schema=False)
async def metric_value(
    namespace: str,
    metric: str,
    request: Request,
    settings: SettingsDep,
    cache: CacheDep,
    upstream: UpstreamDep,
) -> Response:
    """An ``ExternalMetricValueList`` for ``metric`` in ``namespace``, from the cache."""
    declaration = settings.external.get(metric)
    if not _NAMESPACE.match(namespace) or len(namespace) > 63 or not settings.serves(namespace):
        message = f"namespace {namespace} is not served by this adapter"
        return json_response(schemas.status(404, message, details=_details(metric)), 404)
    if declaration is None:
        if upstream is not None:
            code, body = await upstream.forward(metric, request)
            return json_response(body, code)
        message = f"the server could not find the metric {metric} for namespace {namespace}"
        return json_response(schemas.status(404, message, details=_details(metric)), 404)
    try:
        requirements, selector = _selector(request.query_params.get("labelSelector", ""))
        key = Key(namespace, metric, selector)
        if key not in cache.entries:  # checked once per key: it renders the query
            declaration.template.render(namespace=namespace, selector=requirements)
    except (SelectorError, promql.PromQLError) as exc:
        return json_response(schemas.status(400, str(exc)), 400)
    if settings.direct:
        answer: Answer = await cache.answer_direct(key, declaration, requirements)
    else:
        answer = await cache.answer(key, declaration, requirements)
    return json_response(answer.body, answer.code)


@lru_cache(maxsize=4096)
def _selector(text: str) -> tuple[tuple[Requirement, ...], str]:
    """Parsed and canonical selector; cached since the HPA repeats the same few."""
    requirements = parse_selector(text)
    return requirements, canonical(requirements)


def _details(metric: str) -> dict[str, str]:
    return {"name": metric, "group": schemas.GROUP}
