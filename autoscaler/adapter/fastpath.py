"""The hot path: a cached value answered before FastAPI's routing, as raw ASGI.

The HPA controller asks the same few ``(namespace, metric, selector)`` keys over and
over; once a key has a fresh value, answering it is a dictionary lookup and a socket
write, and FastAPI's router, dependency resolution and response classes would cost
several times that. Anything else (a new key, an error, a 503, another path) falls
through to the FastAPI routes, which stay the single definition of the API's behaviour
(``tests/adapter/test_adapter_api.py`` runs every case through both).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final
from urllib.parse import parse_qs

from autoscaler.adapter import schemas
from autoscaler.adapter.auth import ASGIApp, Receive, Scope, Send
from autoscaler.adapter.cache import Key, MetricCache
from autoscaler.adapter.settings import AdapterSettings
from autoscaler.selectors import SelectorError, canonical, parse_selector

_VALUES: Final = schemas.PREFIX + "/namespaces/"
_HEADERS: Final = [(b"content-type", schemas.JSON_TYPE.encode())]


class CachedValues:
    """Pure ASGI middleware serving fresh cached values; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, *, settings: AdapterSettings, cache: MetricCache) -> None:
        self.app, self.settings, self.cache = app, settings, cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._cached(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _cached(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or not path.startswith(_VALUES) or self.settings.direct:
            return None
        namespace, _, metric = path.removeprefix(_VALUES).partition("/")
        if "/" in metric or metric not in self.settings.external:
            return None
        selector = _selector(scope["query_string"])
        if selector is None:
            return None
        entry = self.cache.entries.get(Key(namespace, metric, selector))
        if entry is None:
            return None
        return self.cache.fresh_body(entry)


@lru_cache(maxsize=4096)
def _selector(query: bytes) -> str | None:
    """The canonical selector of a query string; None when it must go the slow way."""
    try:
        values = parse_qs(query.decode("latin-1"), keep_blank_values=True).get(
            "labelSelector", [""]
        )
        return canonical(parse_selector(values[-1]))
    except (SelectorError, UnicodeDecodeError, ValueError):
        return None
