"""``create_app``: the external metrics API server as a FastAPI application.

Collaborators come in as arguments and live on ``app.state`` (no module-level app, no
import-time side effects), so tests build an app around a fake Prometheus, a fake
reviewer, or none. FastAPI's own OpenAPI and docs routes are off: the aggregator must
find Swagger 2.0 at ``/openapi/v2``, not FastAPI's 3.1 document (see
:mod:`autoscaler.adapter.openapi`). Trailing-slash redirects are off too (the aggregator
refuses redirects), and every error, including an unexpected one, is a one-line Status.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from autoscaler.adapter import schemas
from autoscaler.adapter.auth import AuthMiddleware, AuthSettings, Reviewer
from autoscaler.adapter.cache import MetricCache
from autoscaler.adapter.fastpath import CachedValues
from autoscaler.adapter.routes import router
from autoscaler.adapter.settings import AdapterSettings
from autoscaler.adapter.upstream import Upstream

log = logging.getLogger("autoscaler.adapter")


def create_app(
    settings: AdapterSettings,
    *,
    cache: MetricCache,
    auth: AuthSettings,
    reviewer: Reviewer | None = None,
    upstream: Upstream | None = None,
) -> FastAPI:
    """The adapter application; the lifespan starts the refresher and upstream discovery."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cache.start()
        if upstream is not None:
            upstream.start()
        app.state.started = True
        try:
            yield
        finally:
            app.state.started = False
            await cache.stop()
            if upstream is not None:
                await upstream.close()

    app = FastAPI(
        title="podscale adapter",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.cache = cache
    app.state.upstream = upstream
    app.state.started = False
    app.include_router(router)
    app.add_middleware(CachedValues, settings=settings, cache=cache)  # inside the auth check
    app.add_middleware(AuthMiddleware, settings=auth, reviewer=reviewer)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
    return app


def _status(code: int, message: str) -> Response:
    return Response(schemas.status(code, message), status_code=code, media_type=schemas.JSON_TYPE)


async def _http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    if code == 404:
        return _status(404, "the server could not find the requested resource")
    if code == 405:
        return _status(405, f"the server does not allow this method on {request.url.path}")
    return _status(code, str(getattr(exc, "detail", "error")))


async def _invalid_request(request: Request, exc: Exception) -> Response:
    return _status(400, "the request is not valid for this path")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error(
        "adapter: %s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc
    )
    return _status(500, "Internal error occurred: the adapter failed to answer")
