"""Who is calling, and may they: the delegated authn/authz of an aggregated API server.

Authentication, first success wins (the Go delegating authenticator's order):

1. a TLS client certificate that verified against the request-header (front-proxy) CA
   (the only CA the serving socket trusts, see :mod:`autoscaler.adapter.tls`) and whose
   CN is an allowed name: the user is ``X-Remote-User``, the groups every
   ``X-Remote-Group`` line, extras ``X-Remote-Extra-<key>``. Without such a certificate
   these headers are removed, never trusted;
2. ``Authorization: Bearer`` checked with a TokenReview (answers cached briefly);
3. otherwise nobody: 401 (only ``/healthz``, ``/livez``, ``/readyz`` are open).

Authorization: ``system:masters`` passes (the aggregator's availability probe); anyone
else needs a SubjectAccessReview, cached for ``cache_ttl`` seconds per user and
attributes. Reading a metric is verb ``list`` on the metric's name as a resource of
``external.metrics.k8s.io``; other paths are non-resource ``get``. ``insecure_dev``
skips all of it, for a laptop; the command logs that loudly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import unquote

from autoscaler.adapter import schemas

log = logging.getLogger("autoscaler.adapter")

OPEN_PATHS: Final = frozenset({"/healthz", "/livez", "/readyz"})
_REMOTE: Final = b"x-remote-"
_CACHE_LIMIT: Final = 10_000

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


class ReviewError(Exception):
    """The Kubernetes API could not answer a review; one line."""


class Reviewer(Protocol):
    """TokenReview and SubjectAccessReview; blocking (called from a worker thread)."""

    def review_token(self, token: str) -> User | None: ...

    def review_access(self, user: User, attributes: dict[str, Any]) -> bool: ...


@dataclass(frozen=True, slots=True)
class AuthSettings:
    allowed_names: frozenset[str] = frozenset()  # empty: any CN the front-proxy CA signed
    insecure_dev: bool = False
    cache_ttl: float = 10.0


@dataclass(slots=True)
class _Memo:
    """A small time-bounded cache of review answers."""

    ttl: float
    items: dict[Any, tuple[float, Any]] = field(default_factory=dict)

    def get(self, key: Any) -> tuple[bool, Any]:
        found = self.items.get(key)
        if found is None or found[0] < time.monotonic():
            return False, None
        return True, found[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self.items) >= _CACHE_LIMIT:
            self.items.clear()
        self.items[key] = (time.monotonic() + self.ttl, value)


class AuthMiddleware:
    """Pure ASGI middleware (no per-request task or body buffering, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, *, settings: AuthSettings, reviewer: Reviewer | None) -> None:
        self.app = app
        self.settings = settings
        self.reviewer = reviewer
        self._tokens = _Memo(settings.cache_ttl)
        self._access = _Memo(settings.cache_ttl)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self.settings.insecure_dev:
            await self.app(scope, receive, send)
            return
        try:
            user = await self.authenticate(scope)
            if user is None:
                await _reply(send, 401, schemas.status(401, "Unauthorized"))
                return
            attributes = request_attributes(scope)
            if not await self.authorize(user, attributes):
                await _reply(send, 403, schemas.status(403, *_forbidden(user, attributes)))
                return
        except ReviewError as exc:
            log.warning("adapter: %s", exc)
            await _reply(send, 503, schemas.status(503, f"cannot check the caller: {exc}"))
            return
        scope["podscale.user"] = user
        await self.app(scope, receive, send)

    async def authenticate(self, scope: Scope) -> User | None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        tls = scope.get("extensions", {}).get("tls", {})
        common_name = tls.get("client_cert_name")
        allowed = self.settings.allowed_names
        if common_name is not None and (not allowed or common_name in allowed):
            user = _front_proxy_user(headers)
            if user is not None:
                return user
        scope["headers"] = [(k, v) for k, v in headers if not k.startswith(_REMOTE)]
        token = _bearer(headers)
        if token is None or self.reviewer is None:
            return None
        key = hashlib.sha256(token.encode()).digest()
        hit, cached = self._tokens.get(key)
        if not hit:
            cached = await asyncio.to_thread(self.reviewer.review_token, token)
            self._tokens.put(key, cached)
        found: User | None = cached
        return found

    async def authorize(self, user: User, attributes: dict[str, Any]) -> bool:
        if "system:masters" in user.groups:
            return True
        if self.reviewer is None:
            return False
        key = (user, repr(sorted(attributes.items())))
        hit, cached = self._access.get(key)
        if not hit:
            cached = await asyncio.to_thread(self.reviewer.review_access, user, attributes)
            self._access.put(key, cached)
        return bool(cached)


def request_attributes(scope: Scope) -> dict[str, Any]:
    """SubjectAccessReview attributes of a GET (``resourceAttributes`` or non-resource)."""
    path: str = scope["path"]
    if path.startswith(schemas.PREFIX + "/namespaces/"):
        parts = path.removeprefix(schemas.PREFIX + "/namespaces/").split("/")
        if len(parts) == 2 and all(parts):
            return {
                "resourceAttributes": {
                    "namespace": parts[0],
                    "verb": "list",
                    "group": schemas.GROUP,
                    "version": schemas.VERSION,
                    "resource": parts[1],
                }
            }
    return {"nonResourceAttributes": {"path": path, "verb": "get"}}


def _front_proxy_user(headers: list[tuple[bytes, bytes]]) -> User | None:
    name = next((v.decode("latin-1") for k, v in headers if k == b"x-remote-user" and v), None)
    if name is None:
        return None
    groups = [v.decode("latin-1") for k, v in headers if k == b"x-remote-group"]
    uid = next((v.decode("latin-1") for k, v in headers if k == b"x-remote-uid"), "")
    extra: dict[str, list[str]] = {}
    for k, v in headers:
        if k.startswith(b"x-remote-extra-"):
            extra_key = unquote(k.removeprefix(b"x-remote-extra-").decode("latin-1")).lower()
            extra.setdefault(extra_key, []).append(v.decode("latin-1"))
    return User(
        name=name,
        groups=_authenticated(groups),
        uid=uid,
        extra=tuple((k, tuple(v)) for k, v in sorted(extra.items())),
    )


def _authenticated(groups: list[str]) -> tuple[str, ...]:
    """Every authenticated user is in ``system:authenticated`` (Go's AuthenticatedGroupAdder)."""
    return tuple(groups) if "system:authenticated" in groups else (*groups, "system:authenticated")


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _forbidden(user: User, attributes: dict[str, Any]) -> tuple[str]:
    resource = attributes.get("resourceAttributes")
    if resource is None:
        path = attributes["nonResourceAttributes"]["path"]
        return (f'forbidden: User "{user.name}" cannot get path "{path}"',)
    name = resource["resource"]
    return (
        f'{name}.{schemas.GROUP} is forbidden: User "{user.name}" cannot list resource '
        f'"{name}" in API group "{schemas.GROUP}" in the namespace "{resource["namespace"]}"',
    )


async def _reply(send: Send, code: int, body: bytes) -> None:
    headers = [
        (b"content-type", schemas.JSON_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class KubeReviewer:
    """Reviews through the Kubernetes API with the adapter's own credentials."""

    def __init__(self, api: Any) -> None:
        self.api = api  # autoscaler.kube.api.Api

    def review_token(self, token: str) -> User | None:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        status = self._post("/apis/authentication.k8s.io/v1/tokenreviews", body)
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        extra = user.get("extra") or {}
        return User(
            name=str(user.get("username", "")),
            groups=_authenticated(list(user.get("groups") or [])),
            uid=str(user.get("uid", "")),
            extra=tuple((str(k), tuple(v)) for k, v in sorted(extra.items())),
        )

    def review_access(self, user: User, attributes: dict[str, Any]) -> bool:
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups), **attributes}
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        status = self._post("/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
        return bool(status.get("allowed"))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        from autoscaler.ports import LoopError

        try:
            answer = self.api.call("POST", path, body=body)
        except LoopError as exc:
            raise ReviewError(str(exc)) from None
        status: dict[str, Any] = answer.get("status") or {}
        return status
